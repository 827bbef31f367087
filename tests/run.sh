#!/usr/bin/env bash
# make test (after build/ and build-asan/ are built): every unit test binary
# of both builds, then the pytest system suite once against each build, all
# against a private test stack (.run-test/, its own ports) so a running
# `make run` never collides. Ends with one line "N passed, M failed" and exits
# nonzero when anything failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STACK=$ROOT/deploy/dev/stack.sh

# The test stack: fixed, distinct from the dev stack's defaults.
export RUN_DIR=$ROOT/.run-test
export BUILD=$ROOT/build               # where stack.sh finds gavel-devbroker
export GAVEL_PG_PORT=55532
export GAVEL_REDIS_PORT=56479
export GAVEL_PORT_BASE_GRPC=50150
export GAVEL_PORT_BASE_METRICS=9200
export GAVEL_GATEWAY_PORT=8180

UNIT_TIMEOUT=120
PYTEST_TIMEOUT=900
ASAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

passed=0
failed=0
failures=()
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1${2:+ ($2)}"; }

summary_and_exit() {
    "$STACK" stop >/dev/null 2>&1 || echo "run.sh: warning: could not stop the test stack" >&2
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

trap '"$STACK" stop >/dev/null 2>&1 || true' EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# A fresh test stack: stop whatever a previous run left (including daemons the
# system tests started), wipe its state, start PostgreSQL, Redis, the broker.
fresh_stack() {
    local log
    "$STACK" stop >/dev/null
    rm -rf "$RUN_DIR"
    log=$(mktemp)
    if ! "$STACK" infra >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        fail "test stack (deploy/dev/stack.sh infra)"
        summary_and_exit
    fi
    mkdir -p "$RUN_DIR/logs"
    mv -f "$log" "$RUN_DIR/logs/infra.log"
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
echo "== starting the test stack in $RUN_DIR"
fresh_stack

for b in build build-asan; do
    if [[ ! -d $ROOT/$b/test ]]; then
        echo "== no unit tests under $b/test"
        continue
    fi
    env_extra=()
    [[ $b == build-asan ]] && env_extra=("${ASAN_ENV[@]}")
    mapfile -t bins < <(find "$ROOT/$b/test" -type f -executable | sort)
    echo "== unit tests: $b/test (${#bins[@]} binaries)"
    for bin in "${bins[@]}"; do
        name=${bin#"$ROOT"/}
        echo "-- $name"
        rc=0
        env ${env_extra[@]+"${env_extra[@]}"} timeout -k 10 "$UNIT_TIMEOUT" "$bin" </dev/null || rc=$?
        if (( rc == 0 )); then pass "$name"; else fail "$name" "$(explain_rc "$rc" "$UNIT_TIMEOUT")"; fi
    done
done

# ---- system tests -----------------------------------------------------------------------
for b in build build-asan; do
    name="pytest tests/ against $b"
    echo "== system tests: $name"
    fresh_stack
    env_extra=()
    [[ $b == build-asan ]] && env_extra=("${ASAN_ENV[@]}")
    rc=0
    env ${env_extra[@]+"${env_extra[@]}"} \
        GAVEL_TEST_BUILD="$ROOT/$b" \
        PYTHONPATH="$ROOT/$b/py:$ROOT/build/py:$ROOT/tests${PYTHONPATH:+:$PYTHONPATH}" \
        timeout -k 30 "$PYTEST_TIMEOUT" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/ \
        </dev/null || rc=$?
    case $rc in
        0) pass "$name" ;;
        5) fail "$name" "pytest collected no tests" ;;
        *) fail "$name" "$(explain_rc "$rc" "$PYTEST_TIMEOUT")" ;;
    esac
done

summary_and_exit
