#!/usr/bin/env bash
# PlaceBid spread at one and at two bids instances (make bench runs it from
# tests/bench/run.sh, on its stack): the same load, BIDDERS (64) bidders
# back to back over SPREAD (10,000) lots, first against one gavel-bids, then
# against two (GAVEL_BIDS_INSTANCES=2, each its own database; lot n on
# instance n % 2, gavel-bench routing each bid to its lot's owner). Both
# share the one users daemon (every accepted bid reserves funds there) and
# PostgreSQL. Prints accepted/s, p50 and p99 side by side with the ratio
# two/one: how far a second instance scales on this machine.
#
# Alone (tests/bench/bids_spread.sh) it starts its own stack on the bench
# ports (.run-bench/, as make bench) with the users daemon; from run.sh
# (GAVEL_BENCH_STACK_UP=1) it uses the users daemon that runs. Either way
# it starts its own bids daemons on free ports, in databases of their own.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# wait_healthy, field, ratio, settle, start_daemon, bench_settings,
# bench_own_stack, stop_pids
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_settings
SECONDS_EACH=${GAVEL_BENCH_SECONDS:-10}
BIDDERS=64
SPREAD=10000
FIRST=1000
BIN=$BUILD/bin
USERS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))
out=$RUN_DIR/bench
export PYTHONPATH=$BUILD/py

pids=()       # start_daemon's: the users daemon when alone, then the bids ones
bids_pids=()
cleanup() {
    stop_pids "${bids_pids[@]}" "${pids[@]}"
    [[ ${GAVEL_BENCH_STACK_UP:-0} == 1 ]] || deploy/dev/stack.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

bench_own_stack
mkdir -p "$RUN_DIR/logs" "$out"

free_port() {
    /usr/bin/python3 -c 'import sys; sys.path.insert(0, "tests"); import gavel_harness as h; print(h.free_port())'
}
psql_bench() { psql -X -q -h 127.0.0.1 -p "$GAVEL_PG_PORT" -U gavel -d postgres "$@"; }

# bids_instances N: N fresh gavel-bids (databases gavel_bench_bids_<N>_<i>)
# on free ports; sets addrs to their comma list.
bids_instances() {
    local n=$1 i port db
    addrs=""
    for (( i = 0; i < n; i++ )); do
        db=gavel_bench_bids_${n}_$i
        psql_bench -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
        port=$(free_port)
        start_daemon bids GAVEL_LISTEN_ADDR="127.0.0.1:$port" GAVEL_METRICS_PORT=0 \
            GAVEL_BIDS_INSTANCES="$n" GAVEL_BIDS_INSTANCE="$i" \
            GAVEL_PG_DSN="host=127.0.0.1 port=$GAVEL_PG_PORT user=gavel dbname=$db"
        bids_pids+=("${pids[-1]}")
        unset 'pids[-1]'
        addrs+=${addrs:+,}127.0.0.1:$port
    done
    for i in ${addrs//,/ }; do wait_healthy "$i"; done
}

echo "== creating $BIDDERS funded bidders for the spread at one and two bids instances"
/usr/bin/python3 tests/bench/bidders.py "$USERS_ADDR" "$RUN_DIR/admin.env" "$BIDDERS" \
    >"$out/spread-bidders.txt" 2>"$out/spread-seller.txt"
seller=$(awk '{print $1}' "$out/spread-seller.txt")
mapfile -t bids_env < <(deploy/dev/stack.sh env bids)

declare -A run
for n in 1 2; do
    bids_instances "$n"
    echo "== opening $SPREAD lots on $n bids instance(s) ($addrs)"
    env "${bids_env[@]}" "$BIN/gavel-bench" open "$addrs" "$FIRST" "$SPREAD" "$seller" >/dev/null
    settle 60 say
    echo "== PlaceBid, $BIDDERS bidders over $SPREAD lots on $n bids instance(s), ${SECONDS_EACH}s"
    run[$n]=$("$BIN/gavel-bench" place "$addrs" "$BIDDERS" "$SECONDS_EACH" \
              "$out/spread-bidders.txt" "$FIRST" "$SPREAD")
    echo "   ${run[$n]//$'\n'/ }"
    stop_pids "${bids_pids[@]}"
    bids_pids=()
done

printf '\n%-44s %10s %9s %9s\n' "PlaceBid spread (one run, $(nproc) cores)" "accepted/s" \
    "p50 ms" "p99 ms"
for n in 1 2; do
    printf '%-44s %10s %9s %9s\n' "  $n bids instance(s), $BIDDERS bidders, $SPREAD lots" \
        "$(field rps "${run[$n]}")" "$(field p50_ms "${run[$n]}")" "$(field p99_ms "${run[$n]}")"
done
printf '%-44s %10s %9s %9s\n' "  ratio two/one" \
    "$(ratio "$(field rps "${run[2]}")" "$(field rps "${run[1]}")")" \
    "$(ratio "$(field p50_ms "${run[2]}")" "$(field p50_ms "${run[1]}")")" \
    "$(ratio "$(field p99_ms "${run[2]}")" "$(field p99_ms "${run[1]}")")"
echo "errors: one $(field errors "${run[1]}"), two $(field errors "${run[2]}")"
for n in 1 2; do psql_bench -c "DROP DATABASE IF EXISTS gavel_bench_bids_${n}_0" \
    -c "DROP DATABASE IF EXISTS gavel_bench_bids_${n}_1" >/dev/null 2>&1 || true; done
