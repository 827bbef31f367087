#!/usr/bin/env bash
# The gateway's benchmarks, each beside its baseline from the same run
# (make bench runs this last, from tests/bench/run.sh, on its stack):
#
#   REST   GET /api/v1/lots/{id} and POST /api/v1/lots/{id}/bids with wrk
#          against the same RPCs called directly over gRPC (gavel-bench
#          getlot / place): the gateway's share of the direct rate
#          (goal >= 0.6); GET p99 while 2,000 wrong-password logins arrive
#          at once against its idle p99 (goal <= 2x)
#   WS     5,000 WebSocket clients on one lot and over 100 lots, bids at
#          100/s and back to back: delivered messages/s and bid
#          acknowledged -> client frame p50/p99/p999, against a Node `ws`
#          server fed by the same Redis channels (tests/bench/ws_baseline.js;
#          goal >= 1.5x its rate with p99 <= 50 ms); gateway memory per
#          idle socket (goal <= 10 KB)
#
# Alone (tests/bench/gateway.sh) it starts its own stack on the bench
# ports (.run-bench/, as make bench); RUN_DIR and the GAVEL_*_PORT*
# variables move it. From run.sh (GAVEL_BENCH_STACK_UP=1) it uses the
# daemons that run and starts only the gateway. Rate limits: off
# (GAVEL_GATEWAY_RATE_LIMITS=off) for every throughput figure, the
# defaults for the login burst.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

export RUN_DIR=${RUN_DIR:-$ROOT/.run-bench} BUILD=${BUILD:-$ROOT/build}
export GAVEL_PG_PORT=${GAVEL_PG_PORT:-15682} GAVEL_REDIS_PORT=${GAVEL_REDIS_PORT:-15689}
export GAVEL_PORT_BASE_GRPC=${GAVEL_PORT_BASE_GRPC:-16550}
export GAVEL_PORT_BASE_METRICS=${GAVEL_PORT_BASE_METRICS:-9600}
export GAVEL_GATEWAY_PORT=${GAVEL_GATEWAY_PORT:-8580}
SECONDS_EACH=${GAVEL_BENCH_SECONDS:-10}
WS_SECONDS=${GAVEL_BENCH_WS_SECONDS:-$SECONDS_EACH}
BIN=$BUILD/bin
out=$RUN_DIR/bench
USERS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))
AUCTIONS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 2))
BIDS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 3))
GW=http://127.0.0.1:$GAVEL_GATEWAY_PORT
WS_BASE_PORT=$((GAVEL_GATEWAY_PORT + 1))   # the Node baseline
CONC=64          # REST: connections (wrk) and calls in flight (gRPC)
WS_CLIENTS=${GAVEL_BENCH_WS_CLIENTS:-5000}
ulimit -n "$(ulimit -Hn)"   # 5,000 sockets on each side

pids=()
gw_pid=
cleanup() {
    local p
    # (a daemon's status after SIGTERM is 143: not this script's)
    [[ -n $gw_pid ]] && { kill "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; }
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [[ ${GAVEL_BENCH_STACK_UP:-0} == 1 ]] || deploy/dev/stack.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# wait_healthy, field, ratio, goal, settle
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

# ---- the stack ------------------------------------------------------------------------
if [[ ${GAVEL_BENCH_STACK_UP:-0} != 1 ]]; then
    deploy/dev/stack.sh stop >/dev/null 2>&1 || true
    rm -rf "$RUN_DIR"
    deploy/dev/stack.sh infra >/dev/null
fi
mkdir -p "$out" "$RUN_DIR/logs"
start_daemon() {   # name, address, extra env...
    local svc=$1 addr=$2
    shift 2
    "$BIN/gavel-health" "$addr" >/dev/null 2>&1 && return 0
    mapfile -t env_lines < <(deploy/dev/stack.sh env "$svc")
    env "${env_lines[@]}" "$@" "$BIN/gavel-$svc" 2>>"$RUN_DIR/logs/$svc.log" &
    pids+=($!)
    wait_healthy "$addr"
}
# The users daemon as run.sh runs it: no per-address login throttle, so the
# login burst reaches the password hashing as a botnet's would.
start_daemon users "$USERS_ADDR" GAVEL_LOGIN_ADDRESS_FAILURES=0
start_daemon auctions "$AUCTIONS_ADDR"
start_daemon bids "$BIDS_ADDR"
mapfile -t gw_env < <(deploy/dev/stack.sh env gateway)
mapfile -t bids_env < <(deploy/dev/stack.sh env bids)
GW_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 8))

# Starts the gateway with the extra settings given ("KEY=VALUE"...);
# stops the one before.
start_gateway() {
    if [[ -n $gw_pid ]]; then
        kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
    fi
    env "${gw_env[@]}" "$@" "$BIN/gavel-gateway" 2>>"$RUN_DIR/logs/gateway.log" &
    gw_pid=$!
    wait_healthy "$GW_ADDR"
}

echo "== gateway bench: $CONC funded bidders, the lot to read, and the lots to bid on"
PYTHONPATH=$BUILD/py /usr/bin/python3 tests/bench/bidders.py "$USERS_ADDR" "$RUN_DIR/admin.env" \
    "$CONC" >"$out/gw-bidders.txt" 2>"$out/gw-seller.txt"
seller=$(awk '{print $1}' "$out/gw-seller.txt")
read -r read_lot read_token < <(PYTHONPATH=$BUILD/py /usr/bin/python3 tests/bench/gateway_lot.py \
    "$USERS_ADDR" "$AUCTIONS_ADDR" "$RUN_DIR/admin.env")
REST_LOTS=1000
GRPC_FIRST=9100000     # PlaceBid directly over gRPC
WRK_FIRST=9200000      # POST …/bids through the gateway
WS_FIRST=9300000       # the WebSocket runs: 101 fresh lots per run
WS_RUNS=8
openers=()
for first in "$GRPC_FIRST" "$WRK_FIRST"; do
    env "${bids_env[@]}" "$BIN/gavel-bench" open "$BIDS_ADDR" "$first" "$REST_LOTS" "$seller" \
        >/dev/null &
    openers+=($!)
done
env "${bids_env[@]}" "$BIN/gavel-bench" open "$BIDS_ADDR" "$WS_FIRST" $((WS_RUNS * 101)) \
    "$seller" >/dev/null &
openers+=($!)
wait "${openers[@]}"

PARTS=${GAVEL_BENCH_GATEWAY_PARTS:-rest ws}
# ---- REST ------------------------------------------------------------------------------
if [[ " $PARTS " == *" rest "* ]]; then
start_gateway GAVEL_GATEWAY_RATE_LIMITS=off
wrk_run() {   # mode, seconds, wrk options...; prints the script's summary line
    local mode=$1 secs=$2
    shift 2
    GAVEL_WRK_MODE=$mode wrk -d "${secs}s" -s tests/bench/gateway.lua "$@" "$GW" |
        grep '^requests='
}
settle
echo "== GET /api/v1/lots/$read_lot through the gateway, wrk $CONC connections, ${SECONDS_EACH}s"
gw_get=$(GAVEL_WRK_PATH=/api/v1/lots/$read_lot GAVEL_WRK_TOKEN=$read_token \
         wrk_run get "$SECONDS_EACH" -t 2 -c "$CONC")
echo "   $gw_get"
settle
echo "== Auctions/GetLot directly over gRPC, $CONC in flight, ${SECONDS_EACH}s"
grpc_get=$("$BIN/gavel-bench" getlot "$AUCTIONS_ADDR" "$CONC" "$SECONDS_EACH" "$read_token" \
           "$read_lot")
echo "   $grpc_get"
settle
echo "== POST /api/v1/lots/{id}/bids through the gateway over $REST_LOTS lots, wrk $CONC connections, ${SECONDS_EACH}s"
gw_bid=$(GAVEL_WRK_TOKENS=$out/gw-bidders.txt GAVEL_WRK_FIRST_LOT=$WRK_FIRST \
         GAVEL_WRK_LOTS=$REST_LOTS GAVEL_WRK_THREADS=2 wrk_run bid "$SECONDS_EACH" -t 2 -c "$CONC")
echo "   $gw_bid"
settle
echo "== Bids/PlaceBid directly over gRPC over $REST_LOTS lots, $CONC bidders, ${SECONDS_EACH}s"
grpc_bid=$("$BIN/gavel-bench" place "$BIDS_ADDR" "$CONC" "$SECONDS_EACH" "$out/gw-bidders.txt" \
           "$GRPC_FIRST" "$REST_LOTS")
echo "   ${grpc_bid//$'\n'/ }"

# The login burst, with the gateway's default limits: 2,000 wrong-password
# logins from 64 connections at once, while 8 other connections read the
# lot, each pausing 10 ms between reads. The reads' p99 during the burst
# (wrk is stopped when the burst's last answer is in) against the same
# reads for 5 s with no burst. The readers share one address and read
# faster than a client may by default, so their read buckets are raised:
# otherwise both figures would time 429s.
BURST=2000
start_gateway GAVEL_GATEWAY_RATE_READ_ADDR_PER_MIN=1000000 GAVEL_GATEWAY_RATE_READ_ADDR_BURST=1000000 \
    GAVEL_GATEWAY_RATE_READ_USER_PER_MIN=1000000 GAVEL_GATEWAY_RATE_READ_USER_BURST=1000000
settle
export GAVEL_WRK_PATH=/api/v1/lots/$read_lot GAVEL_WRK_TOKEN=$read_token
paced=(-s tests/bench/gateway.lua -t 1 -c 8)
echo "== GET paced (8 connections, 10 ms apart), no burst, 5s"
idle_get=$(GAVEL_WRK_DELAY_MS=10 wrk_run get 5 -t 1 -c 8)
echo "   $idle_get"
echo "== the same during a burst of $BURST wrong-password logins (64 connections)"
rm -f "$out"/burst-done.*
# Both wrk run until SIGINT (their report then covers the burst alone).
GAVEL_WRK_MODE=get GAVEL_WRK_DELAY_MS=10 wrk -d 120s "${paced[@]}" "$GW" >"$out/burst-get.txt" &
get_wrk=$!
t0=$(date +%s%N)
GAVEL_WRK_MODE=login GAVEL_WRK_COUNT=$BURST GAVEL_WRK_DONE=$out/burst-done GAVEL_WRK_THREADS=1 \
    wrk -d 120s -s tests/bench/gateway.lua -t 1 -c 64 "$GW" >"$out/burst.txt" &
burst_wrk=$!
until [[ -e $out/burst-done.0 ]] || ! kill -0 "$burst_wrk" 2>/dev/null; do sleep 0.01; done
burst_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -INT "$burst_wrk" "$get_wrk" 2>/dev/null || true
wait "$burst_wrk" "$get_wrk" || true
unset GAVEL_WRK_PATH GAVEL_WRK_TOKEN
burst=$(grep "^requests=" "$out/burst.txt")
burst_get=$(grep "^requests=" "$out/burst-get.txt")
echo "   burst: $burst_ms ms; $burst"
echo "   reads: $burst_get"

# ---- REST figures -------------------------------------------------------------------
gw_bid_ok=$(awk "BEGIN{printf \"%.0f\", $(field status_2xx "$gw_bid") / $(field seconds "$gw_bid")}")
printf '\n%-46s %9s %8s %8s   %-30s %6s  %s\n' "gateway REST (one run, $(nproc) cores)" "req/s" \
    "p50 ms" "p99 ms" "baseline (direct gRPC)" "ratio" "goal"
r=$(ratio "$(field rps "$gw_get")" "$(field rps "$grpc_get")")
printf '%-46s %9s %8s %8s   %-30s %6s  %s\n' "GET /api/v1/lots/{id}, $CONC connections" \
    "$(field rps "$gw_get")" "$(field p50_ms "$gw_get")" "$(field p99_ms "$gw_get")" \
    "GetLot $(field rps "$grpc_get")/s p99 $(field p99_ms "$grpc_get")" "$r" \
    ">= 0.6 $(goal "$r" 0.6 ge)"
r=$(ratio "$(field rps "$gw_bid")" "$(field answered_per_s "$grpc_bid")")
printf '%-46s %9s %8s %8s   %-30s %6s  %s\n' "POST …/bids, $CONC connections, every answer" \
    "$(field rps "$gw_bid")" "$(field p50_ms "$gw_bid")" "$(field p99_ms "$gw_bid")" \
    "PlaceBid $(field answered_per_s "$grpc_bid")/s p99 $(field answer_99th_ms "$grpc_bid")" \
    "$r" ">= 0.6 $(goal "$r" 0.6 ge)"
r=$(ratio "$gw_bid_ok" "$(field rps "$grpc_bid")")
printf '%-46s %9s %8s %8s   %-30s %6s\n' "  of which accepted (2xx)" "$gw_bid_ok" "" "" \
    "accepted $(field rps "$grpc_bid")/s" "$r"
r=$(ratio "$(field p99_ms "$burst_get")" "$(field p99_ms "$idle_get")")
printf '%-46s %9s %8s %8s   %-30s %6s  %s\n' "GET paced, during $BURST bad logins (p99 x)" \
    "$(field rps "$burst_get")" "$(field p50_ms "$burst_get")" "$(field p99_ms "$burst_get")" \
    "idle p99 $(field p99_ms "$idle_get") ms" "$r" "<= 2 $(goal "$r" 2 le)"
echo
echo "REST: GET answers $(field status_2xx "$gw_get") 2xx, $(field status_4xx "$gw_get") 4xx, $(field status_5xx "$gw_get") 5xx, $(field socket_errors "$gw_get") socket errors; gRPC errors $(field errors "$grpc_get")"
echo "REST: POST bids $(field status_2xx "$gw_bid") accepted, $(field status_4xx "$gw_bid") refused (4xx), $(field status_429 "$gw_bid") 429, $(field status_5xx "$gw_bid") 5xx; gRPC: $(field refused "$grpc_bid") refused, $(field errors "$grpc_bid") errors"
echo "login burst (gateway default limits; users without its per-address throttle): $BURST logins in $burst_ms ms: $(field status_4xx "$burst") 401, $(field status_429 "$burst") 429, $(field status_5xx "$burst") 5xx, $(field status_2xx "$burst") 2xx; GET idle $(field rps "$idle_get")/s, during $(field rps "$burst_get")/s"
fi

# ---- WebSocket fan-out --------------------------------------------------------------
# Each run: WS_CLIENTS sockets on one lot, or spread over 100 lots (50
# each), then bids from 64 bidders at 100/s in all or back to back, on
# fresh lots. The same runs against the gateway and against the Node
# baseline, both fed by the bids daemon's Redis channels.
[[ " $PARTS " == *" ws "* ]] || exit 0
start_gateway GAVEL_GATEWAY_RATE_LIMITS=off
node_pid=
start_node() {
    if [[ -n $node_pid ]]; then
        kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
    fi
    NODE_PATH=/usr/share/nodejs node tests/bench/ws_baseline.js "$WS_BASE_PORT" \
        "127.0.0.1:$GAVEL_REDIS_PORT" 2>>"$RUN_DIR/logs/ws_baseline.log" &
    node_pid=$!
    pids+=("$node_pid")
    for _ in $(seq 500); do
        curl -s -o /dev/null "http://127.0.0.1:$WS_BASE_PORT/" && return 0
        sleep 0.02
    done
    echo "the Node baseline did not start (see $RUN_DIR/logs/ws_baseline.log)" >&2
    return 1
}
start_node
settle
echo "== memory per idle socket: $WS_CLIENTS subscribed sockets, then idle 2 s (fresh processes)"
ws_idle_gw=$("$BIN/gavel-bench" ws-idle "127.0.0.1:$GAVEL_GATEWAY_PORT" "$WS_CLIENTS" "$WS_FIRST" \
             "$gw_pid" 2>>"$out/ws-errors.txt") || true
echo "   gateway: $ws_idle_gw"
ws_idle_node=$("$BIN/gavel-bench" ws-idle "127.0.0.1:$WS_BASE_PORT" "$WS_CLIENTS" "$WS_FIRST" \
               "$node_pid" 2>>"$out/ws-errors.txt") || true
echo "   node: $ws_idle_node"

declare -A ws
run_no=0
gw_ws=up
for scen in one spread; do
    for rate in 100 max; do
        for srv in gateway node; do
            port=$GAVEL_GATEWAY_PORT
            [[ $srv == node ]] && port=$WS_BASE_PORT
            first=$((WS_FIRST + run_no * 101))
            nlots=1
            if [[ $scen == spread ]]; then first=$((first + 1)); nlots=100; fi
            run_no=$((run_no + 1))
            rate_arg=()
            [[ $rate != max ]] && rate_arg=("$rate")
            if [[ $srv == gateway && $gw_ws == none ]]; then
                ws[$srv-$scen-$rate]="ready=0 (no /ws)"
                continue
            fi
            # A fresh server each run: no backlog of the run before, as
            # the Node baseline keeps sending to the sockets it closes.
            if [[ $srv == node ]]; then start_node; else start_gateway GAVEL_GATEWAY_RATE_LIMITS=off; fi
            settle
            echo "== $srv: $WS_CLIENTS WebSocket clients over $nlots lot(s), bids ${rate}${rate_arg:+/s}, ${WS_SECONDS}s"
            ws[$srv-$scen-$rate]=$("$BIN/gavel-bench" ws "127.0.0.1:$port" "$WS_CLIENTS" "$first" \
                "$nlots" "$WS_SECONDS" "$BIDS_ADDR" "$out/gw-bidders.txt" 64 \
                ${rate_arg[@]+"${rate_arg[@]}"} 2>>"$out/ws-errors.txt" | tr '\n' ' ') || true
            echo "   ${ws[$srv-$scen-$rate]}"
            # A gateway that takes no WebSocket at all is not run again.
            if [[ $srv == gateway && $(field connected "${ws[$srv-$scen-$rate]}") == 0 ]]; then
                gw_ws=none
                echo "   the gateway accepted no WebSocket on /ws: its other runs are skipped"
            fi
        done
    done
done
# ---- WebSocket figures ------------------------------------------------------------------
printf '\n%-38s %10s %8s %8s %8s %7s   %-26s %6s  %s\n' \
    "gateway WebSocket fan-out ($WS_CLIENTS clients)" "deliv/s" "p50 ms" "p99 ms" "p999 ms" \
    "bids/s" "baseline: Node ws, deliv/s" "ratio" "goal (>= 1.5x, p99 <= 50 ms)"
for scen in one spread; do
    for rate in 100 max; do
        g=${ws[gateway-$scen-$rate]} n=${ws[node-$scen-$rate]}
        label="1 lot"
        [[ $scen == spread ]] && label="100 lots"
        label+=", bids ${rate}"
        [[ $rate != max ]] && label+="/s"
        gd=$(field delivered_per_s "$g") nd=$(field delivered_per_s "$n")
        r=$(ratio "${gd:-0}" "${nd:-0}")
        verdict=MISSED
        if [[ -z $gd || $(field ready "$g") == 0 ]]; then
            verdict="no figure"
        elif [[ $(goal "$gd" "$(awk "BEGIN{print 1.5 * ${nd:-0}}")" ge) == met &&
                $(field lat_p99_ms "$g") =~ ^[0-9.]+$ &&
                $(goal "$(field lat_p99_ms "$g")" 50 le) == met ]]; then
            verdict=met
        fi
        printf '%-38s %10s %8s %8s %8s %7s   %-26s %6s  %s\n' "  $label" \
            "$(field delivered_per_s "$g")" "$(field lat_p50_ms "$g")" "$(field lat_p99_ms "$g")" \
            "$(field lat_p999_ms "$g")" "$(field rps "$g")" \
            "$(field delivered_per_s "$n") (p99 $(field lat_p99_ms "$n"))" "$r" "$verdict"
    done
done
per=$(field bytes_per_socket "$ws_idle_gw")
printf '%-38s %10s   %-44s %6s  %s\n' "  memory per idle socket (bytes)" "${per:--}" \
    "Node: $(field bytes_per_socket "$ws_idle_node")" \
    "$(ratio "${per:-0}" "$(field bytes_per_socket "$ws_idle_node")")" \
    "<= 10240 $([[ -n $per && $(field ready "$ws_idle_gw") != 0 ]] && goal "$per" 10240 le || echo "no figure")"
echo
for k in "${!ws[@]}"; do
    v=${ws[$k]}
    echo "ws $k: ready $(field ready "$v")/$(field clients "$v") (failed $(field failed "$v"), closed early $(field closed_early "$v")), setup $(field setup_s "$v") s, bids accepted $(field rps "$v")/s, missing $(field missing "$v") of $(field expected "$v") timed deliveries, client CPU $(field client_cpu_s "$v") s"
done | sort
[[ -s $out/ws-errors.txt ]] && echo "client messages: $(sort "$out/ws-errors.txt" | uniq -c | sort -rn | head -5 | tr '\n' ';')"
echo "(the bench client, the bidders, the daemons, Redis and PostgreSQL share the machine's $(nproc) cores)"
