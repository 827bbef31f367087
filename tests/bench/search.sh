#!/usr/bin/env bash
# The search daemon's benchmark, beside its baseline from the same run
# (make bench runs it from tests/bench/run.sh, on its stack):
#
#   catalog  GAVEL_BENCH_SEARCH_LOTS (100,000) generated vehicle lots
#            (tests/bench/search_lots.sql, one INSERT … SELECT straight into
#            gavel_auctions.lots), then indexed by a Reindex (ListLots pages
#            through the auctions daemon into a new table, swapped in): the
#            reindex time is the index's build time
#   Search   text + 3 filters + 3 facets, 20 hits (gavel-bench search) at 1
#            and 16 clients: p50/p99 and queries/s
#   baseline the same searches as ILIKE + filters + one GROUP BY per facet
#            over gavel_auctions.lots (tests/bench/naive_search.sql) by
#            pgbench at 16 clients; ratio of queries/s (goal >= 5) and the
#            Search p99 at 16 clients (goal <= 20 ms)
#   Suggest  2-5 character prefixes at 16 clients
#   indexing bid.placed events published straight to gavel.bids
#            (tests/bench/search_events.py): 1,000/s evenly for the run's
#            seconds, the daemon's lag histogram over them (p50 and p99,
#            goal p99 <= 1 s), then 20,000 at once: applied events/s (and
#            how long the publisher itself took, which bounds it)
#
# GAVEL_BENCH_SEARCH_PARTS=index runs only the catalog, the reindex and
# the indexing part (lag and burst), e.g. with GAVEL_BENCH_SEARCH_LOTS
# smaller, to compare the consumer's write path quickly.
#
# Alone (tests/bench/search.sh) it starts its own stack on the bench ports
# (.run-bench/, as make bench) with the users and auctions daemons; from
# run.sh (GAVEL_BENCH_STACK_UP=1) it uses the users and auctions daemons
# that run. Either way it starts its own gavel-search.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

export RUN_DIR=${RUN_DIR:-$ROOT/.run-bench} BUILD=${BUILD:-$ROOT/build}
export GAVEL_PG_PORT=${GAVEL_PG_PORT:-15682} GAVEL_REDIS_PORT=${GAVEL_REDIS_PORT:-15689}
export GAVEL_PORT_BASE_GRPC=${GAVEL_PORT_BASE_GRPC:-16550}
export GAVEL_PORT_BASE_METRICS=${GAVEL_PORT_BASE_METRICS:-9600}
export GAVEL_GATEWAY_PORT=${GAVEL_GATEWAY_PORT:-8580}
SECONDS_EACH=${GAVEL_BENCH_SECONDS:-10}
LOTS=${GAVEL_BENCH_SEARCH_LOTS:-100000}
PARTS=${GAVEL_BENCH_SEARCH_PARTS:-all}
CLIENTS=16
BID_RATE=1000
BURST=20000
BIN=$BUILD/bin
out=$RUN_DIR/bench
USERS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))
AUCTIONS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 2))
SEARCH_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 4))

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
    start_daemon users
    wait_healthy "$USERS_ADDR"
    start_daemon auctions
    wait_healthy "$AUCTIONS_ADDR"
fi
mkdir -p "$out" "$RUN_DIR/logs"
start_daemon search
search_pid=${pids[-1]}
wait_healthy "$SEARCH_ADDR"
mapfile -t search_env < <(deploy/dev/stack.sh env search)
metrics=http://127.0.0.1:$(printf '%s\n' "${search_env[@]}" | sed -n 's/^GAVEL_METRICS_PORT=//p')/metrics
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$GAVEL_PG_PORT" -U gavel -d "$@"; }

echo "== generating $LOTS lots in gavel_auctions (tests/bench/search_lots.sql)"
t0=$(date +%s%N)
psql_db gavel_auctions -v n="$LOTS" -f tests/bench/search_lots.sql >/dev/null
load_s=$(awk "BEGIN{printf \"%.1f\", ($(date +%s%N) - $t0) / 1e9}")
read -r first_lot last_lot visible < <(psql_db gavel_auctions -tA -F ' ' -c \
    "SELECT min(id), max(id), count(*) FILTER (WHERE state IN ('scheduled', 'live', 'closed'))
     FROM lots WHERE photo_urls[1] LIKE 'https://img.gavel.test/bench/%'")
echo "   ${load_s}s; lots $first_lot..$last_lot, $visible visible"

echo "== Reindex of the catalog (make reindex's call)"
t0=$(date +%s%N)
/usr/bin/python3 deploy/dev/search_reindex.py --users "$USERS_ADDR" --search "$SEARCH_ADDR" \
    --admin-env "$RUN_DIR/admin.env" --reason bench >"$out/reindex.txt"
reindex_s=$(awk "BEGIN{printf \"%.1f\", ($(date +%s%N) - $t0) / 1e9}")
docs=$(psql_db gavel_search -tA -c "SELECT count(*) FROM docs")
echo "   ${reindex_s}s, $docs documents"
psql_db gavel_search -c "VACUUM ANALYZE docs" >/dev/null
settle

if [[ $PARTS == all ]]; then
echo "== Search: text + 3 filters + 3 facets, 1 client, ${SECONDS_EACH}s"
alone=$(env "${search_env[@]}" "$BIN/gavel-bench" search "$SEARCH_ADDR" 1 "$SECONDS_EACH")
echo "   ${alone//$'\n'/ }"
echo "== Search: the same, $CLIENTS clients, ${SECONDS_EACH}s"
conc=$(env "${search_env[@]}" "$BIN/gavel-bench" search "$SEARCH_ADDR" "$CLIENTS" "$SECONDS_EACH")
echo "   ${conc//$'\n'/ }"
echo "== Suggest, $CLIENTS clients, ${SECONDS_EACH}s"
sugg=$(env "${search_env[@]}" "$BIN/gavel-bench" suggest "$SEARCH_ADDR" "$CLIENTS" "$SECONDS_EACH")
echo "   ${sugg//$'\n'/ }"
settle

echo "== baseline: ILIKE + filters + GROUP BY facets on gavel_auctions (pgbench, $CLIENTS clients)"
(cd "$out" && rm -f pgbench_log.* &&
 pgbench -n -M prepared -h 127.0.0.1 -p "$GAVEL_PG_PORT" -U gavel -c "$CLIENTS" -j 2 \
     -T "$SECONDS_EACH" -f "$ROOT/tests/bench/naive_search.sql" -l gavel_auctions \
     >"$out/naive-search.txt" 2>&1) || { cat "$out/naive-search.txt"; exit 1; }
naive_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/naive-search.txt" | head -1)
read -r naive_p50 naive_p99 < <(cat "$out"/pgbench_log.* | awk '{print $3}' | sort -n |
    awk '{v[NR]=$1} END {printf "%.1f %.1f\n", v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000}')
echo "   tps=$naive_tps p50_ms=$naive_p50 p99_ms=$naive_p99"
settle
fi

# The lag histogram's quantile $1 (0.5, 0.99) over what was applied since
# the snapshot $2 until $3 (the bucket lines of /metrics scrapes): the
# smallest bound that holds that share of the new observations.
lag_buckets() { curl -s "$metrics" | grep '^gavel_search_index_lag_seconds_bucket'; }
lag_q() {
    join <(sed 's/.*le="\([^"]*\)"} \([0-9.]*\)/\1 \2/' <<<"$2" | sort) \
         <(sed 's/.*le="\([^"]*\)"} \([0-9.]*\)/\1 \2/' <<<"$3" | sort) |
    awk -v q="$1" '{le = $1 == "+Inf" ? 1e99 : $1; d[le] = $3 - $2; if (d[le] > n) n = d[le]}
         END {for (k in d) if (d[k] >= q * n && (best == "" || k + 0 < best + 0)) best = k;
              print (n == 0 ? "-" : best)}'
}
applied() { curl -s "$metrics" | sed -n 's/^gavel_search_events_applied_total \([0-9]*\).*/\1/p'; }
bootstrap=$(head -n 1 "$RUN_DIR/kafka.bootstrap")
events() { PYTHONPATH=$BUILD/py /usr/bin/python3 tests/bench/search_events.py "$bootstrap" \
               "$first_lot" "$last_lot" "$@"; }
echo "== bids at $BID_RATE/s for ${SECONDS_EACH}s into the index (lag)"
before=$(lag_buckets)
paced=$(events "$BID_RATE" "$SECONDS_EACH")
sleep 2
after=$(lag_buckets)
lag=$(lag_q 0.99 "$before" "$after")
lag50=$(lag_q 0.5 "$before" "$after")
echo "   $paced lag_p50_le_s=$lag50 lag_p99_le_s=$lag"
echo "== $BURST bids at once (applied events/s)"
a0=$(applied)
events 0 "$BURST" >"$out/burst-publisher.txt" &
pub=$!
t0=$(date +%s%N)
while (( $(applied) - a0 < BURST )) && (( $(date +%s%N) - t0 < 120000000000 )); do sleep 0.2; done
burst_s=$(awk "BEGIN{printf \"%.2f\", ($(date +%s%N) - $t0) / 1e9}")
wait "$pub"
burst_n=$(( $(applied) - a0 ))
eps=$(awk "BEGIN{printf \"%.0f\", $burst_n / $burst_s}")
echo "   applied=$burst_n in ${burst_s}s (publisher: $(cat "$out/burst-publisher.txt"))"

echo
if [[ $PARTS == all ]]; then
qps=$(field rps "$conc")
printf '%-52s %9s %8s %8s   %-34s %6s\n' "search, $docs documents ($visible visible), $(nproc) cores" \
    "calls/s" "p50 ms" "p99 ms" "baseline" "ratio"
printf '%-52s %9s %8s %8s\n' "Search text+3 filters+3 facets, 1 client" "$(field rps "$alone")" \
    "$(field p50_ms "$alone")" "$(field p99_ms "$alone")"
printf '%-52s %9s %8s %8s   %-34s %6s\n' "Search text+3 filters+3 facets, $CLIENTS clients" "$qps" \
    "$(field p50_ms "$conc")" "$(field p99_ms "$conc")" \
    "ILIKE+GROUP BY $naive_tps/s (p99 $naive_p99)" "$(ratio "$qps" "$naive_tps")"
printf '%-52s %9s %8s %8s\n' "  baseline: ILIKE + filters + GROUP BY (pgbench)" "$naive_tps" \
    "$naive_p50" "$naive_p99"
printf '%-52s %9s %8s %8s\n' "Suggest, $CLIENTS clients" "$(field rps "$sugg")" \
    "$(field p50_ms "$sugg")" "$(field p99_ms "$sugg")"
echo
echo "Search at $CLIENTS clients: p99 $(field p99_ms "$conc") ms (goal <= 20: $(goal "$(field p99_ms "$conc")" 20 le)), $(ratio "$qps" "$naive_tps") x the baseline's queries/s (goal >= 5: $(goal "$(ratio "$qps" "$naive_tps")" 5 ge)); mean total $(field mean_total "$conc"), hits $(field mean_hits "$conc")"
echo "Suggest p99 $(field p99_ms "$sugg") ms, mean $(field mean_hits "$sugg") suggestions"
fi
echo "index lag at $BID_RATE bids/s: p50 <= ${lag50} s, p99 <= ${lag} s (histogram bounds; goal p99 <= 1 s: $( [[ $lag == - ]] && echo "not measured" || goal "$lag" 1 le))"
echo "indexing: $eps bid events/s applied ($burst_n of a burst of $BURST in ${burst_s}s; publisher $(field seconds "$(cat "$out/burst-publisher.txt")")s)"
echo "catalog of $LOTS lots generated in ${load_s}s (SQL); reindex ${reindex_s}s (goal <= 60 s: $(goal "$reindex_s" 60 le))"
if [[ $PARTS == all ]]; then
    echo "errors: search $(field errors "$alone")/$(field errors "$conc"), suggest $(field errors "$sugg")"
fi
