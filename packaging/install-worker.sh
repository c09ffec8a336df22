#!/usr/bin/env bash
# Turns a Debian machine into a BuildFarm worker: a system user, directories, an Ed25519 signing key,
# /etc/buildfarm/worker.json from the flags, the systemd unit (enabled and started). The flags are checked, the key
# made and worker.json written by `buildfarm-worker init` (the worker's own options type and validator); this script
# orchestrates: user, directories, ownership, the origin login key (ssh-keygen), the unit. With --origin also an SSH key
# to log in to the origin store, the origin's pinned host key(s) and the keys trusted on input paths (the config's
# Origins section). Prints the public keys to authorize on the dispatcher and on the origin. Idempotent: rerunning
# rewrites the config and unit and keeps the existing keys.
#
#   sudo packaging/install-worker.sh --name builder-1 --systems x86_64-linux,i686-linux --features kvm \
#     --slots 4 --speed 2 --broker-uri amqp://buildfarm:secret@broker:5672/ \
#     --dispatcher-key dispatcher:BASE64 --origin origin.example:22 --origin-host-key SHA256:BASE64 \
#     --binary-dir /opt/buildfarm/bin
#
# --destdir DIR writes every file below DIR instead of / (for tests and image building): no user is created,
# no ownership is changed and systemctl is not run; the paths inside the files are those of the real machine.
set -euo pipefail

readonly WORKER_USER=buildfarm-worker
readonly CONF_DIR=/etc/buildfarm
readonly CONFIG=/etc/buildfarm/worker.json
readonly TRUSTED_KEYS=/etc/buildfarm/trusted-dispatcher-keys
readonly TRUSTED_INPUT_KEYS=/etc/buildfarm/trusted-origin-keys
# Written by earlier versions of this script; the pins now live in worker.json (origins.pinnedHostKeys).
readonly LEGACY_ORIGIN_HOST_KEYS=/etc/buildfarm/origin-host-keys
readonly STATE_DIR=/var/lib/buildfarm-worker
readonly KEY_DIR=/var/lib/buildfarm-worker/keys
readonly UNIT_DIR=/etc/systemd/system
readonly UNIT=buildfarm-worker.service
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

usage() {
  cat <<'USAGE'
usage: install-worker.sh --name NAME --broker-uri URI --dispatcher-key KEY [options]

required:
  --name NAME                 worker name, also its key name ([A-Za-z0-9][A-Za-z0-9._-]*, at most 64 characters)
  --broker-uri URI[,URI...]   RabbitMQ node(s), amqp:// or amqps://; several nodes of a cluster comma separated
  --dispatcher-key KEY        trusted dispatcher public key NAME:BASE64 (repeatable, or comma separated)
options:
  --broker-password-file F    the password of this worker's own broker user (buildfarm broker definitions
                              --worker NAME); mode 0600, readable by the worker's user; the URI names the user
  --broker-ca-file F          PEM CA(s) the broker's TLS certificate must chain to (amqps://)
  --systems S1,S2             systems this machine builds for (default: this machine's, e.g. x86_64-linux)
  --features F1,F2            supported features (e.g. kvm,big-parallel)
  --mandatory-features F1     features a build must require to run here (e.g. benchmark)
  --slots N                   concurrent builds, 1..1024 (default: number of CPUs)
  --speed X                   speed factor, > 0 and <= 100 (default 1); faster idle workers get builds first
  --store-dir DIR             logical store directory (default /nix/store)
  --root DIR                  physical root the store lives under (default /var/lib/buildfarm-worker/store)
origin (the store inputs are pulled from and outputs returned to over SSH; without --origin the worker only
runs requests whose inputs are already local):
  --origin HOST[:PORT]        the origin's sshd as the dispatcher names it (Dispatcher:Origin:Host/Port; port 22)
  --origin-host-key FP        its pinned host key fingerprint SHA256:BASE64 (repeatable; on the origin:
                              ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)
  --origin-host-key-file F    or its host public key file (a copy of /etc/ssh/ssh_host_ed25519_key.pub; repeatable)
  --origin-key KEY            public signing key NAME:BASE64 trusted on input paths (repeatable, or comma
                              separated): the origin store's keys, i.e. the dispatcher's and the workers' whose
                              outputs land there; default: the --dispatcher-key(s)
  --allow-unsandboxed         let builders run without the namespace sandbox (impure; trusted derivations only)
  --binary-dir DIR            directory holding buildfarm-worker and buildfarm (default /opt/buildfarm/bin)
  --destdir DIR, --prefix DIR write everything below DIR instead of / (no user, no chown, no systemctl)
  --no-enable                 install the unit but do not enable or start it
  -h, --help                  this text
USAGE
}

die() { printf 'install-worker.sh: error: %s\n' "$*" >&2; exit 2; }
note() { printf '  %s\n' "$*"; }

# ---- flags -------------------------------------------------------------------------------------------------
name="" systems="" features="" mandatory="" slots="" speed="1" broker_uri="" store_dir="/nix/store"
root="$STATE_DIR/store" destdir="/" binary_dir="/opt/buildfarm/bin" enable=1 allow_unsandboxed=0
dispatcher_keys=() origin="" origin_host_keys=() origin_host_key_files=() origin_keys=()
broker_password_file="" broker_ca_file=""

while [ $# -gt 0 ]; do
  flag="$1" value="" has_inline=0
  case "$flag" in
    --*=*) value="${flag#*=}"; flag="${flag%%=*}"; has_inline=1 ;;
  esac
  case "$flag" in
    -h|--help) usage; exit 0 ;;
    --no-enable) enable=0; shift; continue ;;
    --allow-unsandboxed) allow_unsandboxed=1; shift; continue ;;
    --name|--systems|--features|--mandatory-features|--slots|--speed|--broker-uri|--store-dir|--root|\
    --dispatcher-key|--origin|--origin-host-key|--origin-host-key-file|--origin-key|--destdir|--prefix|--binary-dir|\
    --broker-password-file|--broker-ca-file)
      if [ "$has_inline" -eq 0 ]; then
        [ $# -ge 2 ] || die "$flag needs a value (see --help)"
        value="$2"; shift
      fi
      shift ;;
    *) die "unknown flag '$flag' (see --help)" ;;
  esac
  case "$flag" in
    --name) name="$value" ;;
    --systems) systems="$value" ;;
    --features) features="$value" ;;
    --mandatory-features) mandatory="$value" ;;
    --slots) slots="$value" ;;
    --speed) speed="$value" ;;
    --broker-uri) broker_uri="$value" ;;
    --broker-password-file) broker_password_file="$value" ;;
    --broker-ca-file) broker_ca_file="$value" ;;
    --store-dir) store_dir="$value" ;;
    --root) root="$value" ;;
    --dispatcher-key) IFS=',' read -r -a parts <<<"$value"; dispatcher_keys+=("${parts[@]}") ;;
    --origin) origin="$value" ;;
    --origin-host-key) IFS=',' read -r -a parts <<<"$value"; origin_host_keys+=("${parts[@]}") ;;
    --origin-host-key-file) origin_host_key_files+=("$value") ;;
    --origin-key) IFS=',' read -r -a parts <<<"$value"; origin_keys+=("${parts[@]}") ;;
    --destdir|--prefix) destdir="$value" ;;
    --binary-dir) binary_dir="$value" ;;
  esac
done

# ---- validation: buildfarm-worker init checks the flags the way the worker checks its config --------------
# (every message names the flag, the bad value and what would be valid); nothing is written before it agrees.
[ ${#dispatcher_keys[@]} -gt 0 ] ||
  die "--dispatcher-key is required: the dispatcher's public key NAME:BASE64 (on the dispatcher: cat its .public key file)"
case "$destdir" in /*) ;; *) destdir="$(pwd)/$destdir" ;; esac
destdir="${destdir%/}"
[ -x "$binary_dir/buildfarm-worker" ] ||
  die "--binary-dir: '$binary_dir' has no executable buildfarm-worker (publish with ./farm build and pass --binary-dir artifacts/bin, or copy artifacts/bin to /opt/buildfarm/bin)"
[ -x "$binary_dir/buildfarm" ] ||
  die "--binary-dir: '$binary_dir' has no executable buildfarm (it prints the signing key's public half: buildfarm keys public; pass --binary-dir)"
if [ -n "$origin" ]; then
  command -v ssh-keygen >/dev/null ||
    die "--origin: ssh-keygen is missing; it makes the key this worker logs in to the origin with (apt-get install openssh-client)"
fi

secret_file="$KEY_DIR/signing.secret"
public_file="$KEY_DIR/signing.public"
origin_key_file="$KEY_DIR/origin_ed25519"
init_flags=(--config "$CONFIG" --name "$name" --broker-uri "$broker_uri" --store-dir "$store_dir" --root "$root"
  --signing-key-file "$secret_file" --trusted-dispatcher-keys-file "$TRUSTED_KEYS")
[ -z "$destdir" ] || init_flags+=(--destdir "$destdir")
[ -z "$systems" ] || init_flags+=(--systems "$systems")
[ -z "$features" ] || init_flags+=(--features "$features")
[ -z "$mandatory" ] || init_flags+=(--mandatory-features "$mandatory")
[ -z "$slots" ] || init_flags+=(--slots "$slots")
[ -z "$broker_password_file" ] || init_flags+=(--broker-password-file "$broker_password_file")
[ -z "$broker_ca_file" ] || init_flags+=(--broker-ca-file "$broker_ca_file")
init_flags+=(--speed "$speed")
[ "$allow_unsandboxed" -eq 0 ] || init_flags+=(--allow-unsandboxed)
for key in "${dispatcher_keys[@]}"; do init_flags+=(--dispatcher-key "$key"); done
for fp in "${origin_host_keys[@]}"; do init_flags+=(--origin-host-key "$fp"); done
for file in "${origin_host_key_files[@]}"; do init_flags+=(--origin-host-key-file "$file"); done
for key in "${origin_keys[@]}"; do init_flags+=(--origin-key "$key"); done
if [ -n "$origin" ]; then
  init_flags+=(--origin "$origin" --origin-private-key-file "$origin_key_file" --trusted-input-keys-file "$TRUSTED_INPUT_KEYS")
fi
"$binary_dir/buildfarm-worker" init "${init_flags[@]}" --dry-run || exit 2

real_install=0
if [ -z "$destdir" ]; then
  real_install=1
  [ "$(id -u)" -eq 0 ] || die "must run as root to install into / (or pass --destdir DIR for a scratch install)"
fi

# ---- the installation ----------------------------------------------------------------------------------------
echo "Installing BuildFarm worker '$name' into ${destdir:-/}"

if [ "$real_install" -eq 1 ]; then
  if getent passwd "$WORKER_USER" >/dev/null; then
    note "user $WORKER_USER exists"
  else
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin \
      --comment "BuildFarm worker" "$WORKER_USER"
    note "created user $WORKER_USER"
  fi
else
  note "--destdir: user $WORKER_USER not created and ownership not changed (done by a real install)"
fi

# make_dir PATH MODE OWNER(user|root): created below destdir, mode always (re)applied.
make_dir() {
  install -d -m "$2" "$destdir$1"
  chmod "$2" "$destdir$1"
  if [ "$real_install" -eq 1 ] && [ "$3" = user ]; then chown "$WORKER_USER:$WORKER_USER" "$destdir$1"; fi
}
# put_file PATH MODE OWNER(user|root|group) < content: atomic replace (temporary file + rename).
put_file() {
  local target="$destdir$1" tmp
  tmp="$(mktemp "$target.XXXXXX")"
  cat >"$tmp"
  chmod "$2" "$tmp"
  if [ "$real_install" -eq 1 ]; then
    case "$3" in
      user) chown "$WORKER_USER:$WORKER_USER" "$tmp" ;;
      group) chown "root:$WORKER_USER" "$tmp" ;;
    esac
  fi
  mv -f "$tmp" "$target"
}

make_dir "$CONF_DIR" 0755 root
# o+x only: build users traverse to the store and build directories (bubblewrap opens them as the build user);
# they can list nothing here, and keys/ stays 0700.
make_dir "$STATE_DIR" 0751 user
make_dir "$KEY_DIR" 0700 user
make_dir "$root" 0755 user
make_dir "$root$store_dir" 0755 user
make_dir "$UNIT_DIR" 0755 root
make_dir "$UNIT_DIR/$UNIT.d" 0755 root

# The SSH key this worker logs in to the origin with (only with --origin); kept when present, its public half goes
# into the origin's authorized_keys.
origin_login=""
if [ -n "$origin" ]; then
  if [ -f "$destdir$origin_key_file" ] && [ -f "$destdir$origin_key_file.pub" ]; then
    note "kept the existing origin login key $origin_key_file"
  else
    tmpdir="$(mktemp -d "$destdir$KEY_DIR/.origin-key.XXXXXX")"
    ssh-keygen -q -t ed25519 -N '' -C "buildfarm-worker@$name" -f "$tmpdir/key" >/dev/null ||
      { rm -rf "$tmpdir"; die "ssh-keygen could not generate the origin login key"; }
    (umask 077 && put_file "$origin_key_file" 0600 user <"$tmpdir/key")
    put_file "$origin_key_file.pub" 0644 user <"$tmpdir/key.pub"
    rm -rf "$tmpdir"
    note "generated origin login key $origin_key_file"
  fi
  origin_login="$(head -n 1 "$destdir$origin_key_file.pub")"
fi

# The signing key (kept when present, made otherwise), the trusted key files and worker.json: buildfarm-worker init.
"$binary_dir/buildfarm-worker" init "${init_flags[@]}" | sed 's/^/  /'
if [ "$real_install" -eq 1 ]; then
  chown "$WORKER_USER:$WORKER_USER" "$secret_file"
  chown "root:$WORKER_USER" "$CONFIG"
fi
public="$("$binary_dir/buildfarm" keys public "$destdir$secret_file")"
printf '%s\n' "$public" | put_file "$public_file" 0644 user
if [ -e "$destdir$LEGACY_ORIGIN_HOST_KEYS" ]; then
  rm -f "$destdir$LEGACY_ORIGIN_HOST_KEYS"
  note "removed $LEGACY_ORIGIN_HOST_KEYS (the pins are in $CONFIG now)"
fi

[ -f "$SCRIPT_DIR/$UNIT" ] || die "the unit file $SCRIPT_DIR/$UNIT is missing next to this script"
put_file "$UNIT_DIR/$UNIT" 0644 root <"$SCRIPT_DIR/$UNIT"
{
  echo "# Written by install-worker.sh for worker '$name'; rerun it to change."
  echo "[Service]"
  echo "ExecStart="
  echo "ExecStart=$binary_dir/buildfarm-worker run --config $CONFIG"
  case "$root/" in
    "$STATE_DIR"/*) ;;
    *) echo "ReadWritePaths=$root" ;;
  esac
} | put_file "$UNIT_DIR/$UNIT.d/install.conf" 0644 root
note "installed $UNIT_DIR/$UNIT and $UNIT_DIR/$UNIT.d/install.conf"

if [ "$real_install" -eq 0 ]; then
  note "--destdir: systemctl not run; on the real machine: systemctl daemon-reload && systemctl enable --now buildfarm-worker"
elif [ ! -d /run/systemd/system ]; then
  note "systemd is not running here: systemctl not run; start by hand: $binary_dir/buildfarm-worker run --config $CONFIG"
else
  systemctl daemon-reload
  if [ "$enable" -eq 1 ]; then
    systemctl enable --now "$UNIT"
    note "enabled and started $UNIT (a running worker keeps its old config until: systemctl restart $UNIT, which drains first)"
  else
    note "--no-enable: unit installed but not enabled; later: systemctl enable --now $UNIT"
  fi
fi

echo
echo "Check the machine: sudo -u $WORKER_USER $binary_dir/buildfarm-worker check --config $CONFIG"
echo "Authorize this worker on the dispatcher by adding its public key to the dispatcher's trusted worker keys:"
echo "public key: $public"
if [ -n "$origin_login" ]; then
  origin_shown="$origin"
  [[ "$origin" =~ :[0-9]+$ ]] || origin_shown="$origin:22"
  echo "Let it log in to the origin $origin_shown: add this line to the authorized_keys of the origin's login user (Dispatcher:Origin:User):"
  echo "origin login key: $origin_login"
  echo "Restrict it to the store commands workers run (buildfarm origin-serve; the buildfarm path and store flags as in"
  echo "the dispatcher's Dispatcher:Origin:RemoteCommand, here those of packaging/buildfarm-dispatcher.service):"
  echo "origin authorized_keys line: command=\"/opt/buildfarm/bin/buildfarm --store-dir $store_dir --root /var/lib/buildfarm/origin origin-serve\",restrict $origin_login"
else
  echo "No --origin: this worker runs only requests whose inputs are already in its store."
fi
