#!/usr/bin/env bash
# The notifications section of make bench, run by tests/bench/run.sh inside
# its stack (.run-bench) while the users and bids daemons it started serve:
#
#   notifications.sh BIDS_ADDR TOKENS FIRST_LOT COUNT
#
# Real PlaceBid load (gavel-bench place over lots from FIRST_LOT) makes
# the bid events; a gavel-notifications daemon of its own consumes
# them; gavel-bench notif-listen PSUBSCRIBEs gavel:user:* and counts what
# reaches the users. Coalescing is off (GAVEL_NOTIFICATIONS_COALESCE_MS=0)
# so every outbid is one message, and email is off (no mail sink): the
# figures are the realtime channel and the inbox.
#
#   1. backlog: the notifications group skips what earlier sections left in
#      the topics (gavel-bench notif-skip), 1,000 lots get 20 followers each
#      (rows written by SQL), bids are placed back to back on them for half
#      of GAVEL_BENCH_SECONDS with the daemon stopped, then the daemon
#      starts and drains them: events consumed per second (from the
#      consumer's own dedupe rows) against the rate the bids engine made
#      them, realtime messages per second, and per hour against the seed
#      platform's 1.51 M/h.
#   2. latency: the followers removed, bids paced at 1,000/s over COUNT
#      lots for GAVEL_BENCH_SECONDS with the daemon caught up; each OUTBID message's receive time minus its
#      createdAtUs (the commit time of the bid that made it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[[ $# -eq 4 ]] || { echo "usage: $0 BIDS_ADDR TOKENS FIRST_LOT COUNT" >&2; exit 2; }
bids_addr=$1 tokens=$2 first=$3 count=$4
: "${RUN_DIR:?run by tests/bench/run.sh}" "${BUILD:?}"
BIN=$BUILD/bin
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
S=${GAVEL_BENCH_SECONDS:-10}
BACKLOG_S=$(( S / 2 > 2 ? S / 2 : 2 ))
BIDDERS=64
RATE=1000
FOLLOWERS=20
FAN_LOTS=1000
SEED_PER_HOUR=1510000
out=$RUN_DIR/bench
mkdir -p "$out"
notif_pid=

stop_notif() {
    [[ -n $notif_pid ]] && { kill "$notif_pid" 2>/dev/null || true; wait "$notif_pid" 2>/dev/null || true; }
    notif_pid=
}
trap stop_notif EXIT

mapfile -t notif_env < <(deploy/dev/stack.sh env notifications)
# The dev broker answers an empty fetch only after fetch.wait.max.ms, so
# an event arriving meanwhile waits for it: 10 ms instead of 50 keeps that
# wait out of the latency (Kafka answers at once; docs/operations.md).
notif_env+=(GAVEL_NOTIFICATIONS_COALESCE_MS=0 GAVEL_SMTP_URL= GAVEL_KAFKA_FETCH_WAIT_MS=10)
envval() { printf '%s\n' "${notif_env[@]}" | sed -n "s/^$1=//p" | tail -1; }
notif_addr=$(envval GAVEL_NOTIFICATIONS_ADDR)
redis=$(envval GAVEL_REDIS_ADDR)
dsn=$(envval GAVEL_PG_DSN)
bootstrap=$(head -n 1 "$(envval GAVEL_KAFKA_BOOTSTRAP_FILE)")

start_notif() {
    env "${notif_env[@]}" "$BIN/gavel-notifications" 2>>"$RUN_DIR/logs/notifications.log" &
    notif_pid=$!
    wait_healthy "$notif_addr"
}

# Starts a listener in the background (its output in $out/$1.txt) and
# waits until it is subscribed.
listen() {  # name max_seconds idle_ms
    rm -f "$out/$1.ready"
    "$BIN/gavel-bench" notif-listen "$redis" "$2" "$3" "$out/$1.ready" >"$out/$1.txt" &
    listen_pid=$!
    for _ in $(seq 500); do [[ -e $out/$1.ready ]] && return 0; sleep 0.01; done
    echo "the listener did not subscribe" >&2
    return 1
}

bids_dsn=${dsn/dbname=gavel_notifications/dbname=gavel_bids}
# Waits (at most 30 s) until the bids relay has published every event.
relayed() {
    for _ in $(seq 300); do
        [[ $(psql -X -tA "$bids_dsn" -c "SELECT count(*) FROM event_outbox WHERE sent_at IS NULL") == 0 ]] &&
            return 0
        sleep 0.1
    done
    echo "   (the bids relay still has unsent events after 30 s)"
}

relayed
echo "== notifications: skipping what earlier sections left in the topics"
"$BIN/gavel-bench" notif-skip "$bootstrap" notifications \
    gavel.bids,gavel.auctions,gavel.users,gavel.wallet | sed 's/^/   /'

# The daemon once, to create its tables (it reads nothing: the offsets
# were just moved to the end), then the followers: FOLLOWERS users on each
# of the first FAN_LOTS lots, as bench data written by SQL (Subscribe
# writes the same rows).
start_notif
stop_notif
psql -q -X -v ON_ERROR_STOP=1 "$dsn" -c "
    INSERT INTO subscriptions (user_id, target, target_key, lot_id, kinds, created_at_us)
    SELECT 3000000 + (l * 7 + f) % 5000, 'lot', 'lot:' || l, l, '{}', 0
    FROM generate_series($first, $first + $FAN_LOTS - 1) l, generate_series(1, $FOLLOWERS) f
    ON CONFLICT DO NOTHING" -c "ANALYZE subscriptions"

echo "== bid events for ${BACKLOG_S}s: PlaceBid, $BIDDERS bidders over $FAN_LOTS lots with $FOLLOWERS followers each, daemon stopped"
backlog=$("$BIN/gavel-bench" place "$bids_addr" "$BIDDERS" "$BACKLOG_S" "$tokens" "$first" "$FAN_LOTS")
echo "   ${backlog//$'\n'/ }"
relayed

echo "== gavel-notifications drains them (realtime + inbox; coalescing off)"
echo "   (each bid: BID_PLACED to the lot's $FOLLOWERS followers, OUTBID to the previous leader)"
listen drain 120 3000
start_notif
wait "$listen_pid"
drain=$(cat "$out/drain.txt")
echo "   $drain"
read -r events ev_span inbox sent < <(psql -X -tA -F' ' "$dsn" -c "
    SELECT (SELECT count(*) FROM event_processed WHERE consumer = 'notifications'),
           (SELECT extract(epoch FROM max(processed_at) - min(processed_at))
              FROM event_processed WHERE consumer = 'notifications'),
           (SELECT count(*) FROM notifications),
           (SELECT count(*) FROM deliveries WHERE state = 'sent' AND channel = 1)")
# Events the bids engine made per second: every accepted bid is one
# bid.placed plus, when it displaced another leader, one bid.outbid.
made_per_s=$(awk -v e="$events" -v s="$BACKLOG_S" 'BEGIN{printf "%.0f", e / s}')
consumed_per_s=$(awk -v e="$events" -v s="${ev_span:-0}" 'BEGIN{printf "%.0f", (s > 0 ? e / s : 0)}')
msgs_per_s=$(field msgs_per_s "$drain")
inbox_per_s=$(awk -v n="$inbox" -v s="$(field span_s "$drain")" 'BEGIN{printf "%.0f", (s > 0 ? n / s : 0)}')

# The latency run tells the outbid bidder only: no followers.
psql -q -X "$dsn" -c "DELETE FROM subscriptions"
echo "== bid committed -> gavel:user:<id>: PlaceBid paced at $RATE/s sent, over $count lots, ${S}s"
listen latency $((S + 30)) 2000
paced=$("$BIN/gavel-bench" place "$bids_addr" "$BIDDERS" "$S" "$tokens" "$first" "$count" "$RATE")
wait "$listen_pid"
lat=$(cat "$out/latency.txt")
echo "   bids: ${paced//$'\n'/ }"
echo "   messages: $lat"
stop_notif

per_h() { awk "BEGIN{printf \"%.0f\", ($1) * 3600}"; }
printf '\n%-46s %11s %8s %8s   %-32s %7s\n' "notifications (one run, $(nproc) cores)" "per second" \
    "p50 ms" "p99 ms" "baseline" "ratio"
printf '%-46s %11s %8s %8s   %-32s %7s\n' "bid events consumed ($events, $FOLLOWERS followers/lot)" \
    "$consumed_per_s" "" "" "made by PlaceBid: $made_per_s/s" "$(ratio "$consumed_per_s" "$made_per_s")"
printf '%-46s %11s %8s %8s   %-32s %7s\n' "  realtime messages published (gavel:user:*)" \
    "$msgs_per_s" "" "" "" ""
printf '%-46s %11s %8s %8s   %-32s %7s\n' "  realtime per hour" "$(per_h "$msgs_per_s")" "" "" \
    "seed: $SEED_PER_HOUR/h" "$(ratio "$(per_h "$msgs_per_s")" "$SEED_PER_HOUR")"
printf '%-46s %11s %8s %8s   %-32s %7s\n' "  realtime messages + inbox rows per hour" \
    "$(per_h "$msgs_per_s + $inbox_per_s")" "" "" "seed: $SEED_PER_HOUR/h" \
    "$(ratio "$(per_h "$msgs_per_s + $inbox_per_s")" "$SEED_PER_HOUR")"
printf '%-46s %11s %8s %8s   %-32s %7s\n' "bid committed -> outbid message, $RATE sent/s" \
    "$(field msgs_per_s "$lat")" "$(field p50_ms "$lat")" "$(field p99_ms "$lat")" \
    "goal: p99 <= 50 ms (p99/goal)" "$(ratio "$(field p99_ms "$lat")" 50)"
echo
echo "notifications: drained $events bid events ($inbox inbox rows, $sent realtime sent) at $consumed_per_s events/s, $(ratio "$consumed_per_s" "$made_per_s") x the rate PlaceBid made them; $(per_h "$msgs_per_s") realtime messages/h = $(ratio "$(per_h "$msgs_per_s")" "$SEED_PER_HOUR") x the seed's 1.51 M/h (goal 100 x)"
echo "notifications latency at $RATE bids/s sent ($(field rps "$paced") accepted/s): $(field outbid "$lat") outbid messages, p50 $(field p50_ms "$lat") ms, p99 $(field p99_ms "$lat") ms, p999 $(field p999_ms "$lat") ms (goal p99 <= 50 ms); unreadable $(field unreadable "$lat")"
