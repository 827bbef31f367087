#!/usr/bin/env bash
# What Gavel's images weigh, measured without a Docker engine (this
# machine has none): the runtime stage of deploy/docker/Dockerfile is
# rebuilt as a directory with mmdebstrap from Debian's bookworm archive,
# the way debian:bookworm-slim is made (minbase, /usr merged, the slim
# image's dpkg excludes: no docs but copyrights, no man pages, no
# locales), plus the runtime packages the Dockerfile installs; each
# daemon's image is that
# plus its stripped binary and gavel-health. Prints the sizes on disk and
# gzip-compressed (what a registry stores and a node pulls).
#
#   deploy/docker/image_size.sh        (make image-size; needs root, network
#                                       to Debian's archive, a built build/)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DOCKERFILE=$ROOT/deploy/docker/Dockerfile
MIRROR=${GAVEL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DAEMONS=(users auctions bids gateway notifications search payments streaming)

die() { echo "image_size: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (mmdebstrap unpacks packages as root)"
if ! command -v mmdebstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null ||
        die "cannot install mmdebstrap"
fi
for d in "${DAEMONS[@]}" health; do
    [[ -x $BUILD/bin/gavel-$d ]] || die "$BUILD/bin/gavel-$d is missing: run make first"
done

# The runtime stage's package list, read from the Dockerfile so the two
# never disagree: the lines after its `apt-get install` up to the `&&`.
pkgs=$(awk '/^FROM debian:bookworm-slim AS runtime/ { stage = 1 }
            stage && /apt-get install/ { list = 1; next }
            list && /^ *&&/ { exit }
            list { gsub(/\\/, ""); print }' "$DOCKERFILE" | xargs)
[[ -n $pkgs ]] || die "no runtime packages found in $DOCKERFILE"

work=$(mktemp -d /tmp/gavel-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

# merged-usr: /usr is merged by a hook, as the Docker images are, not by
# the usrmerge package (which would bring perl, some 55 MB the images lack).
slim=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
      --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-include=/usr/share/doc/*/copyright'
      --dpkgopt='path-exclude=/usr/share/man/*'
      --dpkgopt='path-exclude=/usr/share/groff/*'
      --dpkgopt='path-exclude=/usr/share/info/*'
      --dpkgopt='path-exclude=/usr/share/lintian/*'
      --dpkgopt='path-exclude=/usr/share/locale/*')

echo "image_size: building the base (minbase) and the runtime stage from $MIRROR ..."
log=$work/mmdebstrap.log
mmdebstrap --quiet --variant=minbase "${slim[@]}" bookworm "$work/base" "$MIRROR" >"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "mmdebstrap of the base failed"; }
mmdebstrap --quiet --variant=minbase "${slim[@]}" --include="${pkgs// /,}" \
    bookworm "$work/runtime" "$MIRROR" >"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "mmdebstrap of the runtime stage failed"; }
for fs in base runtime; do
    rm -rf "$work/$fs/var/lib/apt/lists/"* "$work/$fs/var/cache/apt/"*.bin
done

mkdir -p "$work/bin"
for d in "${DAEMONS[@]}" health; do
    strip -o "$work/bin/gavel-$d" "$BUILD/bin/gavel-$d"
done

bytes() { du -sb "$1" | cut -f1; }
gz() { tar -C "$1" -cf - . 2>/dev/null | gzip -6 | wc -c; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

base=$(bytes "$work/base") base_gz=$(gz "$work/base")
run=$(bytes "$work/runtime") run_gz=$(gz "$work/runtime")
health=$(stat -c %s "$work/bin/gavel-health")
printf '%-28s %12s %12s\n' "layer / image" "on disk" "gzip"
printf '%-28s %12s %12s\n' "debian bookworm-slim (base)" "$(mb "$base")" "$(mb "$base_gz")"
printf '%-28s %12s %12s\n' "runtime (base + libraries)" "$(mb "$run")" "$(mb "$run_gz")"
# The gateway's image also carries the web UI (web/, as .dockerignore
# leaves it: no node_modules) with hls.js.
web=$(du -sb --exclude=node_modules "$ROOT/web" | cut -f1)
web_gz=$(tar -C "$ROOT" --exclude=node_modules -cf - web | gzip -6 | wc -c)
for d in "${DAEMONS[@]}"; do
    b=$(stat -c %s "$work/bin/gavel-$d")
    g=$(gzip -6 -c "$work/bin/gavel-$d" "$work/bin/gavel-health" | wc -c)
    extra=0 extra_gz=0
    [[ $d == gateway ]] && extra=$web extra_gz=$web_gz
    printf '%-28s %12s %12s   (binary %s)\n' "gavel-$d" "$(mb $((run + b + health + extra)))" \
        "$(mb $((run_gz + g + extra_gz)))" "$(mb "$b")"
done
echo "The eight images share the base and runtime layers: a node that runs them all"
echo "pulls those once, then each binary's layer."
