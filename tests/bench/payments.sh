#!/usr/bin/env bash
# The payments daemon's benchmark, beside its baseline from the same run
# (make bench runs it from tests/bench/run.sh, on its stack), against the
# card provider simulator (deploy/dev/provider_sim.py) started here on a
# free port with a key and webhook secret of its own:
#
#   Authorize  PAY_CLIENTS (8) clients back to back for the run's seconds:
#              Payments/Authorize of a wallet top-up (a new key per call)
#              vs the same card hold called directly on the simulator over
#              HTTP at the same concurrency; p50/p99, calls/s and the
#              overhead ratio service/direct (goal >= 0.5)
#   settlement PAY_LOTS (300) sold lots with real wallet holds, closed:
#              auction.closed on gavel.auctions, then gavel_payments
#              polled until every settlement is done (settlements/s)
#   burst      1,000 lots closing in the same second, time to settle them
#              all; 10,000 with GAVEL_BENCH_FULL=1 (too slow for the
#              default run's time budget on 2 cores)
#
# The load is tests/bench/payments_bench.py. Alone (tests/bench/payments.sh)
# it starts its own stack on the bench ports (.run-bench/, as make bench)
# with the users daemon; from run.sh (GAVEL_BENCH_STACK_UP=1) it uses the
# users daemon that runs. Either way it starts its own simulator and
# gavel-payments (2 settlement workers, the default; a pool of 16
# connections so 8 Authorize calls in flight do not starve the workers).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

export RUN_DIR=${RUN_DIR:-$ROOT/.run-bench} BUILD=${BUILD:-$ROOT/build}
export GAVEL_PG_PORT=${GAVEL_PG_PORT:-15682} GAVEL_REDIS_PORT=${GAVEL_REDIS_PORT:-15689}
export GAVEL_PORT_BASE_GRPC=${GAVEL_PORT_BASE_GRPC:-16550}
export GAVEL_PORT_BASE_METRICS=${GAVEL_PORT_BASE_METRICS:-9600}
export GAVEL_GATEWAY_PORT=${GAVEL_GATEWAY_PORT:-8580}
SECONDS_EACH=${GAVEL_BENCH_SECONDS:-10}
PAY_CLIENTS=8
PAY_LOTS=300
if [[ ${GAVEL_BENCH_FULL:-0} == 1 ]]; then BURST=10000; else BURST=1000; fi
BIN=$BUILD/bin
USERS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))
PAY_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 5))
export PYTHONPATH=$BUILD/py

pids=()
cleanup() {
    local p
    # (a daemon's status after SIGTERM is 143: not this script's)
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [[ ${GAVEL_BENCH_STACK_UP:-0} == 1 ]] || deploy/dev/stack.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# wait_healthy, field, ratio, goal, settle, start_daemon
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

if [[ ${GAVEL_BENCH_STACK_UP:-0} != 1 ]]; then
    deploy/dev/stack.sh stop >/dev/null 2>&1 || true
    rm -rf "$RUN_DIR"
    deploy/dev/stack.sh infra >/dev/null
    mkdir -p "$RUN_DIR/logs"
    start_daemon users
    wait_healthy "$USERS_ADDR"
    # payments asks auctions for each sold lot's fees (QuoteServices)
    start_daemon auctions
    wait_healthy "127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 2))"
fi
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/bench"

sim_port=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "tests"); import gavel_harness as h; print(h.free_port())')
sim_key=sk_bench_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
sim_secret=whsec_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
GAVEL_PROVIDER_API_KEY=$sim_key GAVEL_PROVIDER_WEBHOOK_SECRET=$sim_secret \
    /usr/bin/python3 deploy/dev/provider_sim.py --port "$sim_port" \
    >>"$RUN_DIR/logs/provider-sim.bench.log" 2>&1 </dev/null &
sim_pid=$!
pids+=("$sim_pid")
sim_url=http://127.0.0.1:$sim_port
for _ in $(seq 1500); do
    curl -s -o /dev/null "$sim_url/" 2>/dev/null && break
    sleep 0.01
done
start_daemon payments GAVEL_PAYMENTS_PROVIDER_URL="$sim_url" GAVEL_PAYMENTS_PROVIDER_KEY="$sim_key" \
    GAVEL_PAYMENTS_WEBHOOK_SECRET="$sim_secret" GAVEL_PAYMENTS_DB_POOL=16 ${PAY_EXTRA_ENV:-}
pay_pid=${pids[-1]}
wait_healthy "$PAY_ADDR"
mapfile -t pay_env < <(deploy/dev/stack.sh env payments)
pay_dsn=$(printf '%s\n' "${pay_env[@]}" | sed -n 's/^GAVEL_PG_DSN=//p')
service_key=$(printf '%s\n' "${pay_env[@]}" | sed -n 's/^GAVEL_SERVICE_KEY=//p')
auc_dsn=$(deploy/dev/stack.sh env auctions | sed -n 's/^GAVEL_PG_DSN=//p')
bootstrap=$(head -n 1 "$RUN_DIR/kafka.bootstrap")
drive() { /usr/bin/python3 tests/bench/payments_bench.py "$@"; }

# CPU seconds (user + system) of a process, of PostgreSQL's (the
# postmaster and its backends), for where each Authorize's time goes.
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu_s() {
    local pm p total=0
    pm=$(head -n 1 "$RUN_DIR/pg/data/postmaster.pid")
    for p in "$pm" $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
        total=$(awk -v t="$total" -v c="$(cpu_s "$p")" 'BEGIN{print t + c}')
    done
    echo "$total"
}
cpu_all() { echo "$(cpu_s "$pay_pid") $(cpu_s "$sim_pid") $(pg_cpu_s)"; }
auth_phase() {   # direct|service: prints its line, then CPU ms per call of payments, sim, pg
    local before after r
    read -r -a before < <(cpu_all)
    r=$(drive auth "$1" "$USERS_ADDR" "$PAY_ADDR" "$sim_url" "$sim_key" \
        "$PAY_CLIENTS" "$SECONDS_EACH")
    read -r -a after < <(cpu_all)
    awk -v r="$r" -v n="$(field calls "$r")" -v a="${after[*]}" -v b="${before[*]}" 'BEGIN {
        split(a, x, " "); split(b, y, " "); n = n > 0 ? n : 1
        printf "%s cpu_ms_payments=%.3f cpu_ms_sim=%.3f cpu_ms_pg=%.3f\n", r,
               (x[1] - y[1]) * 1000 / n, (x[2] - y[2]) * 1000 / n, (x[3] - y[3]) * 1000 / n }'
}

echo "== Authorize: the simulator's card hold directly, then through gavel-payments, $PAY_CLIENTS clients, ${SECONDS_EACH}s each"
direct=$(auth_phase direct)
echo "   $direct"
service=$(auth_phase service)
echo "   $service"

echo "== settlement: $PAY_LOTS sold lots with wallet holds closed, until all settled"
settled=$(drive settle "$USERS_ADDR" "$bootstrap" "$pay_dsn" "$RUN_DIR/admin.env" "$service_key" "$PAY_LOTS" "$auc_dsn")
echo "   $settled"

echo "== burst: $BURST lots closing in the same second ($( [[ $BURST == 10000 ]] && echo "GAVEL_BENCH_FULL=1" || echo "10,000 with GAVEL_BENCH_FULL=1"))"
burst=$(drive settle "$USERS_ADDR" "$bootstrap" "$pay_dsn" "$RUN_DIR/admin.env" "$service_key" "$BURST" "$auc_dsn")
echo "   $burst"

ledger=$(psql -X -tA "$pay_dsn" -c "SELECT count(*) FROM (SELECT currency FROM ledger_entries
         GROUP BY currency HAVING sum(amount) <> 0) s")
sim_counts=$(curl -s -H "Authorization: Bearer $sim_key" "$sim_url/_control/state" |
             /usr/bin/python3 -c 'import json, sys; c = json.load(sys.stdin)["counts"]; print(" ".join("%s=%s" % kv for kv in sorted(c.items())))')

printf '\n%-46s %9s %8s %8s   %-30s %6s\n' "payments against the simulator, $(nproc) cores" \
    "calls/s" "p50 ms" "p99 ms" "baseline" "ratio"
printf '%-46s %9s %8s %8s   %-30s %6s\n' "Authorize through gavel-payments, $PAY_CLIENTS clients" \
    "$(field rps "$service")" "$(field p50_ms "$service")" "$(field p99_ms "$service")" \
    "simulator direct $(field rps "$direct")/s" "$(ratio "$(field rps "$service")" "$(field rps "$direct")")"
printf '%-46s %9s %8s %8s\n' "  card hold on the simulator directly (HTTP)" "$(field rps "$direct")" \
    "$(field p50_ms "$direct")" "$(field p99_ms "$direct")"
printf '%-46s %9s %8s %8s   %-30s\n' "settlements of $PAY_LOTS closed lots" "$(field per_s "$settled")" \
    "$(field p50_ms "$settled")" "$(field p99_ms "$settled")" "(close to done)"
printf '%-46s %9s %8s %8s   %-30s\n' "burst of $BURST closes in one second" "$(field per_s "$burst")" \
    "$(field p50_ms "$burst")" "$(field p99_ms "$burst")" "(close to done)"
echo
echo "Authorize CPU per call: gavel-payments $(field cpu_ms_payments "$service") ms, PostgreSQL $(field cpu_ms_pg "$service") ms, simulator $(field cpu_ms_sim "$service") ms (direct: simulator $(field cpu_ms_sim "$direct") ms)"
echo "Authorize overhead: $(ratio "$(field rps "$service")" "$(field rps "$direct")") of the direct calls/s (goal >= 0.5: $(goal "$(ratio "$(field rps "$service")" "$(field rps "$direct")")" 0.5 ge)); p50 $(field p50_ms "$service") ms vs $(field p50_ms "$direct") ms direct"
echo "settlement: $(field per_s "$settled") settlements/s ($PAY_LOTS lots in $(field seconds "$settled") s, each a wallet capture, a provider payout and 2 ledger txns)"
echo "burst of $BURST auctions closing at once: all settled in $(field seconds "$burst") s ($(field per_s "$burst")/s)$( [[ $BURST == 10000 ]] || echo "; 10,000: GAVEL_BENCH_FULL=1")"
echo "ledger: $ledger unbalanced currencies; simulator: $sim_counts"
echo "errors: direct $(field errors "$direct"), service $(field errors "$service"), failed settlements $(field failed "$settled")/$(field failed "$burst")"
