#!/usr/bin/env bash
# make bench: measures the rpc runtime and the users wallet on this machine,
# each beside its baseline, from one run. Uses its own stack (.run-bench,
# its own ports) so neither `make run` nor `make test` is disturbed.
#
#   Ping RPC at 64 concurrent streams     vs MEASURED.md's gRPC C core figure
#   ReserveFunds at 32 concurrent clients vs the same transaction run by
#                                            pgbench at 32 clients (no gRPC)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

export RUN_DIR=$ROOT/.run-bench BUILD=$ROOT/build
export GAVEL_PG_PORT=55682 GAVEL_REDIS_PORT=56689 GAVEL_PORT_BASE_GRPC=50550
export GAVEL_PORT_BASE_METRICS=9600 GAVEL_GATEWAY_PORT=8580
SECONDS_EACH=${GAVEL_BENCH_SECONDS:-10}
PING_CONC=64
CLIENTS=32
USERS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))
BIN=$BUILD/bin
out=$RUN_DIR/bench
users_pid=

cleanup() {
    [[ -n $users_pid ]] && kill "$users_pid" 2>/dev/null && wait "$users_pid" 2>/dev/null
    deploy/dev/stack.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

deploy/dev/stack.sh stop >/dev/null 2>&1 || true
rm -rf "$RUN_DIR"
deploy/dev/stack.sh infra >/dev/null
mkdir -p "$out"

# The users daemon with the same environment make run gives it.
mapfile -t users_env < <(deploy/dev/stack.sh env users)
env "${users_env[@]}" "$BIN/gavel-users" 2>"$RUN_DIR/logs/users.log" &
users_pid=$!
for _ in $(seq 100); do
    "$BIN/gavel-health" "$USERS_ADDR" >/dev/null 2>&1 && break
    sleep 0.1
done
"$BIN/gavel-health" "$USERS_ADDR" >/dev/null

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "== Ping, $PING_CONC in flight, ${SECONDS_EACH}s"
ping=$("$BIN/gavel-bench" ping "$USERS_ADDR" "$PING_CONC" "$SECONDS_EACH")
echo "   $ping"

echo "== creating $CLIENTS funded bidder wallets"
ids=$(PYTHONPATH=$BUILD/py /usr/bin/python3 tests/bench/setup_wallets.py "$USERS_ADDR" \
      "$RUN_DIR/admin.env" "$CLIENTS")

echo "== ReserveFunds over gRPC, $CLIENTS clients, ${SECONDS_EACH}s"
reserve=$(env "${users_env[@]}" "$BIN/gavel-bench" reserve "$USERS_ADDR" "$CLIENTS" \
          "$SECONDS_EACH" "$ids")
echo "   $reserve"

echo "== the same reserve transaction through pgbench, $CLIENTS clients, ${SECONDS_EACH}s"
umin=${ids%%,*}
umax=${ids##*,}
(cd "$out" && rm -f pgbench_log.* &&
 pgbench -n -h 127.0.0.1 -p "$GAVEL_PG_PORT" -U gavel -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" \
     -D umin="$umin" -D umax="$umax" -f "$ROOT/tests/bench/reserve.sql" -l gavel_users \
     >"$out/pgbench.txt" 2>&1)
pg_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench.txt" | head -1)
# Per-transaction log: column 3 is the latency in microseconds.
read -r pg_p50 pg_p99 < <(cat "$out"/pgbench_log.* | awk '{print $3}' | sort -n |
    awk '{v[NR]=$1} END {printf "%.3f %.3f\n", v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000}')

base_ping=66000   # MEASURED.md: gRPC C core, 1 CQ x 1 thread, 64 in flight
printf '\n%-44s %10s %9s %9s   %-34s %7s\n' "benchmark (one run, $(nproc) cores)" "calls/s" \
    "p50 ms" "p99 ms" "baseline" "ratio"
printf '%-44s %10s %9s %9s   %-34s %7.2f\n' "Ping RPC, $PING_CONC concurrent streams" \
    "$(field rps "$ping")" "$(field p50_ms "$ping")" "$(field p99_ms "$ping")" \
    "$base_ping/s gRPC C core (MEASURED)" "$(awk "BEGIN{print $(field rps "$ping")/$base_ping}")"
printf '%-44s %10s %9s %9s   %-34s %7.2f\n' "ReserveFunds over gRPC, $CLIENTS clients" \
    "$(field rps "$reserve")" "$(field p50_ms "$reserve")" "$(field p99_ms "$reserve")" \
    "same tx via pgbench (below)" "$(awk "BEGIN{print $(field rps "$reserve")/$pg_tps}")"
printf '%-44s %10.0f %9s %9s\n' "reserve as plain SQL (pgbench), $CLIENTS clients" "$pg_tps" \
    "$pg_p50" "$pg_p99"
echo
echo "errors: ping $(field errors "$ping"), reserve $(field errors "$reserve")"
