#!/usr/bin/env bash
# Latency of the venue video, publish -> segment fetchable at a player
# (tests/bench/streaming_latency.py), with 1 s and 2 s HLS segments: for
# each, the ingest (nginx RTMP + ffmpeg HLS, `stack.sh ingest`) restarts
# with GAVEL_HLS_SEGMENT_S set, ffmpeg publishes a test pattern for
# GAVEL_BENCH_STREAM_SECONDS (default 20) and a simulated player polls the
# playlist. p50/p99 of (fetch complete - EXT-X-PROGRAM-DATE-TIME), goal
# <= 3000 ms. Two players on the same publish: one reads nginx serving the
# HLS directory (http://127.0.0.1:$GAVEL_NGINX_HLS_PORT/live), the other
# the gateway's /live as dealers' pages do (the script starts a gateway);
# GAVEL_BENCH_LIVE_BASES=label=url,... sets others.
#
# Alone it starts its own stack on the bench ports (.run-bench/, as make
# bench) with the users daemon; from run.sh (GAVEL_BENCH_STACK_UP=1) it
# uses the users daemon that runs. Either way it starts gavel-streaming.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

export RUN_DIR=${RUN_DIR:-$ROOT/.run-bench} BUILD=${BUILD:-$ROOT/build}
export GAVEL_PG_PORT=${GAVEL_PG_PORT:-15682} GAVEL_REDIS_PORT=${GAVEL_REDIS_PORT:-15689}
export GAVEL_PORT_BASE_GRPC=${GAVEL_PORT_BASE_GRPC:-16550}
export GAVEL_PORT_BASE_METRICS=${GAVEL_PORT_BASE_METRICS:-9600}
export GAVEL_GATEWAY_PORT=${GAVEL_GATEWAY_PORT:-8580}
STREAM_SECONDS=${GAVEL_BENCH_STREAM_SECONDS:-20}
BIN=$BUILD/bin
USERS_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 1))
STREAMING_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 7))
HLS_PORT=${GAVEL_NGINX_HLS_PORT:-$((GAVEL_PORT_BASE_GRPC + 937))}
GATEWAY_ADDR=127.0.0.1:$((GAVEL_PORT_BASE_GRPC + 8))
LIVE_BASES=${GAVEL_BENCH_LIVE_BASES:-nginx=http://127.0.0.1:$HLS_PORT/live,gateway=http://127.0.0.1:$GAVEL_GATEWAY_PORT/live}
export PYTHONPATH=$BUILD/py

pids=()
cleanup() {
    local p
    deploy/dev/stack.sh ingest-stop >/dev/null 2>&1 || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [[ ${GAVEL_BENCH_STACK_UP:-0} == 1 ]] || deploy/dev/stack.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# wait_healthy, goal, start_daemon
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

if [[ ${GAVEL_BENCH_STACK_UP:-0} != 1 ]]; then
    deploy/dev/stack.sh stop >/dev/null 2>&1 || true
    rm -rf "$RUN_DIR"
    deploy/dev/stack.sh infra >/dev/null
    mkdir -p "$RUN_DIR/logs"
    start_daemon users
    wait_healthy "$USERS_ADDR"
fi
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/bench"

echo "== venue video: publish -> segment fetched by a player (vs the segment length; goal p99 <= 3000 ms)"
# The gateway the dealers' players read /live from (no other daemon needed).
start_daemon gateway
wait_healthy "$GATEWAY_ADDR"
for seg in 1 2; do
    # The daemon reports the segment length it is told; restart it with the ingest.
    GAVEL_HLS_SEGMENT_S=$seg start_daemon streaming
    wait_healthy "$STREAMING_ADDR"
    GAVEL_HLS_SEGMENT_S=$seg deploy/dev/stack.sh ingest >/dev/null
    line=$(/usr/bin/python3 tests/bench/streaming_latency.py "$STREAMING_ADDR" "$USERS_ADDR" \
        "$RUN_DIR/admin.env" "$LIVE_BASES" "$STREAM_SECONDS" "$seg" \
        "$RUN_DIR/logs/bench-publisher-$seg.log")
    while read -r one; do
        echo "   $one"
        p99=$(field p99_ms "$one")
        echo "   ${seg} s segments via $(field via "$one"): p50 $(field p50_ms "$one") ms, p99 ${p99:-?} ms (goal <= 3000 ms: $(goal "${p99:-999999}" 3000 le))"
    done <<<"$line"
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
done
