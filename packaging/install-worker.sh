#!/usr/bin/env bash
# Turns a Debian machine into a BuildFarm worker: a system user, directories, an Ed25519 signing key,
# /etc/buildfarm/worker.json from the flags, the systemd unit (enabled and started). With --origin also an SSH key
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
    --dispatcher-key|--origin|--origin-host-key|--origin-host-key-file|--origin-key|--destdir|--prefix|--binary-dir)
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

# ---- validation (every message names the flag, the bad value and what would be valid) ---------------------
# Splits a comma list, drops empty items and duplicates, checks each against a pattern.
split_list() {
  local flag="$1" list="$2" pattern="$3" what="$4" item seen=" "
  local -a items
  IFS=',' read -r -a items <<<"$list"
  for item in "${items[@]}"; do
    item="${item// /}"
    [ -n "$item" ] || continue
    [[ "$item" =~ $pattern ]] || die "$flag: '$item' is not $what"
    case "$seen" in *" $item "*) continue ;; esac
    seen+="$item "
    printf '%s\n' "$item"
  done
}

[ -n "$name" ] || die "--name is required (e.g. --name builder-1)"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
  die "--name: '$name' is not a valid worker name (letters, digits, '.', '_', '-'; at most 64 characters)"

if [ -z "$systems" ]; then
  case "$(uname -m)" in
    x86_64) systems="x86_64-linux" ;;
    aarch64) systems="aarch64-linux" ;;
    *) systems="$(uname -m)-linux" ;;
  esac
fi
# to_array NAME TEXT: one array item per line of TEXT (none for empty TEXT).
to_array() {
  local -n target="$1"
  target=()
  [ -z "$2" ] || mapfile -t target <<<"$2"
}
out="$(split_list --systems "$systems" '^[a-z0-9_]+-[a-z0-9_]+$' 'a system like x86_64-linux')" || exit 2
to_array system_list "$out"
[ ${#system_list[@]} -gt 0 ] || die "--systems: no system given (e.g. --systems x86_64-linux,i686-linux)"
feature_pattern='^[A-Za-z0-9][A-Za-z0-9._+-]*$'
out="$(split_list --features "$features" "$feature_pattern" 'a feature name like kvm')" || exit 2
to_array feature_list "$out"
out="$(split_list --mandatory-features "$mandatory" "$feature_pattern" 'a feature name like benchmark')" || exit 2
to_array mandatory_list "$out"

if [ -z "$slots" ]; then slots="$(nproc 2>/dev/null || echo 1)"; fi
[[ "$slots" =~ ^[1-9][0-9]{0,3}$ ]] && [ "$slots" -le 1024 ] || die "--slots: '$slots' is not a whole number from 1 to 1024"
[[ "$speed" =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ ! "$speed" =~ ^0+(\.0+)?$ ]] ||
  die "--speed: '$speed' is not a number greater than 0 (e.g. 1, 2.5)"
awk -v s="$speed" 'BEGIN { exit !(s <= 100) }' || die "--speed: '$speed' is too large (at most 100)"

[ -n "$broker_uri" ] || die "--broker-uri is required (e.g. --broker-uri amqp://buildfarm:secret@broker:5672/)"
IFS=',' read -r -a broker_nodes <<<"$broker_uri"
for node in "${broker_nodes[@]}"; do
  node="${node// /}"
  [[ "$node" =~ ^amqps?://[^/?#]+(/.*)?$ ]] ||
    die "--broker-uri: '$node' is not an amqp:// or amqps:// URI (e.g. amqp://user:password@host:5672/)"
done

check_dir() {
  local flag="$1" dir="$2"
  [[ "$dir" == /* ]] || die "$flag: '$dir' is not an absolute path"
  [[ "$dir" != */ || "$dir" == / ]] || die "$flag: '$dir' must not end with '/'"
  [[ "/$dir/" != */../* && "/$dir/" != */./* ]] || die "$flag: '$dir' must not contain '.' or '..' components"
  [[ "$dir" =~ ^[A-Za-z0-9._/+-]+$ ]] || die "$flag: '$dir' may only contain letters, digits and . _ / + -"
}
check_dir --store-dir "$store_dir"
[ "$store_dir" != / ] || die "--store-dir: '/' cannot be a store directory (e.g. /nix/store)"
check_dir --root "$root"
check_dir --binary-dir "$binary_dir"
case "$destdir" in /*) ;; *) destdir="$(pwd)/$destdir" ;; esac
destdir="${destdir%/}"
check_dir --destdir "${destdir:-/}"

[ ${#dispatcher_keys[@]} -gt 0 ] ||
  die "--dispatcher-key is required: the dispatcher's public key NAME:BASE64 (on the dispatcher: cat its .public key file)"
# check_public_key FLAG KEY: an Ed25519 public key NAME:BASE64 (32 bytes), as Nix writes them.
check_public_key() {
  [[ "$2" =~ ^[A-Za-z0-9._-]+:[A-Za-z0-9+/]{43}=$ ]] &&
    [ "$(printf '%s' "${2#*:}" | base64 -d 2>/dev/null | wc -c)" -eq 32 ] ||
    die "$1: '$2' is not an Ed25519 public key NAME:BASE64 (32 bytes, e.g. dispatcher-1:q5qA...Rvw=)"
}
for key in "${dispatcher_keys[@]}"; do check_public_key --dispatcher-key "$key"; done

# ---- the origin: every check before anything is written --------------------------------------------------
# OpenSSH's fingerprint of a public key line: SHA256: + unpadded base64 of SHA-256(the decoded key blob).
fingerprint_of_line() {
  local blob hex
  blob="$(printf '%s\n' "$1" | awk '{ print ($2 != "" ? $2 : $1) }')"
  printf '%s' "$blob" | base64 -d >/dev/null 2>&1 || return 1
  [ "$(printf '%s' "$blob" | base64 -d | wc -c)" -ge 8 ] || return 1
  hex="$(printf '%s' "$blob" | base64 -d | sha256sum | cut -c1-64)"
  # shellcheck disable=SC2059 # the format is the \xNN escapes of the digest
  printf "SHA256:%s" "$(printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')" | base64 -w0 | tr -d '=')"
}
origin_host="" origin_port=22 pins=()
if [ -n "$origin" ]; then
  if [[ "$origin" =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]+))?$ ]] || [[ "$origin" =~ ^([A-Za-z0-9][A-Za-z0-9._-]*)(:([0-9]+))?$ ]]; then
    origin_host="${BASH_REMATCH[1]}"
    origin_port="${BASH_REMATCH[3]:-22}"
  else
    die "--origin: '$origin' is not HOST or HOST:PORT (e.g. origin.example.org, origin.example.org:2222, [2001:db8::1]:22)"
  fi
  [[ "$origin_port" =~ ^[1-9][0-9]{0,4}$ ]] && [ "$origin_port" -le 65535 ] ||
    die "--origin: port '$origin_port' of '$origin' is not a port from 1 to 65535"
  for fp in "${origin_host_keys[@]}"; do
    fp="${fp// /}"
    [[ "$fp" =~ ^SHA256:[A-Za-z0-9+/]{43}=?$ ]] ||
      die "--origin-host-key: '$fp' is not an OpenSSH fingerprint SHA256:BASE64 (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"
    pins+=("${fp%=}")
  done
  for file in "${origin_host_key_files[@]}"; do
    [ -f "$file" ] && [ -r "$file" ] ||
      die "--origin-host-key-file: '$file' is not a readable file (copy /etc/ssh/ssh_host_ed25519_key.pub from the origin)"
    line="$(grep -v '^[[:space:]]*\(#\|$\)' "$file" | head -n 1 || true)"
    fp="$(fingerprint_of_line "$line")" ||
      die "--origin-host-key-file: '$file' holds no OpenSSH public key line ('ssh-ed25519 AAAA... comment')"
    pins+=("$fp")
  done
  [ ${#pins[@]} -gt 0 ] ||
    die "--origin $origin needs its host key: --origin-host-key SHA256:BASE64 or --origin-host-key-file FILE (on the origin: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"
  mapfile -t pins < <(printf '%s\n' "${pins[@]}" | awk '!seen[$0]++')
  [ ${#origin_keys[@]} -gt 0 ] || origin_keys=("${dispatcher_keys[@]}")
  for key in "${origin_keys[@]}"; do check_public_key --origin-key "$key"; done
  command -v ssh-keygen >/dev/null ||
    die "--origin: ssh-keygen is missing; it makes the key this worker logs in to the origin with (apt-get install openssh-client)"
else
  for flag_used in origin-host-key:${#origin_host_keys[@]} origin-host-key-file:${#origin_host_key_files[@]} origin-key:${#origin_keys[@]}; do
    [ "${flag_used#*:}" -eq 0 ] || die "--${flag_used%%:*} needs --origin HOST[:PORT]: the origin these keys belong to"
  done
fi

[ -x "$binary_dir/buildfarm-worker" ] ||
  die "--binary-dir: '$binary_dir' has no executable buildfarm-worker (publish with ./farm build and pass --binary-dir artifacts/bin, or copy artifacts/bin to /opt/buildfarm/bin)"

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
make_dir "$STATE_DIR" 0750 user
make_dir "$KEY_DIR" 0700 user
make_dir "$root" 0755 user
make_dir "$root$store_dir" 0755 user
make_dir "$UNIT_DIR" 0755 root
make_dir "$UNIT_DIR/$UNIT.d" 0755 root

# Signing key: kept when present (its public half is what the dispatcher trusts), generated otherwise.
secret_file="$KEY_DIR/signing.secret"
public_file="$KEY_DIR/signing.public"
secret_pattern="^[A-Za-z0-9._-]+:[A-Za-z0-9+/]{86}==$"
if [ -f "$destdir$secret_file" ]; then
  secret="$(tr -d '\n' <"$destdir$secret_file")"
  [[ "$secret" =~ $secret_pattern ]] ||
    die "existing $destdir$secret_file is not an Ed25519 secret key NAME:BASE64 (64 bytes); move it away to generate a new one"
  note "kept the existing signing key $secret_file"
else
  [ -x "$binary_dir/buildfarm" ] ||
    die "cannot generate the signing key: '$binary_dir/buildfarm' is missing (it provides 'buildfarm keys generate'; pass --binary-dir)"
  generated="$("$binary_dir/buildfarm" keys generate --name "$name")" ||
    die "'$binary_dir/buildfarm keys generate --name $name' failed"
  secret="$(printf '%s\n' "$generated" | grep -oE "^$name:[A-Za-z0-9+/]{86}==" | head -n 1 || true)"
  [ -n "$secret" ] ||
    die "'buildfarm keys generate --name $name' printed no secret key '$name:BASE64' (64 bytes) on stdout"
  printf '%s\n' "$secret" | (umask 077 && put_file "$secret_file" 0600 user)
  note "generated signing key $secret_file"
fi
key_name="${secret%%:*}"
# Ed25519 secret key = seed (32 bytes) || public key (32 bytes), as in Nix.
public="$key_name:$(printf '%s' "${secret#*:}" | base64 -d | tail -c 32 | base64 -w0)"
printf '%s\n' "$public" | put_file "$public_file" 0644 user

# The SSH key this worker logs in to the origin with (only with --origin); kept when present, its public half goes
# into the origin's authorized_keys.
origin_key_file="$KEY_DIR/origin_ed25519"
origin_login=""
if [ -n "$origin_host" ]; then
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

json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  printf '"%s"' "$s"
}
json_array() {
  local first=1 item
  printf '['
  for item in "$@"; do
    [ "$first" -eq 1 ] || printf ', '
    first=0
    json_string "$item"
  done
  printf ']'
}
bool() { if [ "$1" -eq 1 ]; then printf true; else printf false; fi; }

printf '%s\n' "${dispatcher_keys[@]}" | put_file "$TRUSTED_KEYS" 0644 root
note "wrote $TRUSTED_KEYS"
origins_json=""
if [ -n "$origin_host" ]; then
  printf '%s\n' "${origin_keys[@]}" | put_file "$TRUSTED_INPUT_KEYS" 0644 root
  note "wrote $TRUSTED_INPUT_KEYS"
  pin_json=""
  for fp in "${pins[@]}"; do
    [ -z "$pin_json" ] || pin_json+=","
    pin_json+=$'\n'"      { \"host\": $(json_string "$origin_host"), \"port\": $origin_port, \"fingerprint\": $(json_string "$fp") }"
  done
  origins_json=$(cat <<ORIGINS
,
  "origins": {
    "privateKeyFile": $(json_string "$origin_key_file"),
    "pinnedHostKeys": [$pin_json
    ],
    "trustedInputKeysFile": $(json_string "$TRUSTED_INPUT_KEYS")
  }
ORIGINS
)
fi
if [ -e "$destdir$LEGACY_ORIGIN_HOST_KEYS" ]; then
  rm -f "$destdir$LEGACY_ORIGIN_HOST_KEYS"
  note "removed $LEGACY_ORIGIN_HOST_KEYS (the pins are in $CONFIG now)"
fi

# Keys are those of BuildFarm.Worker.Configuration.WorkerOptions (the worker rejects unknown keys in `check`).
put_file "$CONFIG" 0640 group <<JSON
{
  "name": $(json_string "$name"),
  "systems": $(json_array "${system_list[@]}"),
  "supportedFeatures": $(json_array "${feature_list[@]}"),
  "mandatoryFeatures": $(json_array "${mandatory_list[@]}"),
  "slots": $slots,
  "speedFactor": $speed,
  "store": {
    "storeDir": $(json_string "$store_dir"),
    "root": $(json_string "$root")
  },
  "keys": {
    "signingKeyFile": $(json_string "$secret_file"),
    "trustedDispatcherKeysFile": $(json_string "$TRUSTED_KEYS")
  },
  "broker": {
    "uri": $(json_string "$broker_uri")
  },
  "allowUnsandboxed": $(bool "$allow_unsandboxed")$origins_json
}
JSON
note "wrote $CONFIG"

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
  echo "Let it log in to the origin $origin_host:$origin_port: add this line to the authorized_keys of the origin's login user (Dispatcher:Origin:User):"
  echo "origin login key: $origin_login"
else
  echo "No --origin: this worker runs only requests whose inputs are already in its store."
fi
