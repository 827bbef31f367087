#!/usr/bin/env bash
# make deps: installs the Debian packages Gavel needs to build, run and test.
# As root it runs apt-get (apt-get update only when something is missing);
# otherwise it prints the one command to run and fails. When everything is
# installed it only asks dpkg, which takes a few milliseconds.
set -euo pipefail

# The one list of packages: add new dependencies here.
PACKAGES=(
    # build
    build-essential pkg-config
    libgrpc-dev libabsl-dev protobuf-compiler protobuf-compiler-grpc
    protobuf-c-compiler libprotobuf-c-dev
    librdkafka-dev libpq-dev libhiredis-dev libjansson-dev
    libcurl4-openssl-dev libssl-dev libargon2-dev libmicrohttpd-dev
    libcmocka-dev
    # the gateway: HTTP/WebSocket on a libuv loop
    libwebsockets-dev libwebsockets-evlib-uv libuv1-dev
    # the embedded dev stack
    postgresql redis-server openssl curl
    # system tests (run by /usr/bin/python3)
    python3 python3-grpcio python3-protobuf python3-kafka python3-psycopg2
    python3-pytest python3-websockets python3-cryptography python3-h2 python3-redis python3-yaml docker-compose
    # venue streaming: RTMP ingest and HLS (nginx with the RTMP module),
    # segmenting and the test encoder (ffmpeg)
    nginx libnginx-mod-rtmp ffmpeg
    # the dev stack's mail sink (deploy/dev/smtp_sink.py), also used by the tests
    python3-aiosmtpd
    # make bench (HTTP load against the gateway; the Node ws baseline of its
    # WebSocket fan-out)
    wrk nodejs node-ws node-redis
    # browser tests of the web UI (tests/web: npm installs playwright-core,
    # which drives Debian's chromium headless; npm below)
    chromium
    # make fuzz (clang's libFuzzer and sanitizer runtimes)
    clang-14 libclang-rt-14-dev
)
# npm for the browser tests' playwright-core: Debian's package, unless the
# installed nodejs brings its own (NodeSource's provides npm).
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

command -v dpkg-query >/dev/null 2>&1 ||
    { echo "deps: error: dpkg-query not found; Gavel needs Debian 12 (or a derivative)" >&2; exit 1; }

installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
    grep -qE "^${p//+/\\+} ii" <<<"$installed" || missing+=("$p")
done

(( ${#missing[@]} == 0 )) && exit 0

echo "deps: missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "deps: not root; install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Check again: a package apt-get could not install must not pass silently.
still=()
for p in "${missing[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || still+=("$p")
done
if (( ${#still[@]} )); then
    echo "deps: error: still missing after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "deps: installed ${missing[*]}"
