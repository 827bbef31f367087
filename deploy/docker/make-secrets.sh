#!/bin/sh
# One-time: the keys and the first admin's credentials compose mounts
# read-only, and dev values of the card provider's secrets (payments.env,
# which compose reads from the environment: `set -a; . secrets/payments.env;
# set +a`), in ${GAVEL_SECRETS_DIR:-./secrets} (never committed). Refuses to
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
# The payments daemon's provider API key and webhook signing secret: random
# dev values, for a provider sandbox or simulator configured with the same
# two. A real provider issues both: put its values here instead
# (docs/operations.md, "The card provider's secrets").
printf 'GAVEL_PAYMENTS_PROVIDER_KEY=sk_test_%s\nGAVEL_PAYMENTS_WEBHOOK_SECRET=whsec_%s\n' \
    "$(openssl rand -hex 24)" "$(openssl rand -hex 32)" >"$dir/payments.env"
chmod 700 "$dir/keys"
# The daemons run as uid 10001 (or GAVEL_UID): they must own the files.
if [ "$(id -u)" = 0 ]; then chown -R "$owner:$owner" "$dir"; fi
echo "make-secrets: wrote $dir (admin password in $dir/admin.env, provider dev secrets in $dir/payments.env)"
