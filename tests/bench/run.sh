#!/usr/bin/env bash
# make bench: measures the rpc runtime and the users wallet on this machine,
# each beside its baseline, from one run. Uses its own stack (.run-bench,
# its own ports) so neither `make run` nor `make test` is disturbed.
#
#   Ping RPC at 64 concurrent streams     vs MEASURED.md's gRPC C core figure
#   ReserveFunds at 32 concurrent clients vs the same transaction run by
#                                            pgbench at 32 clients (no gRPC)
#   PlaceBid at 64 bidders, one hot lot    vs the naive design (one locking
#   and spread over 10,000 lots              PostgreSQL transaction per bid)
#                                            via pgbench at 64 clients
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
bids_pid=
BIDS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 3))

cleanup() {
    [[ -n $bids_pid ]] && kill "$bids_pid" 2>/dev/null && wait "$bids_pid" 2>/dev/null
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

# ---- the bids engine ------------------------------------------------------------------
mapfile -t bids_env < <(deploy/dev/stack.sh env bids)
env "${bids_env[@]}" "$BIN/gavel-bids" 2>"$RUN_DIR/logs/bids.log" &
bids_pid=$!
for _ in $(seq 100); do
    "$BIN/gavel-health" "$BIDS_ADDR" >/dev/null 2>&1 && break
    sleep 0.1
done
"$BIN/gavel-health" "$BIDS_ADDR" >/dev/null

echo "== Ping on the bids daemon, $PING_CONC in flight, ${SECONDS_EACH}s (the runtime's ceiling)"
bping=$("$BIN/gavel-bench" ping "$BIDS_ADDR" "$PING_CONC" "$SECONDS_EACH" /gavel.bids.v1.Bids/Ping)
echo "   $bping"

BIDDERS=64
SPREAD=10000
echo "== creating $BIDDERS funded bidders and opening 1 + $SPREAD lots"
PYTHONPATH=$BUILD/py /usr/bin/python3 tests/bench/bidders.py "$USERS_ADDR" "$RUN_DIR/admin.env" \
    "$BIDDERS" >"$out/bidders.txt" 2>"$out/seller.txt"
seller=$(awk '{print $1}' "$out/seller.txt")
env "${bids_env[@]}" "$BIN/gavel-bench" open "$BIDS_ADDR" 1 1 "$seller" >/dev/null
openers=()
for part in 0 1 2 3; do   # four openers in parallel
    env "${bids_env[@]}" "$BIN/gavel-bench" open "$BIDS_ADDR" $((1000 + part * SPREAD / 4)) \
        $((SPREAD / 4)) "$seller" >/dev/null &
    openers+=($!)
done
wait "${openers[@]}"

echo "== PlaceBid, $BIDDERS bidders on one hot lot, ${SECONDS_EACH}s"
hot=$("$BIN/gavel-bench" place "$BIDS_ADDR" "$BIDDERS" "$SECONDS_EACH" "$out/bidders.txt" 1 1)
echo "   ${hot//$'\n'/ }"
half=$(awk "BEGIN{r=int($(field rps "$hot")/2); print (r < 1 ? 1 : r)}")
echo "== PlaceBid on the hot lot paced at half that rate ($half bids/s sent), ${SECONDS_EACH}s"
hot_half=$("$BIN/gavel-bench" place "$BIDS_ADDR" "$BIDDERS" "$SECONDS_EACH" "$out/bidders.txt" 1 1 "$half")
echo "   ${hot_half//$'\n'/ }"
echo "== PlaceBid, $BIDDERS bidders over $SPREAD lots, ${SECONDS_EACH}s"
spread=$("$BIN/gavel-bench" place "$BIDS_ADDR" "$BIDDERS" "$SECONDS_EACH" "$out/bidders.txt" 1000 "$SPREAD")
echo "   ${spread//$'\n'/ }"

echo "== naive baseline: one locking transaction per bid (pgbench, $BIDDERS clients)"
psql_bench() { psql -q -h 127.0.0.1 -p "$GAVEL_PG_PORT" -U gavel "$@"; }
psql_bench -d postgres -c "DROP DATABASE IF EXISTS gavel_bench" -c "CREATE DATABASE gavel_bench" >/dev/null
psql_bench -d gavel_bench -f tests/bench/naive_schema.sql >/dev/null
naive() {  # $1 = number of lots
    (cd "$out" && rm -f pgbench_log.* &&
     pgbench -n -h 127.0.0.1 -p "$GAVEL_PG_PORT" -U gavel -c "$BIDDERS" -j 2 -T "$SECONDS_EACH" \
         -D nlots="$1" -f "$ROOT/tests/bench/naive_bid.sql" -l gavel_bench >"$out/naive-$1.txt" 2>&1)
    local tps p50 p99
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/naive-$1.txt" | head -1)
    read -r p50 p99 < <(cat "$out"/pgbench_log.* | awk '{print $3}' | sort -n |
        awk '{v[NR]=$1} END {printf "%.3f %.3f\n", v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000}')
    echo "$tps $p50 $p99"
}
read -r naive_hot naive_hot_p50 naive_hot_p99 < <(naive 1)
read -r naive_spread naive_spread_p50 naive_spread_p99 < <(naive "$SPREAD")

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
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
printf '%-44s %10s %9s %9s   %-34s %7s\n' "Ping on bids (runtime ceiling)" "$(field rps "$bping")" \
    "$(field p50_ms "$bping")" "$(field p99_ms "$bping")" "" ""
printf '%-44s %10s %9s %9s   %-34s %7s\n' "PlaceBid, $BIDDERS bidders, 1 hot lot" "$(field rps "$hot")" \
    "$(field p50_ms "$hot")" "$(field p99_ms "$hot")" "naive $naive_hot tps (p99 $naive_hot_p99)" \
    "$(ratio "$(field rps "$hot")" "$naive_hot")"
printf '%-44s %10s %9s %9s   %-34s %7s\n' "PlaceBid, $BIDDERS bidders, $SPREAD lots" \
    "$(field rps "$spread")" "$(field p50_ms "$spread")" "$(field p99_ms "$spread")" \
    "naive $naive_spread tps (p99 $naive_spread_p99)" "$(ratio "$(field rps "$spread")" "$naive_spread")"
printf '%-44s %10s %9s %9s   %-34s\n' "PlaceBid, hot lot, paced at $half sent/s" \
    "$(field rps "$hot_half")" "$(field p50_ms "$hot_half")" "$(field p99_ms "$hot_half")" \
    "goal: p99 <= 10 ms"
echo
echo "PlaceBid hot lot: $(field p999_ms "$hot") ms p999; share of the Ping ceiling: $(ratio "$(field rps "$hot")" "$(field rps "$bping")")"
echo "refused as already outbid: hot $(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$hot"), spread $(sed -n 's/.*refused=\([0-9]*\).*/\1/p' <<<"$spread")"
echo "errors: ping $(field errors "$ping"), reserve $(field errors "$reserve"), hot $(field errors "$hot"), spread $(field errors "$spread")"
