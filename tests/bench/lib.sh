# tests/bench/lib.sh: shell helpers every bench script sources (run.sh,
# gateway.sh, search.sh, notifications.sh, payments.sh). Needs BIN (the
# build's bin/); start_daemon also RUN_DIR and an array pids.

# Polls a daemon's gRPC health every 10 ms until it serves; gives up after 60 s.
wait_healthy() {
    for _ in $(seq 6000); do
        "$BIN/gavel-health" "$1" >/dev/null 2>&1 && return 0
        sleep 0.01
    done
    echo "no healthy daemon at $1 after 60 s" >&2
    return 1
}

# The value of key $1 in a "k=v k=v" line $2 (the first one).
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }

# $1 / $2 to two decimals, "-" when $2 is 0.
ratio() { awk "BEGIN{b=$2; if (b > 0) printf \"%.2f\", $1/b; else print \"-\"}"; }

# "met"/"MISSED": $1 compared with $2 by $3 (ge or le).
goal() { awk "BEGIN{a=$1; b=$2; ok = \"$3\" == \"ge\" ? a >= b : a <= b; print ok ? \"met\" : \"MISSED\"}"; }

# Waits (at most $1 seconds, default 5: the machine may be shared) until it
# is at least 80% idle over one second, so what the step before left
# running (autovacuum after a write load, a daemon's start-up work) is not
# measured with the next step. Prints how long it waited when $2 is "say".
settle() {
    local max=${1:-5} waited=0 a b
    while ((waited < max)); do
        read -r -a a < <(head -1 /proc/stat)
        sleep 1
        read -r -a b < <(head -1 /proc/stat)
        local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
        for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
        waited=$((waited + 1))
        ((total > 0 && (total - idle) * 5 <= total)) && break
    done
    [[ ${2:-} == say ]] && echo "   (settled after ${waited}s)"
    return 0
}

# Starts daemon $1 in the background with its stack environment plus the
# VAR=value words after it; its pid is appended to pids, its log is
# $RUN_DIR/logs/<svc>.log.
start_daemon() {
    local svc=$1 env_lines
    shift
    mapfile -t env_lines < <(deploy/dev/stack.sh env "$svc")
    env "${env_lines[@]}" "$@" "$BIN/gavel-$svc" 2>>"$RUN_DIR/logs/$svc.log" &
    pids+=($!)
}

# The bench stack's settings (make bench's ports and .run-bench/), each
# kept when the environment sets it already: a bench script run alone.
bench_settings() {
    export RUN_DIR=${RUN_DIR:-$ROOT/.run-bench} BUILD=${BUILD:-$ROOT/build}
    export GAVEL_PG_PORT=${GAVEL_PG_PORT:-15682} GAVEL_REDIS_PORT=${GAVEL_REDIS_PORT:-15689}
    export GAVEL_PORT_BASE_GRPC=${GAVEL_PORT_BASE_GRPC:-16550}
    export GAVEL_PORT_BASE_METRICS=${GAVEL_PORT_BASE_METRICS:-9600}
    export GAVEL_GATEWAY_PORT=${GAVEL_GATEWAY_PORT:-8580}
}

# Stops the given pids (SIGTERM) and reaps them; a daemon's status after
# SIGTERM is 143, which must not become the script's.
stop_pids() {
    local p
    for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

# Unless run.sh runs the stack (GAVEL_BENCH_STACK_UP=1): a fresh bench
# stack's infrastructure and the users daemon (pid in pids).
bench_own_stack() {
    [[ ${GAVEL_BENCH_STACK_UP:-0} == 1 ]] && return 0
    deploy/dev/stack.sh stop >/dev/null 2>&1 || true
    rm -rf "$RUN_DIR"
    deploy/dev/stack.sh infra >/dev/null
    mkdir -p "$RUN_DIR/logs"
    start_daemon users
    wait_healthy "127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))"
}
