#!/usr/bin/env bash
# The embedded dev stack: a private PostgreSQL cluster, Redis and the
# Kafka-protocol dev broker under $RUN_DIR (default .run/), then every daemon
# that has been built. Everything binds 127.0.0.1.
#
#   stack.sh infra       PostgreSQL, Redis, dev broker (plus keys, admin.env)
#   stack.sh start       infra + every built daemon + admin + demo data + summary
#   stack.sh stop        stop everything this RUN_DIR started
#   stack.sh status      one line per component
#   stack.sh ingest      (re)start only the video ingest (nginx + RTMP), with
#                        its config generated again from the settings
#   stack.sh ingest-stop stop only the ingest (and its ffmpeg processes)
#   stack.sh daemon SVC [I]  (re)start instance I (default 0) of SVC alone
#   stack.sh env SVC [I] the KEY=VALUE environment daemon SVC (instance I,
#                        default 0) runs with, one per line, unquoted (a value
#                        may contain spaces: split each line at the first '=')
#   stack.sh bids-add NAME  one more bids instance NAME (a-z, 0-9, -) with its
#                        own database, on the next free ports; it takes new
#                        lots at once (docs/operations.md)
#
# SCALE=2 (make run SCALE=2): two instances of every daemon (the ingest
# calls streaming's first), bids as two instances with their own
# databases; see scale_* below and docs/operations.md. Remembered in
# $RUN_DIR/scale until `stop`.
#
# Settings (environment, defaults): RUN_DIR=.run BUILD=build
# GAVEL_PG_PORT=55432 GAVEL_REDIS_PORT=56379 GAVEL_PORT_BASE_GRPC=50050
# GAVEL_PORT_BASE_METRICS=9100 GAVEL_GATEWAY_PORT=8080 GAVEL_PG_SHARED_BUFFERS=512MB
# GAVEL_SMTP_PORT=GAVEL_PORT_BASE_GRPC+25 (the mail sink `start` runs, which
# stores every message under $RUN_DIR/mail/). Every command is safe to
# repeat: what already runs is left alone. GAVEL_PROVIDER_PORT=GAVEL_PORT_BASE_GRPC+976
# (51026): the card provider simulator `start` runs for payments.
# The video ingest (docs/streaming.md): GAVEL_RTMP_PORT=base+935,
# GAVEL_STREAMING_HOOK_PORT=base+936, GAVEL_NGINX_HLS_PORT=base+937,
# GAVEL_NGINX_CONTROL_PORT=base+938, GAVEL_HLS_SEGMENT_S=1.
set -euo pipefail

GAVEL_LOG_TAG=stack
# shellcheck source=deploy/dev/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
gavel_load_settings

PG_OS_USER=gavel          # the OS user the cluster runs as when we are root
PG_DB_USER=gavel          # the cluster's superuser role
HEALTH_TIMEOUT=30         # seconds a daemon gets to answer /healthz
STOP_TIMEOUT=10           # seconds between SIGTERM and SIGKILL

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---- helpers ---------------------------------------------------------------------
is_root() { [[ $(id -u) -eq 0 ]]; }

# Runs a command as the cluster's OS user (initdb and pg_ctl refuse root), from
# a directory that user can enter.
as_pg() {
    if is_root; then
        (cd "$PG_DIR" && runuser -u "$PG_OS_USER" -- "$@")
    else
        (cd "$PG_DIR" && "$@")
    fi
}

psql_admin() {
    "$GAVEL_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$GAVEL_PG_PORT" \
        -U "$PG_DB_USER" -d postgres "$@"
}

tail_log() {
    local f=$1
    [[ -f $f ]] || { echo "  (no log at $f)" >&2; return 0; }
    echo "---- last lines of $f ----" >&2
    # Only what the latest start wrote (logs are appended, each start marked).
    awk '/^=== .* start$/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$f" |
        tail -n 40 >&2 || true
    echo "----" >&2
}

# One stack.sh at a time per RUN_DIR. Everything started from here gets 9>&-
# so no daemon inherits (and holds) the lock.
take_lock() {
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/.stack.lock"
    flock -w 300 9 || die "another stack.sh holds $RUN_DIR/.stack.lock"
}

prepare_dirs() {
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$KEY_DIR" "$REDIS_DIR" "$PG_DIR"
    chmod 700 "$KEY_DIR"
}

# ---- keys and admin credentials (generated once; nothing secret in the repo) ----
ensure_keypair() {
    local name=$1 key=$KEY_DIR/$1.key pub=$KEY_DIR/$1.pub
    if [[ ! -s $key ]]; then
        (umask 077 && openssl genpkey -algorithm ED25519 -out "$key.tmp" 2>/dev/null) ||
            die "openssl could not generate an Ed25519 key ($key)"
        mv -f "$key.tmp" "$key"
        rm -f "$pub"
        say "generated $name key pair in $KEY_DIR"
    fi
    chmod 600 "$key"
    if [[ ! -s $pub ]]; then
        openssl pkey -in "$key" -pubout -out "$pub.tmp" 2>/dev/null ||
            die "openssl could not derive the public key of $key"
        chmod 644 "$pub.tmp"
        mv -f "$pub.tmp" "$pub"
    fi
}

# The AES-256 key that seals webhook secrets at rest (notifications).
ensure_webhook_key() {
    local key=$KEY_DIR/webhook.key
    if [[ ! -s $key ]]; then
        (umask 077 && openssl rand -hex 32 >"$key.tmp") ||
            die "openssl could not generate the webhook key ($key)"
        mv -f "$key.tmp" "$key"
    fi
    chmod 600 "$key"
}

# The card provider simulator's API key and webhook secret (payments).
ensure_provider_secrets() {
    local f
    for f in provider.key provider-webhook.secret; do
        [[ -s $KEY_DIR/$f ]] && continue
        (umask 077 && openssl rand -hex 32 >"$KEY_DIR/$f.tmp") ||
            die "openssl could not generate $KEY_DIR/$f"
        mv -f "$KEY_DIR/$f.tmp" "$KEY_DIR/$f"
    done
    chmod 600 "$KEY_DIR/provider.key" "$KEY_DIR/provider-webhook.secret"
}

gen_password() {
    local pw=""
    while :; do
        pw+=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
        if (( ${#pw} >= 20 )); then
            pw=${pw:0:20}
            [[ $pw =~ [0-9] && $pw =~ [a-z] && $pw =~ [A-Z] ]] && break
            pw=""
        fi
    done
    printf '%s' "$pw"
}

ensure_admin_env() {
    [[ -s $ADMIN_ENV ]] && { chmod 600 "$ADMIN_ENV"; return 0; }
    (umask 077 && printf 'GAVEL_ADMIN_EMAIL=%s\nGAVEL_ADMIN_PASSWORD=%s\n' \
        admin@gavel.local "$(gen_password)" >"$ADMIN_ENV.tmp")
    mv -f "$ADMIN_ENV.tmp" "$ADMIN_ENV"
    chmod 600 "$ADMIN_ENV"
    say "admin credentials written to $ADMIN_ENV"
}

# ---- PostgreSQL --------------------------------------------------------------------
pg_pid() {
    local pid
    [[ -r $PG_DATA/postmaster.pid ]] || return 1
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid" || return 1
    echo "$pid"
}

# When root: the unprivileged OS user the cluster runs as, and a check that
# it can reach RUN_DIR through every parent directory.
pg_prepare_user() {
    is_root || return 0
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER" ||
            die "could not create system user $PG_OS_USER"
        say "created system user $PG_OS_USER (runs the dev PostgreSQL cluster)"
    fi
    local d="" part
    IFS=/ read -r -a parts <<<"${RUN_DIR#/}"
    for part in "${parts[@]}"; do
        d+=/$part
        runuser -u "$PG_OS_USER" -- test -x "$d" 2>/dev/null ||
            die "user $PG_OS_USER cannot enter $d, so PostgreSQL cannot live under $RUN_DIR;" \
                "allow it (chmod o+x $d) or set RUN_DIR to a path under a traversable directory"
    done
    chown "$PG_OS_USER:" "$PG_DIR"
    chmod 700 "$PG_DIR"
}

pg_write_conf() {
    local sock="'$PG_DIR'"
    # A Unix socket path longer than ~107 bytes cannot be bound; TCP still works.
    if (( ${#PG_DIR} + 20 > 107 )); then
        warn "$PG_DIR is too long for a Unix socket; PostgreSQL listens on TCP only"
        sock="''"
    fi
    cat >"$PG_DATA/gavel.conf.tmp" <<EOF
# Written by deploy/dev/stack.sh on every start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $GAVEL_PG_PORT
unix_socket_directories = $sock
max_connections = 200
# Durability tests (kill -9, acknowledged == durable) rely on these.
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
# SSD: a random read costs about as much as a sequential one. The daemons'
# keyed batch statements are planned while their tables are still small;
# at the default 4.0 those cached plans scan whole tables once they grow.
random_page_cost = 1.1
# The cluster's own page cache (PostgreSQL's default is 128 MB): the search
# index of 100,000 lots alone is 160 MB, and a search that reads its
# matches from the kernel's cache instead pays a copy per page.
shared_buffers = $GAVEL_PG_SHARED_BUFFERS
EOF
    is_root && chown "$PG_OS_USER:" "$PG_DATA/gavel.conf.tmp"
    mv -f "$PG_DATA/gavel.conf.tmp" "$PG_DATA/gavel.conf"
}

pg_start() {
    [[ -x $GAVEL_PG_BIN/initdb ]] ||
        die "PostgreSQL 15 not found in $GAVEL_PG_BIN (run: make deps)"
    local pid
    if pid=$(pg_pid); then
        say "postgres already running (pid $pid)"
        pg_create_dbs
        return 0
    fi
    pg_prepare_user
    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        rm -rf "$PG_DATA"
        say "initialising PostgreSQL cluster in $PG_DATA"
        # Trust authentication: a private dev/test cluster that listens on
        # 127.0.0.1 only (and a 0700 socket directory). Never use it elsewhere.
        as_pg "$GAVEL_PG_BIN/initdb" -D "$PG_DATA" -U "$PG_DB_USER" --auth=trust \
            --encoding=UTF8 --locale=C >"$LOG_DIR/initdb.log" 2>&1 || {
            tail_log "$LOG_DIR/initdb.log"; die "initdb failed"; }
        echo "include_if_exists = 'gavel.conf'" >>"$PG_DATA/postgresql.conf"
    fi
    port_in_use "$GAVEL_PG_PORT" &&
        die "port $GAVEL_PG_PORT (GAVEL_PG_PORT) is taken by another process"
    pg_wait_stale_postmaster
    pg_write_conf
    touch "$LOG_DIR/postgres.log"
    is_root && chown "$PG_OS_USER:" "$LOG_DIR/postgres.log"
    echo "=== $(date -u +%FT%TZ) start" >>"$LOG_DIR/postgres.log"
    say "starting postgres on 127.0.0.1:$GAVEL_PG_PORT"
    local attempt
    for attempt in 1 2 3 4 5; do
        as_pg "$GAVEL_PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" \
            -w -t 60 start >/dev/null 9>&- && break
        # An outgoing connection may hold the port as its source port for a
        # moment (see reserve_ports); anything else is a real failure.
        if (( attempt == 5 )) || ! tail -n 5 "$LOG_DIR/postgres.log" | grep -q 'already in use'; then
            tail_log "$LOG_DIR/postgres.log"
            die "postgres did not start"
        fi
        say "port $GAVEL_PG_PORT busy for a moment; retrying"
        sleep 2
    done
    pg_create_dbs
}

# After a crash (kill -9) the old postmaster may linger as a zombie until init
# reaps it, and PostgreSQL refuses to start while that pid exists.
pg_wait_stale_postmaster() {
    local pid i
    [[ -r $PG_DATA/postmaster.pid ]] || return 0
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    warn "stale postmaster pid $pid from $PG_DATA/postmaster.pid still exists"
}

pg_create_dbs() {
    local i have db
    for i in $(seq 50); do
        "$GAVEL_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$GAVEL_PG_PORT" \
            -U "$PG_DB_USER" -d postgres && break
        sleep 0.2
    done
    have=$(psql_admin -tA -c 'SELECT datname FROM pg_database') ||
        die "cannot connect to postgres on 127.0.0.1:$GAVEL_PG_PORT as $PG_DB_USER"
    # A gavel_search made before it needed a UTF-8 character class holds only
    # what events and a reindex rebuild: make it again.
    if grep -qx gavel_search <<<"$have" &&
        [[ $(psql_admin -tA -c "SELECT datctype FROM pg_database WHERE datname = 'gavel_search'") == C ]]; then
        psql_admin -c 'DROP DATABASE "gavel_search"' >/dev/null &&
            have=$(grep -vx gavel_search <<<"$have") && say "recreating database gavel_search (LC_CTYPE C.UTF-8)"
    fi
    for db in "${GAVEL_DATABASES[@]}" $(scale_databases); do
        grep -qx -- "$db" <<<"$have" && continue
        # gavel_search folds Cyrillic and Latin case in full text, trigrams and
        # suggestions: it needs a UTF-8 character class (sorting stays C).
        extra=""
        [[ $db == gavel_search ]] && extra=" TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
        psql_admin -c "CREATE DATABASE \"$db\"$extra" || die "could not create database $db"
        say "created database $db"
    done
}

pg_stop() {
    local pid
    if pid=$(pg_pid); then
        say "stopping postgres (pid $pid)"
        as_pg "$GAVEL_PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null ||
            { kill -KILL "$pid" 2>/dev/null || true; }
        wait_pids_gone 10 "$pid" || warn "postgres (pid $pid) is still running"
    fi
}

# ---- Redis ---------------------------------------------------------------------------
redis_start() {
    local pid i
    if pid=$(pid_alive "$REDIS_PIDFILE" redis-server); then
        say "redis already running (pid $pid)"
        return 0
    fi
    port_in_use "$GAVEL_REDIS_PORT" &&
        die "port $GAVEL_REDIS_PORT (GAVEL_REDIS_PORT) is taken by another process"
    rm -f "$REDIS_PIDFILE"
    say "starting redis on 127.0.0.1:$GAVEL_REDIS_PORT"
    (cd "$REDIS_DIR" && redis-server --bind 127.0.0.1 --port "$GAVEL_REDIS_PORT" \
        --dir "$REDIS_DIR" --appendonly yes --daemonize yes \
        --pidfile "$REDIS_PIDFILE" --logfile "$LOG_DIR/redis.log" --save "" \
        </dev/null 9>&-) || { tail_log "$LOG_DIR/redis.log"; die "redis-server failed"; }
    for i in $(seq 100); do
        [[ $(redis-cli -h 127.0.0.1 -p "$GAVEL_REDIS_PORT" ping 2>/dev/null) == PONG ]] &&
            return 0
        sleep 0.1
    done
    tail_log "$LOG_DIR/redis.log"
    die "redis did not answer PING on 127.0.0.1:$GAVEL_REDIS_PORT"
}

redis_stop() {
    local pid
    pid=$(pid_alive "$REDIS_PIDFILE" redis-server) || { rm -f "$REDIS_PIDFILE"; return 0; }
    say "stopping redis (pid $pid)"
    redis-cli -h 127.0.0.1 -p "$GAVEL_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    if ! wait_pids_gone 5 "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        wait_pids_gone 5 "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$REDIS_PIDFILE"
}

# ---- dev broker ------------------------------------------------------------------------
broker_start() {
    local bin=$BUILD/bin/gavel-devbroker pid i
    if pid=$(pid_alive "$BROKER_PIDFILE" gavel-devbroker) && [[ -s $BOOTSTRAP_FILE ]]; then
        say "dev broker already running (pid $pid) at $(head -n 1 "$BOOTSTRAP_FILE")"
        return 0
    fi
    [[ -n ${pid:-} ]] && broker_stop
    [[ -x $bin ]] || die "dev broker not built: $bin (run: make BUILD=$BUILD $bin)"
    rm -f "$BOOTSTRAP_FILE" "$BROKER_PIDFILE"
    say "starting dev broker"
    echo "=== $(date -u +%FT%TZ) start" >>"$LOG_DIR/devbroker.log"
    setsid nohup "$bin" --bootstrap-file "$BOOTSTRAP_FILE" \
        >>"$LOG_DIR/devbroker.log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$BROKER_PIDFILE"
    for i in $(seq 150); do
        [[ -s $BOOTSTRAP_FILE ]] && { say "dev broker at $(head -n 1 "$BOOTSTRAP_FILE")"; return 0; }
        proc_alive "$pid" || break
        sleep 0.1
    done
    tail_log "$LOG_DIR/devbroker.log"
    die "dev broker did not write $BOOTSTRAP_FILE"
}

broker_stop() {
    local pid
    if pid=$(pid_alive "$BROKER_PIDFILE" gavel-devbroker); then
        say "stopping dev broker (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        wait_pids_gone "$STOP_TIMEOUT" "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$BROKER_PIDFILE" "$BOOTSTRAP_FILE"
}

# ---- helper processes: mail sink, card provider simulator -------------------------------
# helper_start LABEL PIDFILE MATCH PORTVAR LOG HINT -- COMMAND...: runs COMMAND
# in the background (pid in PIDFILE; MATCH is in its command line) and waits
# until it listens on 127.0.0.1:${!PORTVAR}; HINT ends the error otherwise.
# LABEL PIDFILE MATCH PORTVARS LOG HINT -- COMMAND…: PORTVARS names the
# variables of every port the helper listens on (space-separated); it has
# started once all of them accept, since a server that could bind only
# some of them (nginx retries, then exits) would otherwise look started.
helper_start() {
    local label=$1 pidfile=$2 match=$3 portvars=$4 log=$5 hint=$6 pid i v waiting
    shift 7
    if pid=$(pid_alive "$pidfile" "$match"); then
        say "$label already running (pid $pid)"
        return 0
    fi
    for v in $portvars; do
        port_in_use "${!v}" && die "port ${!v} ($v) is taken by another process"
    done
    echo "=== $(date -u +%FT%TZ) start" >>"$log"
    setsid nohup "$@" >>"$log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$pidfile"
    for i in $(seq 100); do
        waiting=""
        for v in $portvars; do
            port_in_use "${!v}" || { waiting=${!v}; break; }
        done
        [[ -z $waiting ]] && { v=${portvars%% *}; say "$label on 127.0.0.1:${!v}"; return 0; }
        proc_alive "$pid" || break
        sleep 0.1
    done
    tail_log "$log"
    die "the $label did not listen on 127.0.0.1:${waiting:-?}$hint"
}

helper_stop() {  # LABEL PIDFILE MATCH
    local pid
    if pid=$(pid_alive "$2" "$3"); then
        say "stopping $1 (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        wait_pids_gone "$STOP_TIMEOUT" "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$2"
}

# deploy/dev/smtp_sink.py: what the notifications daemon mails lands as files
# in $MAIL_DIR. Started by `start` only (the tests run sinks of their own).
smtp_sink_start() {
    mkdir -p "$MAIL_DIR"
    helper_start "mail sink" "$SMTP_PIDFILE" smtp_sink.py GAVEL_SMTP_PORT "$LOG_DIR/smtp-sink.log" \
        " (is python3-aiosmtpd installed? make deps)" -- \
        /usr/bin/python3 "$GAVEL_ROOT/deploy/dev/smtp_sink.py" --port "$GAVEL_SMTP_PORT" --dir "$MAIL_DIR"
}

smtp_sink_stop() { helper_stop "mail sink" "$SMTP_PIDFILE" smtp_sink.py; }

# deploy/dev/provider_sim.py: the card provider payments talks to, in memory
# (state in $RUN_DIR/provider-sim.json), sending signed webhooks to the
# gateway. Started by `start` only (the tests run simulators of their own).
provider_sim_start() {
    helper_start "provider simulator" "$PROVIDER_PIDFILE" provider_sim.py GAVEL_PROVIDER_PORT \
        "$LOG_DIR/provider-sim.log" "" -- \
        /usr/bin/python3 "$GAVEL_ROOT/deploy/dev/provider_sim.py" --port "$GAVEL_PROVIDER_PORT" \
        --api-key-file "$KEY_DIR/provider.key" --webhook-secret-file "$KEY_DIR/provider-webhook.secret" \
        --webhook-url "http://127.0.0.1:$GAVEL_GATEWAY_PORT/api/v1/payments/webhook" \
        --state "$RUN_DIR/provider-sim.json"
}

provider_sim_stop() { helper_stop "provider simulator" "$PROVIDER_PIDFILE" provider_sim.py; }

# ---- video ingest: nginx with the RTMP module -------------------------------------------
# nginx accepts RTMP from venue encoders on 127.0.0.1:$GAVEL_RTMP_PORT and
# asks the streaming daemon (loopback hook) about every publisher; an
# accepted one is renamed to its stream's public name, and hls_push.sh
# (exec_push) writes its HLS under $LIVE_DIR/<name>/. nginx also serves
# $LIVE_DIR over HTTP (the benchmark's baseline) and nginx-rtmp's control
# module (the daemon drops revoked publishers through it), both loopback
# only. As root its worker (and so ffmpeg) runs as $PG_OS_USER, never root.
NGINX_RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

nginx_write_conf() {
    local user_line="" tmp=$NGINX_DIR/tmp
    mkdir -p "$NGINX_DIR" "$tmp" "$LIVE_DIR" "$NGINX_DIR/logs"
    cp -f "$GAVEL_ROOT/deploy/dev/hls_push.sh" "$NGINX_DIR/hls_push.sh"
    chmod 755 "$NGINX_DIR/hls_push.sh"
    if is_root; then
        pg_prepare_user
        user_line="user $PG_OS_USER;"
        chown -R "$PG_OS_USER:" "$tmp" "$LIVE_DIR" "$NGINX_DIR/logs"
        chmod 755 "$LIVE_DIR"
    fi
    cat >"$NGINX_DIR/nginx.conf.tmp" <<EOF
# Written by deploy/dev/stack.sh on every ingest start; edit the script, not this file.
load_module $NGINX_RTMP_MODULE;
$user_line
worker_processes 1;
daemon off;
pid $NGINX_PIDFILE;
error_log $LOG_DIR/nginx.log warn;
events { worker_connections 1024; }

rtmp {
    server {
        listen 127.0.0.1:$GAVEL_RTMP_PORT;
        chunk_size 4096;
        # nginx-rtmp's own access log defaults to /var/log/nginx/access.log.
        access_log off;
        application live {
            live on;
            record off;
            # Only hls_push.sh (local) plays; encoders publish.
            allow play 127.0.0.1;
            deny play all;
            notify_method post;
            on_publish http://127.0.0.1:$GAVEL_STREAMING_HOOK_PORT/rtmp;
            on_publish_done http://127.0.0.1:$GAVEL_STREAMING_HOOK_PORT/rtmp;
            on_update http://127.0.0.1:$GAVEL_STREAMING_HOOK_PORT/rtmp;
            notify_update_timeout 5s;
            notify_update_strict on;
            drop_idle_publisher 10s;
            exec_push $NGINX_DIR/hls_push.sh \$name rtmp://127.0.0.1:$GAVEL_RTMP_PORT/live $LIVE_DIR $GAVEL_HLS_SEGMENT_S $NGINX_DIR/logs;
            exec_kill_signal term;
        }
    }
}

http {
    access_log off;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    sendfile on;
    types {
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }
    server {
        listen 127.0.0.1:$GAVEL_NGINX_HLS_PORT;
        location /live/ {
            alias $LIVE_DIR/;
            location ~ \.m3u8\$ { add_header Cache-Control "no-cache"; }
            location ~ \.ts\$ { add_header Cache-Control "max-age=60"; }
        }
    }
    server {
        listen 127.0.0.1:$GAVEL_NGINX_CONTROL_PORT;
        location /control { rtmp_control all; }
    }
}
EOF
    mv -f "$NGINX_DIR/nginx.conf.tmp" "$NGINX_DIR/nginx.conf"
}

nginx_start() {
    [[ -r $NGINX_RTMP_MODULE ]] || {
        warn "no $NGINX_RTMP_MODULE (make deps installs libnginx-mod-rtmp): no video ingest"
        return 0
    }
    nginx_write_conf
    nginx -t -q -c "$NGINX_DIR/nginx.conf" -e "$LOG_DIR/nginx.log" 9>&- ||
        { tail_log "$LOG_DIR/nginx.log"; die "the generated $NGINX_DIR/nginx.conf is invalid"; }
    helper_start "ingest (nginx RTMP)" "$NGINX_DIR/master.pid" "$NGINX_DIR/nginx.conf" \
        "GAVEL_RTMP_PORT GAVEL_NGINX_HLS_PORT GAVEL_NGINX_CONTROL_PORT" \
        "$LOG_DIR/nginx.log" "" -- nginx -c "$NGINX_DIR/nginx.conf" -e "$LOG_DIR/nginx.log"
}

# ffmpeg processes of this RUN_DIR's ingest (hls_push.sh execs ffmpeg).
ingest_ffmpeg_pids() {
    local exe pid
    find /proc -mindepth 2 -maxdepth 2 -name exe -lname '*/ffmpeg' 2>/dev/null |
    while read -r exe; do
        pid=${exe#/proc/}; pid=${pid%/exe}
        [[ $pid =~ ^[0-9]+$ ]] || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- " $LIVE_DIR/" || continue
        echo "$pid"
    done
}

nginx_stop() {
    local pids
    helper_stop "ingest (nginx RTMP)" "$NGINX_DIR/master.pid" "$NGINX_DIR/nginx.conf"
    mapfile -t pids < <(ingest_ffmpeg_pids)
    if (( ${#pids[@]} )); then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait_pids_gone 5 "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
}


# ---- daemons ------------------------------------------------------------------------------
print_env_base() {
    local svc=$1 s
    svc_has_db "$svc" &&
        echo "GAVEL_PG_DSN=host=127.0.0.1 port=$GAVEL_PG_PORT user=$PG_DB_USER dbname=gavel_$svc"
    echo "GAVEL_REDIS_ADDR=127.0.0.1:$GAVEL_REDIS_PORT"
    echo "GAVEL_KAFKA_BOOTSTRAP_FILE=$BOOTSTRAP_FILE"
    echo "GAVEL_JWT_PUBLIC_KEY=$KEY_DIR/jwt.pub"
    echo "GAVEL_SERVICE_KEY=$KEY_DIR/service.key"
    echo "GAVEL_SERVICE_PUBLIC_KEY=$KEY_DIR/service.pub"
    if [[ $svc == users ]]; then
        echo "GAVEL_JWT_PRIVATE_KEY=$KEY_DIR/jwt.key"
        echo "GAVEL_BOOTSTRAP_ADMIN_FILE=$ADMIN_ENV"
    fi
    echo "GAVEL_METRICS_PORT=$(svc_metrics_port "$svc")"
    if [[ $svc == notifications ]]; then
        echo "GAVEL_SMTP_URL=smtp://127.0.0.1:$GAVEL_SMTP_PORT"
        echo "GAVEL_WEB_URL=http://127.0.0.1:$GAVEL_GATEWAY_PORT"
        echo "GAVEL_WEBHOOK_KEY_FILE=$KEY_DIR/webhook.key"
    fi
    if [[ $svc == payments ]]; then
        echo "GAVEL_PAYMENTS_PROVIDER_URL=http://127.0.0.1:$GAVEL_PROVIDER_PORT"
        echo "GAVEL_PAYMENTS_PROVIDER_KEY=$(cat "$KEY_DIR/provider.key" 2>/dev/null)"
        echo "GAVEL_PAYMENTS_WEBHOOK_SECRET=$(cat "$KEY_DIR/provider-webhook.secret" 2>/dev/null)"
    fi
    if [[ $svc == streaming ]]; then
        echo "GAVEL_STREAMING_INGEST_URL=rtmp://127.0.0.1:$GAVEL_RTMP_PORT/live"
        echo "GAVEL_STREAMING_HOOK_PORT=$GAVEL_STREAMING_HOOK_PORT"
        echo "GAVEL_STREAMING_CONTROL_URL=http://127.0.0.1:$GAVEL_NGINX_CONTROL_PORT/control"
        echo "GAVEL_STREAMING_LIVE_DIR=$LIVE_DIR"
        echo "GAVEL_STREAMING_SEGMENT_MS=$(( GAVEL_HLS_SEGMENT_S * 1000 ))"
    fi
    if [[ $svc == gateway ]]; then
        echo "GAVEL_GATEWAY_PORT=$GAVEL_GATEWAY_PORT"
        echo "GAVEL_GATEWAY_LIVE_DIR=$LIVE_DIR"
        echo "GAVEL_GATEWAY_WEB_DIR=$GAVEL_ROOT/web"
        echo "GAVEL_GATEWAY_ADDR=127.0.0.1:$(svc_grpc_port gateway)"
    fi
    for s in "${GAVEL_GRPC_SERVICES[@]}"; do
        echo "GAVEL_${s^^}_ADDR=127.0.0.1:$(svc_grpc_port "$s")"
    done
    echo "GAVEL_RUN_DIR=$RUN_DIR"
}

# The environment of instance inst (default 0) of svc: the base above with
# what the scale changes (scale_env), each key once, in the base's order.
print_env() {
    local svc=$1 inst=${2:-0}
    is_daemon "$svc" || die "unknown service '$svc' (one of: ${GAVEL_DAEMONS[*]})"
    if ! [[ $inst =~ ^[0-9]+$ ]] || (( inst >= SVC_INSTANCES[$svc] )); then
        die "$svc has no instance '$inst' (SCALE=$GAVEL_SCALE)"
    fi
    { print_env_base "$svc"; scale_env "$svc" "$inst"; } |
        awk '{ k = substr($0, 1, index($0, "=") - 1)
               if (!(k in v)) order[++n] = k
               v[k] = $0 }
             END { for (i = 1; i <= n; i++) print v[order[i]] }'
}

# ---- scale: several instances per daemon (SCALE=2) ------------------------------------
# Instance 0 of every daemon keeps today's ports, pidfile and log. Instance
# i >= 1 of service n listens on GAVEL_PORT_BASE_GRPC+n+10*i (gRPC) and
# GAVEL_PORT_BASE_METRICS+n+10*i (metrics), clear of what tests reserve
# (base+101..108), and writes $RUN_DIR/<svc>-<i>.pid and logs/<svc>-<i>.log;
# the second gateway serves HTTP on GAVEL_GATEWAY_PORT+i. Callers get every
# instance as a comma list (libs/rpc balances over it); bids instances are
# routed by lot (GAVEL_BIDS_ADDRS for auctions, GAVEL_BIDS_ADDR for the
# gateway) and bids instance i >= 1 keeps its lots in gavel_bids_<i>.
scale_load() {
    local saved=""
    [[ -r $RUN_DIR/scale ]] && saved=$(cat "$RUN_DIR/scale" 2>/dev/null)
    GAVEL_SCALE=${SCALE:-${saved:-1}}
    [[ $GAVEL_SCALE =~ ^[12]$ ]] || die "SCALE='$GAVEL_SCALE' must be 1 or 2"
    # Looked up without a subshell each (forks are slow on a busy machine).
    declare -gA SVC_N=() SVC_INSTANCES=()
    local s
    for s in "${GAVEL_DAEMONS[@]}"; do
        SVC_N[$s]=$(svc_index "$s")
        SVC_INSTANCES[$s]=$GAVEL_SCALE
    done
}

scale_save() {
    if (( GAVEL_SCALE > 1 )); then echo "$GAVEL_SCALE" >"$RUN_DIR/scale"
    else rm -f "$RUN_DIR/scale"; fi
}

inst_grpc_port()     { echo $(( GAVEL_PORT_BASE_GRPC + SVC_N[$1] + 10 * $2 )); }
inst_metrics_port()  { echo $(( GAVEL_PORT_BASE_METRICS + SVC_N[$1] + 10 * $2 )); }
inst_http_port()     { echo $(( GAVEL_GATEWAY_PORT + $2 )); }
inst_name()          { if (( $2 == 0 )); then echo "$1"; else echo "$1-$2"; fi; }
inst_pidfile()       { echo "$RUN_DIR/$(inst_name "$1" "$2").pid"; }
inst_log()           { echo "$LOG_DIR/$(inst_name "$1" "$2").log"; }

# Every instance of svc as host:port,host:port.
svc_addr_list() {
    local svc=$1 i out=""
    for (( i = 0; i < SVC_INSTANCES[$svc]; i++ )); do
        out+=${out:+,}127.0.0.1:$(( GAVEL_PORT_BASE_GRPC + SVC_N[$svc] + 10 * i ))
    done
    echo "$out"
}

scale_databases() {
    local i
    for (( i = 1; i < SVC_INSTANCES[bids]; i++ )); do echo "gavel_bids_$i"; done
}

# What instance inst of svc runs with beyond print_env_base (nothing at SCALE=1).
scale_env() {
    local svc=$1 inst=$2 s
    (( GAVEL_SCALE > 1 )) || return 0
    for s in "${GAVEL_GRPC_SERVICES[@]}"; do
        [[ $s == "$svc" ]] && continue
        echo "GAVEL_${s^^}_ADDR=$(svc_addr_list "$s")"
    done
    [[ $svc == auctions ]] && echo "GAVEL_BIDS_ADDRS=$(svc_addr_list bids)"
    echo "GAVEL_${svc^^}_ADDR=127.0.0.1:$(( GAVEL_PORT_BASE_GRPC + SVC_N[$svc] + 10 * inst ))"
    echo "GAVEL_LISTEN_ADDR=127.0.0.1:$(( GAVEL_PORT_BASE_GRPC + SVC_N[$svc] + 10 * inst ))"
    echo "GAVEL_METRICS_PORT=$(( GAVEL_PORT_BASE_METRICS + SVC_N[$svc] + 10 * inst ))"
    if [[ $svc == gateway ]]; then
        echo "GAVEL_GATEWAY_PORT=$(( GAVEL_GATEWAY_PORT + inst ))"
    fi
    # The ingest calls instance 0's hook (as a Kubernetes Service would call
    # any replica's); instance 1 keeps its own hook port, 10 above.
    if [[ $svc == streaming ]] && (( inst > 0 )); then
        echo "GAVEL_STREAMING_HOOK_PORT=$(( GAVEL_STREAMING_HOOK_PORT + 10 * inst ))"
    fi
    if [[ $svc == bids ]]; then
        echo "GAVEL_BIDS_INSTANCES=${SVC_INSTANCES[bids]}"
        echo "GAVEL_BIDS_INSTANCE=$inst"
        (( inst > 0 )) &&
            echo "GAVEL_PG_DSN=host=127.0.0.1 port=$GAVEL_PG_PORT user=$PG_DB_USER dbname=gavel_bids_$inst"
    fi
    return 0
}

# As root: keep the second instances' ports out of the kernel's hands too
# (see reserve_ports in lib.sh).
scale_reserve_ports() {
    (( GAVEL_SCALE > 1 )) || return 0
    reserve_port_list "$((GAVEL_PORT_BASE_GRPC + 11))-$((GAVEL_PORT_BASE_GRPC + 18)),$((GAVEL_PORT_BASE_METRICS + 11))-$((GAVEL_PORT_BASE_METRICS + 18)),$((GAVEL_GATEWAY_PORT + 1)),$((GAVEL_STREAMING_HOOK_PORT + 10))"
}

# Starts every instance of every built daemon, in start order; the
# instances of one service side by side (replicas wait for each other's
# migrations under the advisory lock).
scale_daemons_start() {
    local svc i pids failed
    for svc in "${GAVEL_DAEMONS[@]}"; do
        if (( SVC_INSTANCES[$svc] == 1 )); then
            daemon_start "$svc" 0
            continue
        fi
        pids=()
        for (( i = 0; i < SVC_INSTANCES[$svc]; i++ )); do
            daemon_start "$svc" "$i" &
            pids+=("$!")
        done
        failed=0
        for i in "${pids[@]}"; do wait "$i" || failed=1; done
        (( failed == 0 )) || die "an instance of $svc did not start (logs: $LOG_DIR/)"
    done
}

# `stack.sh daemon SVC [I]`: (re)starts that one instance if it is not running.
scale_daemon_start() {
    is_daemon "$1" || die "unknown service '$1' (one of: ${GAVEL_DAEMONS[*]})"
    if ! [[ $2 =~ ^[0-9]+$ ]] || (( $2 >= SVC_INSTANCES[$1] )); then
        die "$1 has no instance '$2' (SCALE=$GAVEL_SCALE)"
    fi
    take_lock
    daemon_start "$1" "$2"
}

# The pidfiles of svc's instances that exist, instance 0 first (also those
# of instances a larger SCALE or another command started).
svc_pidfiles() {
    local f
    [[ -e $RUN_DIR/$1.pid ]] && echo "$RUN_DIR/$1.pid"
    for f in "$RUN_DIR/$1"-[0-9]*.pid; do [[ -e $f ]] && echo "$f"; done
    return 0
}

daemon_start() {
    local svc=$1 inst=${2:-0} bin=$BUILD/bin/gavel-$1
    local pidfile log pid port mport env_lines i deadline
    [[ -x $bin ]] || return 0
    pidfile=$(inst_pidfile "$svc" "$inst")
    log=$(inst_log "$svc" "$inst")
    mport=$(inst_metrics_port "$svc" "$inst")
    svc=$(inst_name "$svc" "$inst")   # in messages from here on
    if pid=$(pid_alive "$pidfile" "gavel-$1"); then
        say "$svc already running (pid $pid)"
        return 0
    fi
    rm -f "$pidfile"
    port=$(inst_grpc_port "$1" "$inst")
    for p in "$port" "$mport" $([[ $1 == gateway ]] && inst_http_port "$1" "$inst"); do
        port_in_use "$p" && die "cannot start $svc: port $p is taken by another process"
    done
    mapfile -t env_lines < <(print_env "$1" "$inst")
    echo "=== $(date -u +%FT%TZ) start" >>"$log"
    setsid nohup env "${env_lines[@]}" "$bin" >>"$log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$pidfile"
    deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
    while :; do
        if curl -fsS --max-time 2 "http://127.0.0.1:$mport/healthz" >/dev/null 2>&1; then
            say "$svc up (pid $pid)"
            return 0
        fi
        if ! proc_alive "$pid"; then
            rm -f "$pidfile"
            tail_log "$log"
            die "$svc exited during startup (log: $log)"
        fi
        if (( $(date +%s) >= deadline )); then
            kill -TERM "$pid" 2>/dev/null || true
            wait_pids_gone 5 "$pid" || kill -KILL "$pid" 2>/dev/null || true
            rm -f "$pidfile"
            tail_log "$log"
            die "$svc not healthy after ${HEALTH_TIMEOUT}s at http://127.0.0.1:$mport/healthz (log: $log)"
        fi
        sleep 0.2
    done
}

# Daemons of this RUN_DIR that are not in a pidfile (e.g. started by the system
# tests from `stack.sh env`): a gavel-* binary whose environment names this
# RUN_DIR's bootstrap file.
stray_daemon_pids() {
    local exe pid
    find /proc -mindepth 2 -maxdepth 2 -name exe -lname '*/gavel-*' 2>/dev/null |
    while read -r exe; do
        pid=${exe#/proc/}; pid=${pid%/exe}
        [[ $pid =~ ^[0-9]+$ ]] || continue
        [[ $(readlink "$exe" 2>/dev/null) == */gavel-devbroker ]] && continue
        proc_alive "$pid" || continue
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null |
            grep -qxF "GAVEL_KAFKA_BOOTSTRAP_FILE=$BOOTSTRAP_FILE" || continue
        echo "$pid"
    done
}

daemons_stop() {
    local svc pid pids=() i
    local f
    for (( i = ${#GAVEL_DAEMONS[@]} - 1; i >= 0; i-- )); do
        svc=${GAVEL_DAEMONS[i]}
        for f in $(svc_pidfiles "$svc"); do
            if pid=$(pid_alive "$f" "gavel-$svc"); then
                say "stopping $(basename "$f" .pid) (pid $pid)"
                kill -TERM "$pid" 2>/dev/null || true
                pids+=("$pid")
            fi
        done
    done
    for pid in $(stray_daemon_pids); do
        [[ " ${pids[*]} " == *" $pid "* ]] && continue
        say "stopping stray daemon $(readlink "/proc/$pid/exe" 2>/dev/null || echo '?') (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    done
    if (( ${#pids[@]} )) && ! wait_pids_gone "$STOP_TIMEOUT" "${pids[@]}"; then
        for pid in "${pids[@]}"; do
            proc_alive "$pid" || continue
            warn "pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        done
        wait_pids_gone 5 "${pids[@]}" || true
    fi
    for svc in "${GAVEL_DAEMONS[@]}"; do
        for f in $(svc_pidfiles "$svc"); do rm -f "$f"; done
    done
}

# ---- demo bidder ---------------------------------------------------------------------------
# deploy/dev/demo_bidder.py: a demo dealer bids now and then on the live demo
# lots through the gateway, so the web UI moves. Started by `start` only, after
# the demo data; GAVEL_DEMO_BIDDER=off leaves it out.
demo_bidder_start() {
    local script=$GAVEL_ROOT/deploy/dev/demo_bidder.py pid
    [[ ${GAVEL_DEMO_BIDDER:-on} == off ]] && return 0
    [[ -x $BUILD/bin/gavel-gateway && -s $RUN_DIR/demo-users.txt ]] || return 0
    if pid=$(pid_alive "$BIDDER_PIDFILE" demo_bidder.py); then
        say "demo bidder already running (pid $pid)"
        return 0
    fi
    GAVEL_GATEWAY_PORT=$GAVEL_GATEWAY_PORT RUN_DIR=$RUN_DIR \
        PYTHONPATH="$BUILD/py${PYTHONPATH:+:$PYTHONPATH}" \
        setsid nohup /usr/bin/python3 "$script" >>"$LOG_DIR/demo-bidder.log" 2>&1 </dev/null 9>&- &
    echo "$!" >"$BIDDER_PIDFILE"
    say "demo bidder started (log: $LOG_DIR/demo-bidder.log)"
}

demo_bidder_stop() {
    local pid
    if pid=$(pid_alive "$BIDDER_PIDFILE" demo_bidder.py); then
        say "stopping demo bidder (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        wait_pids_gone "$STOP_TIMEOUT" "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$BIDDER_PIDFILE"
}

# ---- demo data and summary -------------------------------------------------------------
demo_data() {
    local script=$GAVEL_ROOT/deploy/dev/demo-data.sh marker=$RUN_DIR/demo.done
    [[ -x $script && ${GAVEL_DEMO_DATA:-on} != off ]] || return 0
    [[ -e $marker ]] && return 0
    say "loading demo data ($script)"
    if "$script" >>"$LOG_DIR/demo-data.log" 2>&1 </dev/null 9>&-; then
        date -u +%FT%TZ >"$marker"
    else
        tail_log "$LOG_DIR/demo-data.log"
        die "demo data failed (log: $LOG_DIR/demo-data.log); the stack is up, fix and run again"
    fi
}

summary() {
    local svc any=0
    echo
    echo "Gavel dev stack is up (RUN_DIR $RUN_DIR)"
    [[ -x $BUILD/bin/gavel-gateway ]] &&
        echo "  open       http://127.0.0.1:$GAVEL_GATEWAY_PORT/  (the web UI; demo logins below)"
    echo "  postgres   127.0.0.1:$GAVEL_PG_PORT  (user $PG_DB_USER, databases gavel_<service>)"
    echo "  redis      127.0.0.1:$GAVEL_REDIS_PORT"
    echo "  kafka      $(head -n 1 "$BOOTSTRAP_FILE" 2>/dev/null || echo '?')  (dev broker; address in $BOOTSTRAP_FILE)"
    local i
    for svc in "${GAVEL_DAEMONS[@]}"; do
        [[ -x $BUILD/bin/gavel-$svc ]] || continue
        any=1
        for (( i = 0; i < SVC_INSTANCES[$svc]; i++ )); do
            if [[ $svc == gateway ]]; then
                printf '  %-10s web UI http://127.0.0.1:%s/   REST /api/v1/ (OpenAPI /openapi.json)   metrics http://127.0.0.1:%s/metrics\n' \
                    "$(inst_name "$svc" "$i")" "$(inst_http_port "$svc" "$i")" "$(inst_metrics_port "$svc" "$i")"
            else
                local health
                health=$("$BUILD/bin/gavel-health" "127.0.0.1:$(inst_grpc_port "$svc" "$i")" 2>/dev/null ||
                         true)
                printf '  %-10s gRPC 127.0.0.1:%s (health: %s)   metrics http://127.0.0.1:%s/metrics\n' \
                    "$(inst_name "$svc" "$i")" "$(inst_grpc_port "$svc" "$i")" "${health:-unknown}" \
                    "$(inst_metrics_port "$svc" "$i")"
            fi
        done
    done
    (( any )) || echo "  (no daemon built yet under $BUILD/bin)"
    pid_alive "$BIDDER_PIDFILE" demo_bidder.py >/dev/null &&
        echo "  bidder     a demo dealer bids now and then on the live demo lots (log: $LOG_DIR/demo-bidder.log)"
    pid_alive "$PROVIDER_PIDFILE" provider_sim.py >/dev/null &&
        echo "  provider   card provider simulator http://127.0.0.1:$GAVEL_PROVIDER_PORT (state: GET /_control/state; docs/payments-provider.md)"
    pid_alive "$SMTP_PIDFILE" smtp_sink.py >/dev/null &&
        echo "  mail       SMTP sink 127.0.0.1:$GAVEL_SMTP_PORT; every email sent is a file in $MAIL_DIR/"
    pid_alive "$NGINX_DIR/master.pid" "$NGINX_DIR/nginx.conf" >/dev/null &&
        echo "  ingest     rtmp://127.0.0.1:$GAVEL_RTMP_PORT/live/<stream key> (OBS: docs/streaming.md); HLS $LIVE_DIR/<name>/"
    echo "  logs       $LOG_DIR/"
    echo "  admin      credentials in $ADMIN_ENV"
    [[ -s $RUN_DIR/demo-users.txt ]] && echo "  demo       dealer, seller and moderator logins in $RUN_DIR/demo-users.txt"
    echo "  stop with  make stop"
}

# ---- another bids instance ------------------------------------------------------------------
# `bids-add NAME`: gavel-bids registered as NAME (docs/architecture.md,
# "Several bids instances") with database gavel_bids_<NAME>, gRPC and metrics
# on the first free ports above the stack's; `stop` stops it with the others
# (stray_daemon_pids).
cmd_bids_add() {
    local name=$1 db port mport pid pidfile log env_lines
    [[ $name =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "bids instance name '$name': 1..31 of a-z, 0-9, -"
    [[ -x $BUILD/bin/gavel-bids ]] || die "gavel-bids is not built ($BUILD/bin)"
    take_lock
    pidfile=$RUN_DIR/bids-$name.pid log=$LOG_DIR/bids-$name.log
    if pid=$(pid_alive "$pidfile" gavel-bids); then
        say "bids instance $name already running (pid $pid)"
        return 0
    fi
    db=gavel_bids_${name//-/_}
    psql_admin -tA -c 'SELECT datname FROM pg_database' | grep -qx -- "$db" ||
        psql_admin -c "CREATE DATABASE \"$db\"" || die "could not create database $db"
    port=$(( GAVEL_PORT_BASE_GRPC + 200 )) mport=$(( GAVEL_PORT_BASE_METRICS + 40 ))
    while port_in_use "$port"; do port=$(( port + 1 )); done
    while port_in_use "$mport"; do mport=$(( mport + 1 )); done
    # instance 0's environment, less what makes an instance itself (at
    # SCALE=2 that includes its listen address)
    mapfile -t env_lines < <(print_env bids | grep -v -e '^GAVEL_PG_DSN=' -e '^GAVEL_METRICS_PORT=' \
        -e '^GAVEL_BIDS_ADDR=' -e '^GAVEL_LISTEN_ADDR=')
    echo "=== $(date -u +%FT%TZ) start $name" >>"$log"
    setsid nohup env "${env_lines[@]}" \
        "GAVEL_PG_DSN=host=127.0.0.1 port=$GAVEL_PG_PORT user=$PG_DB_USER dbname=$db" \
        "GAVEL_METRICS_PORT=$mport" "GAVEL_BIDS_ADDR=127.0.0.1:$port" \
        "GAVEL_LISTEN_ADDR=127.0.0.1:$port" "GAVEL_BIDS_NAME=$name" \
        "$BUILD/bin/gavel-bids" >>"$log" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$pidfile"
    for _ in $(seq $(( HEALTH_TIMEOUT * 5 ))); do
        if curl -fsS --max-time 2 "http://127.0.0.1:$mport/healthz" >/dev/null 2>&1; then
            say "bids instance $name up (pid $pid, gRPC 127.0.0.1:$port, metrics $mport, log $log)"
            return 0
        fi
        proc_alive "$pid" || { rm -f "$pidfile"; tail_log "$log"; die "bids instance $name exited"; }
        sleep 0.2
    done
    tail_log "$log"
    die "bids instance $name not healthy after ${HEALTH_TIMEOUT}s (log: $log)"
}

# ---- commands ----------------------------------------------------------------------------
cmd_infra() {
    take_lock
    reserve_ports
    scale_reserve_ports
    prepare_dirs
    scale_save
    ensure_keypair jwt
    ensure_keypair service
    ensure_webhook_key
    ensure_provider_secrets
    ensure_admin_env
    pg_start
    redis_start
    broker_start
}

cmd_start() {
    local svc
    cmd_infra
    smtp_sink_start
    provider_sim_start
    scale_daemons_start
    nginx_start
    demo_data
    demo_bidder_start
    summary
}

cmd_stop() {
    if [[ ! -d $RUN_DIR ]]; then
        say "nothing to stop ($RUN_DIR does not exist)"
        return 0
    fi
    take_lock
    demo_bidder_stop
    nginx_stop
    daemons_stop
    provider_sim_stop
    smtp_sink_stop
    broker_stop
    redis_stop
    pg_stop
    rm -f "$RUN_DIR/scale"
    say "stopped"
}

cmd_status() {
    local pid svc
    line() { printf '%-14s %s\n' "$1" "$2"; }
    # Addresses as the running processes report them, not as this shell's
    # settings say (they may differ from the ones the stack started with).
    if pid=$(pg_pid); then
        line postgres "running (pid $pid) 127.0.0.1:$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null)"
    else line postgres stopped; fi
    if pid=$(pid_alive "$REDIS_PIDFILE" redis-server); then
        line redis "running (pid $pid) $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | awk '{print $2}')"
    else line redis stopped; fi
    if pid=$(pid_alive "$BROKER_PIDFILE" gavel-devbroker); then
        line devbroker "running (pid $pid) $(head -n 1 "$BOOTSTRAP_FILE" 2>/dev/null || true)"
    else line devbroker stopped; fi
    if pid=$(pid_alive "$SMTP_PIDFILE" smtp_sink.py); then
        line mail-sink "running (pid $pid) 127.0.0.1:$GAVEL_SMTP_PORT -> $MAIL_DIR"
    else line mail-sink stopped; fi
    if pid=$(pid_alive "$PROVIDER_PIDFILE" provider_sim.py); then
        line provider-sim "running (pid $pid) 127.0.0.1:$GAVEL_PROVIDER_PORT"
    else line provider-sim stopped; fi
    if pid=$(pid_alive "$NGINX_DIR/master.pid" "$NGINX_DIR/nginx.conf"); then
        line ingest "running (pid $pid) rtmp://127.0.0.1:$GAVEL_RTMP_PORT/live, HLS http://127.0.0.1:$GAVEL_NGINX_HLS_PORT/live/, $(ingest_ffmpeg_pids | wc -l) ffmpeg"
    else line ingest stopped; fi
    local i
    for svc in "${GAVEL_DAEMONS[@]}"; do
        for (( i = 0; i < SVC_INSTANCES[$svc]; i++ )); do
            if pid=$(pid_alive "$(inst_pidfile "$svc" "$i")" "gavel-$svc"); then
                line "$(inst_name "$svc" "$i")" "running (pid $pid) metrics :$(inst_metrics_port "$svc" "$i")"
            elif [[ -x $BUILD/bin/gavel-$svc ]]; then line "$(inst_name "$svc" "$i")" stopped
            else line "$(inst_name "$svc" "$i")" "stopped (not built)"; fi
        done
    done
}

scale_load
case ${1:-} in
    infra)  cmd_infra ;;
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    ingest) take_lock; prepare_dirs; nginx_stop; nginx_start ;;
    ingest-stop) if [[ -d $RUN_DIR ]]; then take_lock; nginx_stop; fi ;;
    env)    [[ $# -eq 2 || $# -eq 3 ]] || usage; print_env "$2" "${3:-0}" ;;
    daemon) [[ $# -eq 2 || $# -eq 3 ]] || usage; scale_daemon_start "$2" "${3:-0}" ;;
    bids-add) [[ $# -eq 2 ]] || usage; cmd_bids_add "$2" ;;
    -h|--help|help) usage ;;
    *)      usage ;;
esac
