#!/usr/bin/env bash
# make test (after build/ and build-asan/ are built): every unit test binary
# of both builds and the pytest system suite against each build in two
# shards, all side by side, each on a private test stack (.run-test*/, its
# own ports, so a running `make run` never collides); then the
# latency-bound tests alone. Ends with one line "N passed, M failed" and
# exits nonzero when anything failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STACK=$ROOT/deploy/dev/stack.sh

UNIT_TIMEOUT=120
# What pytest runs: tests/ unless GAVEL_TEST_PATHS names some of it (a
# developer's quicker run; CI never sets it).
PYTEST_PATHS=${GAVEL_TEST_PATHS:-tests/}
PYTEST_TIMEOUT=1500
ASAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

# The test stacks: fixed ports, distinct from the dev stack's defaults; one
# per suite, so the system suites can run side by side. All below 20000:
# under the kernel's ephemeral range (32768 up), where an outgoing
# connection could take one (reserving ports needs a writable /proc/sys,
# which a container may not have), and under the 20000-32000 that tests
# draw ports from for daemons of their own (gavel_harness.free_port). A suite is a build
# (build, build-asan) or a build's second shard (build-asan-2).
stack_env() {  # $1: a suite; prints its stack's variables
    case $1 in
    build)
        echo "RUN_DIR=$ROOT/.run-test GAVEL_PG_PORT=15532 GAVEL_REDIS_PORT=16479"
        echo "GAVEL_PORT_BASE_GRPC=12150 GAVEL_PORT_BASE_METRICS=9200 GAVEL_GATEWAY_PORT=8180" ;;
    build-asan)  # tests add 100 to a daemon's ports for a second instance: keep clear
        echo "RUN_DIR=$ROOT/.run-test-asan GAVEL_PG_PORT=15533 GAVEL_REDIS_PORT=16480"
        echo "GAVEL_PORT_BASE_GRPC=12350 GAVEL_PORT_BASE_METRICS=9450 GAVEL_GATEWAY_PORT=8380" ;;
    build-asan-2)
        echo "RUN_DIR=$ROOT/.run-test-asan-2 GAVEL_PG_PORT=15534 GAVEL_REDIS_PORT=16481"
        echo "GAVEL_PORT_BASE_GRPC=12750 GAVEL_PORT_BASE_METRICS=9950 GAVEL_GATEWAY_PORT=8480" ;;
    build-2)  # metrics clear of make bench's 9600
        echo "RUN_DIR=$ROOT/.run-test-2 GAVEL_PG_PORT=15535 GAVEL_REDIS_PORT=16482"
        echo "GAVEL_PORT_BASE_GRPC=12950 GAVEL_PORT_BASE_METRICS=9750 GAVEL_GATEWAY_PORT=8280" ;;
    unit-build)  # the unit tests' stacks, one a build
        echo "RUN_DIR=$ROOT/.run-test-unit GAVEL_PG_PORT=15536 GAVEL_REDIS_PORT=16483"
        echo "GAVEL_PORT_BASE_GRPC=18150 GAVEL_PORT_BASE_METRICS=10150 GAVEL_GATEWAY_PORT=8980" ;;
    unit-build-asan)
        echo "RUN_DIR=$ROOT/.run-test-unit-asan GAVEL_PG_PORT=15537 GAVEL_REDIS_PORT=16484"
        echo "GAVEL_PORT_BASE_GRPC=18350 GAVEL_PORT_BASE_METRICS=10300 GAVEL_GATEWAY_PORT=8990" ;;
    esac
}
suite_build() { echo "${1%-2}"; }  # the build a suite runs against

# Each build's suite runs as two shards, all four side by side, each shard
# on a stack of its own (the suites wait on timers and daemons more than
# they use the CPUs, so four overlap well on two cores). Shard 1 takes the
# directories below, shard 2 the rest of tests/ (so a new directory lands
# there); the two take about as long. A developer's GAVEL_TEST_PATHS runs
# whole, one suite a build. tests/scale (two of everything: a SCALE=2
# stack of its own, killed one instance at a time) is in shard 2.
SHARD1=(tests/bids tests/auctions tests/users tests/web tests/streaming)

export BUILD=$ROOT/build               # where stack.sh finds gavel-devbroker

passed=0
failed=0
declare -A suite_pid=()
failures=()
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1${2:+ ($2)}"; }

stop_stacks() {
    local b
    for b in build build-2 build-asan build-asan-2 unit-build unit-build-asan; do
        # shellcheck disable=SC2046 # the variables are words without spaces
        (export $(stack_env "$b"); "$STACK" stop >/dev/null 2>&1) || return 1
    done
}

summary_and_exit() {
    stop_stacks || echo "run.sh: warning: could not stop the test stacks" >&2
    trap - EXIT
    echo
    if (( ${#failures[@]} )); then
        echo "failed:"
        printf '  %s\n' "${failures[@]}"
    fi
    echo "$passed passed, $failed failed"
    if (( failed )); then exit 1; fi
    exit 0
}

trap 'stop_stacks || true' EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# A fresh test stack for a subshell: stop whatever a previous run left
# (including daemons the system tests started), wipe its state, start
# PostgreSQL, Redis, the broker. 0, or 1 with the log.
fresh_stack_quiet() {
    "$STACK" stop >/dev/null
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR/logs"
    if ! "$STACK" infra >"$RUN_DIR/logs/infra.log" 2>&1; then
        cat "$RUN_DIR/logs/infra.log" >&2
        return 1
    fi
    export GAVEL_TEST_RUN_DIR=$RUN_DIR
    export GAVEL_TEST_PG_DSN="host=127.0.0.1 port=$GAVEL_PG_PORT user=gavel dbname=gavel_test"
    export GAVEL_TEST_REDIS=127.0.0.1:$GAVEL_REDIS_PORT
    GAVEL_TEST_KAFKA=$(head -n 1 "$RUN_DIR/kafka.bootstrap")
    export GAVEL_TEST_KAFKA
}

explain_rc() {
    case $1 in
        124|137) echo "timed out after ${2}s" ;;
        134) echo "aborted (exit 134; a sanitizer report or assert above)" ;;
        *) echo "exit $1" ;;
    esac
}

# ---- unit tests ---------------------------------------------------------------------
# Each build's unit test binaries, one after another, on a stack of the
# build's own; run in the background beside the system suites below. The
# verdicts go to the output as "UNIT PASS name" / "UNIT FAIL name (why)"
# lines, counted by note_units. Status 90 when the stack did not start.
unit_suite() {  # $1 build, $2 output file
    local b=$1 bin name rc env_extra=() bins=()
    (
        # shellcheck disable=SC2046 # the variables are words without spaces
        export $(stack_env "unit-$b")
        fresh_stack_quiet || exit 90
        [[ $b == build-asan ]] && env_extra=("${ASAN_ENV[@]}")
        [[ -d $ROOT/$b/test ]] && mapfile -t bins < <(find "$ROOT/$b/test" -type f -executable | sort)
        echo "== unit tests: $b/test (${#bins[@]} binaries)"
        for bin in "${bins[@]}"; do
            name=${bin#"$ROOT"/}
            echo "-- $name"
            rc=0
            env ${env_extra[@]+"${env_extra[@]}"} timeout -k 10 "$UNIT_TIMEOUT" "$bin" </dev/null || rc=$?
            if (( rc == 0 )); then echo "UNIT PASS $name"
            else echo "UNIT FAIL $name ($(explain_rc "$rc" "$UNIT_TIMEOUT"))"; fi
        done
    ) >"$2" 2>&1
}

note_units() {  # $1 build, $2 status, $3 output file
    local line
    echo "== unit tests: $1"
    grep -v '^UNIT ' "$3" || true
    if [[ $2 == 90 ]]; then
        fail "unit tests of $1" "the test stack did not start"
        return
    fi
    while IFS= read -r line; do
        case $line in
            "UNIT PASS "*) pass "${line#UNIT PASS }" ;;
            "UNIT FAIL "*) line=${line#UNIT FAIL }; fail "${line%% (*}" "${line#* (}" ;;
        esac
    done < <(grep '^UNIT ' "$3")
}

# ---- system tests -----------------------------------------------------------------------
# The two builds' suites run side by side, each on a stack of its own (its
# own RUN_DIR and ports, so nothing is shared but the CPUs); the tests marked
# `latency` (they assert a bound on time, e.g. PlaceBid p99 under a login
# flood) then run alone, one build after the other, on a quiet machine.

# Runs pytest over the paths and options $4… (default $PYTEST_PATHS) as
# suite $1 (its build, in a fresh stack of the suite's own) with marker
# expression $2; output to $3. Returns pytest's status (or 90 when the
# stack did not start).
system_suite() {
    local s=$1 marks=$2 out=$3 rc=0 env_extra=() b
    shift 3
    b=$(suite_build "$s")
    # shellcheck disable=SC2086,SC2206 # PYTEST_PATHS is words
    (( $# )) || set -- $PYTEST_PATHS
    (
        # shellcheck disable=SC2046 # the variables are words without spaces
        export $(stack_env "$s")
        fresh_stack_quiet || exit 90
        [[ $b == build-asan ]] && env_extra=("${ASAN_ENV[@]}")
        env ${env_extra[@]+"${env_extra[@]}"} \
            GAVEL_TEST_BUILD="$ROOT/$b" \
            PYTHONPATH="$ROOT/$b/py:$ROOT/build/py:$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}" \
            timeout -k 30 "$PYTEST_TIMEOUT" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
            -m "$marks" "$@" </dev/null
    ) >"$out" 2>&1 || rc=$?
    return "$rc"
}

note_suite() {  # $1 name, $2 status, $3 output file
    echo "== system tests: $1"
    cat "$3"
    case $2 in
        0) pass "$1" ;;
        5) fail "$1" "pytest collected no tests" ;;
        90) fail "$1" "the test stack did not start" ;;
        *) fail "$1" "$(explain_rc "$2" "$PYTEST_TIMEOUT")" ;;
    esac
}

# Starts build $1's two shards in the background: shard 1 runs the
# directories $2…, shard 2 (suite $1-2) the rest of tests/.
shard_suites() {
    local b=$1 d ignores=()
    shift
    for d in "$@"; do ignores+=("--ignore=$d"); done
    system_suite "$b" "not latency" "$logs/$b.txt" "$@" &
    suite_pid[$b]=$!
    system_suite "$b-2" "not latency" "$logs/$b-2.txt" tests/ "${ignores[@]}" &
    suite_pid[$b-2]=$!
    suite_name[$b]="pytest $* against $b"
    suite_name[$b-2]="pytest tests/ but those against $b"
}

logs=$(mktemp -d)
declare -A suite_rc=()
declare -A suite_name=()
declare -A unit_pid=()
for b in build build-asan; do
    unit_suite "$b" "$logs/unit-$b.txt" &
    unit_pid[$b]=$!
done
if [[ -n ${GAVEL_TEST_PATHS:-} ]]; then
    suites=(build build-asan)
    echo "== system tests: pytest $PYTEST_PATHS against build and build-asan, side by side"
    system_suite build "not latency" "$logs/build.txt" &
    suite_pid[build]=$!
    system_suite build-asan "not latency" "$logs/build-asan.txt" &
    suite_pid[build-asan]=$!
    suite_name[build]="pytest $PYTEST_PATHS against build"
    suite_name[build-asan]="pytest $PYTEST_PATHS against build-asan"
else
    suites=(build build-2 build-asan build-asan-2)
    echo "== system tests: pytest tests/ against build and build-asan, each in two shards, side by side"
    shard_suites build "${SHARD1[@]}"
    shard_suites build-asan "${SHARD1[@]}"
fi
for s in "${suites[@]}"; do
    rc=0
    wait "${suite_pid[$s]}" || rc=$?
    suite_rc[$s]=$rc
done
for b in build build-asan; do
    rc=0
    wait "${unit_pid[$b]}" || rc=$?
    note_units "$b" "$rc" "$logs/unit-$b.txt"
done
for s in "${suites[@]}"; do
    note_suite "${suite_name[$s]}" "${suite_rc[$s]}" "$logs/$s.txt"
done
for b in build build-asan; do
    rc=0
    system_suite "$b" "latency" "$logs/$b-latency.txt" || rc=$?
    # A developer's GAVEL_TEST_PATHS may hold no latency test at all.
    [[ -n ${GAVEL_TEST_PATHS:-} && $rc == 5 ]] && rc=0
    # shellcheck disable=SC2046
    (export $(stack_env "$b"); "$STACK" stop >/dev/null 2>&1) || true
    note_suite "pytest tests/ -m latency against $b, alone" "$rc" "$logs/$b-latency.txt"
done
rm -rf "$logs"

summary_and_exit
