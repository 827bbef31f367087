# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables here are used by the sourcing scripts
# Shared settings and helpers for deploy/dev/stack.sh, deploy/dev/deps.sh and
# tests/run.sh. Source it; it starts nothing and only defines variables and
# functions. Every setting comes from the environment with a default, so one
# machine can run the dev stack (.run/) and the test stack (.run-test/) side
# by side on different ports.

GAVEL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---- messages ----------------------------------------------------------------
GAVEL_LOG_TAG=${GAVEL_LOG_TAG:-gavel}
say()  { printf '%s: %s\n' "$GAVEL_LOG_TAG" "$*"; }
warn() { printf '%s: warning: %s\n' "$GAVEL_LOG_TAG" "$*" >&2; }
die()  { printf '%s: error: %s\n' "$GAVEL_LOG_TAG" "$*" >&2; exit 1; }

# ---- settings ------------------------------------------------------------------
# Relative paths are taken from the caller's working directory, then made
# absolute so pidfiles, sockets and the env printed for daemons never depend
# on where a command runs.
abs_path() { realpath -m -- "$1"; }

gavel_load_settings() {
    RUN_DIR=$(abs_path "${RUN_DIR:-$GAVEL_ROOT/.run}")
    BUILD=$(abs_path "${BUILD:-$GAVEL_ROOT/build}")
    GAVEL_PG_PORT=${GAVEL_PG_PORT:-55432}
    GAVEL_REDIS_PORT=${GAVEL_REDIS_PORT:-56379}
    GAVEL_PORT_BASE_GRPC=${GAVEL_PORT_BASE_GRPC:-50050}
    GAVEL_PORT_BASE_METRICS=${GAVEL_PORT_BASE_METRICS:-9100}
    GAVEL_GATEWAY_PORT=${GAVEL_GATEWAY_PORT:-8080}
    GAVEL_SMTP_PORT=${GAVEL_SMTP_PORT:-$((GAVEL_PORT_BASE_GRPC + 25))}
    # The card provider simulator (deploy/dev/provider_sim.py): 51026 by default.
    GAVEL_PROVIDER_PORT=${GAVEL_PROVIDER_PORT:-$((GAVEL_PORT_BASE_GRPC + 976))}
    # The venue video ingest (nginx with the RTMP module, docs/streaming.md):
    # RTMP for encoders (50985), the streaming daemon's loopback hook for
    # nginx-rtmp's callbacks (50986), nginx serving the HLS directory
    # directly, the benchmark's baseline (50987), and nginx-rtmp's control
    # module, which drops a publisher whose key was revoked (50988).
    GAVEL_RTMP_PORT=${GAVEL_RTMP_PORT:-$((GAVEL_PORT_BASE_GRPC + 935))}
    GAVEL_STREAMING_HOOK_PORT=${GAVEL_STREAMING_HOOK_PORT:-$((GAVEL_PORT_BASE_GRPC + 936))}
    GAVEL_NGINX_HLS_PORT=${GAVEL_NGINX_HLS_PORT:-$((GAVEL_PORT_BASE_GRPC + 937))}
    GAVEL_NGINX_CONTROL_PORT=${GAVEL_NGINX_CONTROL_PORT:-$((GAVEL_PORT_BASE_GRPC + 938))}
    # Target HLS segment length in whole seconds (the encoder's keyframe
    # interval should match: segments are cut at keyframes).
    GAVEL_HLS_SEGMENT_S=${GAVEL_HLS_SEGMENT_S:-1}
    [[ $GAVEL_HLS_SEGMENT_S =~ ^[1-9]$ ]] || die "GAVEL_HLS_SEGMENT_S='$GAVEL_HLS_SEGMENT_S' must be 1..9 seconds"
    GAVEL_PG_BIN=${GAVEL_PG_BIN:-/usr/lib/postgresql/15/bin}
    GAVEL_PG_SHARED_BUFFERS=${GAVEL_PG_SHARED_BUFFERS:-512MB}
    [[ $GAVEL_PG_SHARED_BUFFERS =~ ^[1-9][0-9]*(kB|MB|GB)$ ]] ||
        die "GAVEL_PG_SHARED_BUFFERS='$GAVEL_PG_SHARED_BUFFERS' must be a size such as 512MB"
    local v
    for v in GAVEL_PG_PORT GAVEL_REDIS_PORT GAVEL_PORT_BASE_GRPC \
             GAVEL_PORT_BASE_METRICS GAVEL_GATEWAY_PORT GAVEL_SMTP_PORT GAVEL_PROVIDER_PORT \
             GAVEL_RTMP_PORT GAVEL_STREAMING_HOOK_PORT GAVEL_NGINX_HLS_PORT GAVEL_NGINX_CONTROL_PORT; do
        if ! [[ ${!v} =~ ^[0-9]+$ ]] || (( ${!v} < 1 || ${!v} > 65535 )); then
            die "$v='${!v}' is not a port number"
        fi
    done
    export RUN_DIR BUILD GAVEL_PG_PORT GAVEL_REDIS_PORT GAVEL_PORT_BASE_GRPC \
           GAVEL_PORT_BASE_METRICS GAVEL_GATEWAY_PORT GAVEL_SMTP_PORT GAVEL_PROVIDER_PORT \
           GAVEL_RTMP_PORT GAVEL_STREAMING_HOOK_PORT GAVEL_NGINX_HLS_PORT GAVEL_NGINX_CONTROL_PORT \
           GAVEL_HLS_SEGMENT_S
    LOG_DIR=$RUN_DIR/logs
    KEY_DIR=$RUN_DIR/keys
    PG_DIR=$RUN_DIR/pg
    PG_DATA=$PG_DIR/data
    REDIS_DIR=$RUN_DIR/redis
    REDIS_PIDFILE=$REDIS_DIR/redis.pid
    BROKER_PIDFILE=$RUN_DIR/devbroker.pid
    BOOTSTRAP_FILE=$RUN_DIR/kafka.bootstrap
    ADMIN_ENV=$RUN_DIR/admin.env
    MAIL_DIR=$RUN_DIR/mail
    SMTP_PIDFILE=$RUN_DIR/smtp-sink.pid
    BIDDER_PIDFILE=$RUN_DIR/demo-bidder.pid
    PROVIDER_PIDFILE=$RUN_DIR/provider-sim.pid
    NGINX_DIR=$RUN_DIR/nginx
    NGINX_PIDFILE=$NGINX_DIR/nginx.pid
    LIVE_DIR=$RUN_DIR/live
}

# ---- services: the one place that numbers them ---------------------------------
# Service n listens for gRPC on GAVEL_PORT_BASE_GRPC+n and serves /metrics and
# /healthz on GAVEL_PORT_BASE_METRICS+n. The gateway is n=8: its gRPC port
# (health only) and metrics at base+8; it serves HTTP on GAVEL_GATEWAY_PORT.
GAVEL_GRPC_SERVICES=(users auctions bids search payments notifications streaming)
# Start order: users first (everyone needs its keys and wallet), gateway last.
GAVEL_DAEMONS=("${GAVEL_GRPC_SERVICES[@]}" gateway)
# One database per stateful service, plus gavel_test for unit tests.
GAVEL_DATABASES=(gavel_users gavel_auctions gavel_bids gavel_search
                 gavel_payments gavel_notifications gavel_streaming gavel_test)

svc_index() {
    case $1 in
        users) echo 1 ;; auctions) echo 2 ;; bids) echo 3 ;;
        search) echo 4 ;; payments) echo 5 ;; notifications) echo 6 ;;
        streaming) echo 7 ;; gateway) echo 8 ;;
        *) return 1 ;;
    esac
}
is_daemon() { svc_index "$1" >/dev/null 2>&1; }
svc_grpc_port()    { echo $(( GAVEL_PORT_BASE_GRPC + $(svc_index "$1") )); }
svc_metrics_port() { echo $(( GAVEL_PORT_BASE_METRICS + $(svc_index "$1") )); }
svc_has_db()       { [[ " ${GAVEL_DATABASES[*]} " == *" gavel_$1 "* ]]; }

# ---- processes -----------------------------------------------------------------
# True when pid runs (a zombie waiting for its reaper counts as gone: the
# daemons are re-parented to init, which may reap late).
proc_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
}

# Prints the pid recorded in a pidfile when that process is alive and its
# command line contains `name` (guards against a recycled pid); else fails.
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -r $pidfile ]] || return 1
    read -r pid <"$pidfile" 2>/dev/null || true
    [[ ${pid:-} =~ ^[0-9]+$ ]] || return 1
    proc_alive "$pid" || return 1
    if [[ -r /proc/$pid/cmdline ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$name" || return 1
    fi
    echo "$pid"
}

# Waits until none of the pids is alive, for up to `secs` seconds.
wait_pids_gone() {
    local secs=$1; shift
    local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 )) p alive
    while :; do
        alive=0
        for p in "$@"; do proc_alive "$p" && alive=1; done
        (( alive )) || return 0
        (( $(date +%s%N) / 1000000 >= deadline )) && return 1
        sleep 0.1
    done
}

# True when something accepts TCP connections on 127.0.0.1:port.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Our fixed ports lie inside Linux's ephemeral range (32768-60999): a busy
# machine can hand one to an outgoing connection as its source port, and
# then our listener cannot bind it. As root, reserve the stack's ports so
# the kernel never picks them for outgoing connections (the setting lasts
# until reboot and only adds to what is reserved already).
reserve_ports() {
    local f=/proc/sys/net/ipv4/ip_local_reserved_ports
    [[ $(id -u) -eq 0 && -w $f ]] || return 0
    local want="$GAVEL_PG_PORT,$GAVEL_REDIS_PORT,$((GAVEL_PORT_BASE_GRPC + 1))-$((GAVEL_PORT_BASE_GRPC + 8))"
    want+=",$((GAVEL_PORT_BASE_METRICS + 1))-$((GAVEL_PORT_BASE_METRICS + 8)),$GAVEL_GATEWAY_PORT"
    want+=",$GAVEL_SMTP_PORT,$GAVEL_PROVIDER_PORT"
    want+=",$GAVEL_RTMP_PORT,$GAVEL_STREAMING_HOOK_PORT,$GAVEL_NGINX_HLS_PORT,$GAVEL_NGINX_CONTROL_PORT"
    # tests start a second instance of a daemon 100 ports up
    want+=",$((GAVEL_PORT_BASE_GRPC + 101))-$((GAVEL_PORT_BASE_GRPC + 108))"
    want+=",$((GAVEL_PORT_BASE_METRICS + 101))-$((GAVEL_PORT_BASE_METRICS + 108))"
    reserve_port_list "$want"
}

# Adds the comma list of ports and ranges $1 to the kernel's reserved
# ports (as root; otherwise nothing). The file is one list that each
# writer replaces, so stacks starting side by side (make test starts
# three) would drop each other's ports between their read and their write:
# the read-modify-write holds a lock shared by every stack on the machine.
reserve_port_list() {
    local f=/proc/sys/net/ipv4/ip_local_reserved_ports lock=/tmp/gavel-reserved-ports.lock have
    [[ $(id -u) -eq 0 && -w $f ]] || return 0
    {
        flock -w 10 9 || true
        have=$(cat "$f")
        echo "${have:+$have,}$1" >"$f" 2>/dev/null || true
    } 9>>"$lock"
}
