#!/usr/bin/env bash
# One-shot key setup for the compose farm (runs as root in the dispatcher image, service `keys`). Keys that exist are
# kept; the files derived from them are rewritten, so rerunning with more workers authorizes the new ones.
#   init-keys.sh [--broker-dir DIR] KEYDIR WORKER...
# writes into KEYDIR:
#   dispatcher.secret/.public          the dispatcher's signing key (Dispatcher:SigningKeyFile)
#   WORKER.secret/.public              each worker's signing key (Keys:SigningKeyFile)
#   WORKER.ssh/.ssh.pub                each worker's SSH login key for the origin (Origins:PrivateKeyFile)
#   origin_host_ed25519/.pub           the origin sshd's host key (in the dispatcher container; pinned by both sides
#                                      through its .pub: Dispatcher:Origin:HostPublicKeyFile, Origins:PinnedHostKeys)
#   origin-authorized-keys             the workers' SSH keys, the origin sshd's AuthorizedKeysFile
#   trusted-dispatcher-keys            workers trust the dispatcher's requests (Keys:TrustedDispatcherKeysFile)
#   trusted-worker-keys                the dispatcher trusts the workers' outputs (Dispatcher:TrustedWorkerKeysFile)
#   trusted-origin-keys                workers trust input paths signed by the dispatcher or a worker
#                                      (Origins:TrustedInputKeysFile: outputs built on the farm carry their builder's key)
# and, with --broker-dir DIR (compose gives /etc/buildfarm/broker, its own volume), the broker users
# (`buildfarm broker definitions`: one per role, narrowest permissions, docs/SECURITY.md) into that directory:
#   USER.password                      generated once, 0600, owned by the process that connects as USER
#                                      (Broker:PasswordFile): buildfarm-dispatcher, buildfarm-worker-WORKER, buildfarm-monitoring (root)
#   definitions.json                   users (salted SHA-256 of the passwords only) and permissions, 0644: RabbitMQ
#                                      loads it at boot (load_definitions in compose/config/rabbitmq.conf)
set -euo pipefail
brokerdir=""
if [ "${1:-}" = --broker-dir ]; then brokerdir="$2"; shift 2; fi
keydir="$1"; shift
[ $# -gt 0 ] || { echo "init-keys.sh: usage: init-keys.sh [--broker-dir DIR] KEYDIR WORKER..." >&2; exit 2; }
readonly DISPATCHER_UID=10001 WORKER_UID=10002
# The forced command of every worker's login on the origin: the store commands workers run, on the dispatcher's origin
# store (Dispatcher:StoreDir/Root), nothing else (docs/operations.md, "Restricting workers on the origin").
readonly ORIGIN_SERVE="${BUILDFARM_ORIGIN_SERVE:-/opt/buildfarm/bin/buildfarm --store-dir /nix/store --root /var/lib/buildfarm/origin origin-serve}"

# generate NAME OWNER: NAME.secret (0600, OWNER) via `buildfarm keys generate`, NAME.public (0644) via `buildfarm keys public`.
generate() {
  local name="$1" owner="$2" secret
  if [ ! -s "$keydir/$name.secret" ]; then
    secret="$(buildfarm keys generate --name "$name" | grep -oE "^$name:[A-Za-z0-9+/]{86}==" | head -n 1)" ||
      { echo "init-keys.sh: 'buildfarm keys generate --name $name' printed no secret key" >&2; exit 1; }
    (umask 077 && printf '%s\n' "$secret" >"$keydir/$name.secret")
    echo "generated key $name"
  fi
  buildfarm keys public "$keydir/$name.secret" >"$keydir/$name.public"
  chown "$owner:$owner" "$keydir/$name.secret"
  chmod 0600 "$keydir/$name.secret"
  chmod 0644 "$keydir/$name.public"
}

# ssh_key FILE OWNER COMMENT: an OpenSSH Ed25519 key without passphrase, FILE (0600, OWNER) and FILE.pub (0644).
ssh_key() {
  local file="$1" owner="$2" comment="$3"
  if [ ! -s "$file" ] || [ ! -s "$file.pub" ]; then
    rm -f "$file" "$file.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$comment" -f "$file"
    echo "generated SSH key $(basename "$file")"
  fi
  chown "$owner:$owner" "$file"
  chmod 0600 "$file"
  chmod 0644 "$file.pub"
}

command -v ssh-keygen >/dev/null || { echo "init-keys.sh: ssh-keygen is missing (openssh-client)" >&2; exit 1; }
install -d -m 0755 "$keydir"
generate dispatcher "$DISPATCHER_UID"
# sshd runs as root and refuses a host key others can read.
ssh_key "$keydir/origin_host_ed25519" 0 buildfarm-origin-host
cp "$keydir/dispatcher.public" "$keydir/trusted-dispatcher-keys"
: >"$keydir/trusted-worker-keys.new"
: >"$keydir/origin-authorized-keys.new"
for worker in "$@"; do
  generate "$worker" "$WORKER_UID"
  ssh_key "$keydir/$worker.ssh" "$WORKER_UID" "buildfarm-worker@$worker"
  cat "$keydir/$worker.public" >>"$keydir/trusted-worker-keys.new"
  # command=: whatever the worker asks runs as `buildfarm origin-serve` (only store export/quarantine-serve/-put);
  # restrict: no forwarding, no pty.
  printf 'command="%s",restrict %s\n' "$ORIGIN_SERVE" "$(head -n 1 "$keydir/$worker.ssh.pub")" >>"$keydir/origin-authorized-keys.new"
done
cat "$keydir/dispatcher.public" "$keydir/trusted-worker-keys.new" >"$keydir/trusted-origin-keys.new"
# Renames: the dispatcher re-reads trusted-worker-keys while it runs, so it must never see a half-written file.
for f in trusted-worker-keys origin-authorized-keys trusted-origin-keys; do
  chmod 0644 "$keydir/$f.new"
  mv -f "$keydir/$f.new" "$keydir/$f"
done
chmod 0644 "$keydir/trusted-dispatcher-keys"
if [ -n "$brokerdir" ]; then
  install -d -m 0755 "$brokerdir"
  users=(--dispatcher --monitoring)
  for worker in "$@"; do users+=(--worker "$worker"); done
  buildfarm broker definitions --secrets-dir "$brokerdir" "${users[@]}" >"$brokerdir/definitions.json.new"
  chmod 0644 "$brokerdir/definitions.json.new"
  mv -f "$brokerdir/definitions.json.new" "$brokerdir/definitions.json"
  chown "$DISPATCHER_UID:$DISPATCHER_UID" "$brokerdir/buildfarm-dispatcher.password"
  for worker in "$@"; do chown "$WORKER_UID:$WORKER_UID" "$brokerdir/buildfarm-worker-$worker.password"; done
  chmod 0600 "$brokerdir"/*.password
  echo "broker users ready in $brokerdir: buildfarm-dispatcher, buildfarm-monitoring,$(printf ' buildfarm-worker-%s' "$@")"
fi
echo "keys ready in $keydir; origin host key $(ssh-keygen -l -E sha256 -f "$keydir/origin_host_ed25519.pub" | cut -d' ' -f2)"
echo "trusted worker keys:"
cat "$keydir/trusted-worker-keys"
