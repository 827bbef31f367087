#!/bin/sh
# One-time: the keys and the first admin's credentials compose mounts
# read-only, in ${GAVEL_SECRETS_DIR:-./secrets} (never committed). Refuses to
# overwrite an existing directory: new keys sign out nobody only when
# rotated as docs/operations.md describes.
#   sh deploy/docker/make-secrets.sh [owner uid, default 10001]
set -eu
dir=${GAVEL_SECRETS_DIR:-./secrets}
owner=${1:-10001}
[ -e "$dir" ] && { echo "make-secrets: $dir exists; not touching it" >&2; exit 1; }
umask 077
mkdir -p "$dir/keys"
for k in jwt service; do
    openssl genpkey -algorithm ED25519 -out "$dir/keys/$k.key"
    openssl pkey -in "$dir/keys/$k.key" -pubout -out "$dir/keys/$k.pub"
done
openssl rand -hex 32 >"$dir/keys/webhook.key"   # seals webhook secrets (notifications)
pw=$(openssl rand -base64 24 | tr -dc 'A-Za-z0-9' | cut -c1-20)
printf 'GAVEL_ADMIN_EMAIL=admin@gavel.local\nGAVEL_ADMIN_PASSWORD=%sAa1\n' "$pw" >"$dir/admin.env"
chmod 700 "$dir/keys"
# The daemons run as uid 10001 (or GAVEL_UID): they must own the files.
if [ "$(id -u)" = 0 ]; then chown -R "$owner:$owner" "$dir"; fi
echo "make-secrets: wrote $dir (admin password in $dir/admin.env)"
