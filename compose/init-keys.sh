#!/usr/bin/env bash
# One-shot key setup for the compose farm (runs as root in the dispatcher image, service `keys`):
# the dispatcher's signing key, one signing key per worker named in the arguments, and the two trust files
# (workers trust the dispatcher's key; the dispatcher trusts the workers' keys). Keys that exist are kept.
#   init-keys.sh KEYDIR WORKER...
set -euo pipefail
keydir="$1"; shift
[ $# -gt 0 ] || { echo "init-keys.sh: usage: init-keys.sh KEYDIR WORKER..." >&2; exit 2; }
readonly DISPATCHER_UID=10001 WORKER_UID=10002

# generate NAME OWNER: NAME.secret (0600, OWNER) via `buildfarm keys generate`, NAME.public (0644).
generate() {
  local name="$1" owner="$2" secret
  if [ ! -s "$keydir/$name.secret" ]; then
    secret="$(buildfarm keys generate --name "$name" | grep -oE "^$name:[A-Za-z0-9+/]{86}==" | head -n 1)" ||
      { echo "init-keys.sh: 'buildfarm keys generate --name $name' printed no secret key" >&2; exit 1; }
    (umask 077 && printf '%s\n' "$secret" >"$keydir/$name.secret")
    echo "generated key $name"
  fi
  secret="$(tr -d '\n' <"$keydir/$name.secret")"
  # Ed25519 secret key = seed (32 bytes) || public key (32 bytes), as in Nix.
  printf '%s:%s\n' "$name" "$(printf '%s' "${secret#*:}" | base64 -d | tail -c 32 | base64 -w0)" >"$keydir/$name.public"
  chown "$owner:$owner" "$keydir/$name.secret"
  chmod 0600 "$keydir/$name.secret"
  chmod 0644 "$keydir/$name.public"
}

install -d -m 0755 "$keydir"
generate dispatcher "$DISPATCHER_UID"
cp "$keydir/dispatcher.public" "$keydir/trusted-dispatcher-keys"
: >"$keydir/trusted-worker-keys.new"
for worker in "$@"; do
  generate "$worker" "$WORKER_UID"
  cat "$keydir/$worker.public" >>"$keydir/trusted-worker-keys.new"
done
mv -f "$keydir/trusted-worker-keys.new" "$keydir/trusted-worker-keys"
chmod 0644 "$keydir/trusted-dispatcher-keys" "$keydir/trusted-worker-keys"
echo "keys ready in $keydir:"
cat "$keydir/trusted-worker-keys"
