# shellcheck shell=bash
# ./farm up / demo / add-worker / down: a local farm on loopback (sourced by ./farm; uses log, ensure_packages,
# cmd_build). Every process is started with setsid (own process group) and its pid recorded in $FARM/pids/;
# `down` stops exactly those groups. $FARM is $FARM_DIR, default .farm/ in the repository. State:
#   rabbit/             private RabbitMQ (node name, ports, mnesia); users/USER.password (0600): one broker user
#                       per role (dispatcher, each worker, monitoring), no guest (`buildfarm broker definitions`)
#   ssh/                the origin's sshd: its own host key, the workers' client key in authorized_keys (forced
#                       to `buildfarm origin-serve`)
#   keys/               dispatcher key pair, worker keys (standard workers + spares for add-worker), trust files
#   origin/             the origin store (logical /nix/store) the dispatcher owns and workers pull from over SSH
#   workers/NAME/       each worker's config, physical store (root/) and build dirs
#   env, dispatcher.url what artifacts/bin/buildfarm reads when FARM_DIR names this directory
# Ports are free loopback ports chosen at start, so several farms (tests) can run side by side.

FARM="${FARM_DIR:-$ROOT/.farm}"
BF="$ROOT/artifacts/bin/buildfarm"
BFW="$ROOT/artifacts/bin/buildfarm-worker"
BFH="$ROOT/artifacts/bin/buildfarm-hook"
# Standard workers, "name systems features mandatory slots speed"; FARM_WORKERS replaces them
# (';'-separated, lists ','-separated, '-' = none), e.g. FARM_WORKERS='solo x86_64-linux,i686-linux kvm - 1 1'.
FARM_STANDARD_WORKERS='plain x86_64-linux - - 2 1;i686 i686-linux - - 1 1;kvm x86_64-linux kvm,big-parallel - 2 2'
FARM_SPARE_KEYS=4

# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"

farm_alive() { [ -f "$FARM/pids/$1.pid" ] && kill -0 "$(cat "$FARM/pids/$1.pid")" 2>/dev/null; }

farm_start() { # name, command...
  local name=$1; shift
  mkdir -p "$FARM/pids" "$FARM/logs"
  setsid "$@" >"$FARM/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$FARM/pids/$name.pid"
}

farm_wait_port() { # port, what, pid-name
  local_wait_port "$1" "$2" "$(cat "$FARM/pids/$3.pid")" "$FARM/logs/$3.log"
}

farm_key() { # file-stem key-name: a Nix-format Ed25519 pair stem.sec / stem.pub, kept when it exists
  [ -f "$1.sec" ] && return 0
  "$BF" keys generate --name "$2" --secret-file "$1.sec" --public-file "$1.pub" >/dev/null
}

farm_rabbit_env() {
  RABBITMQ_NODENAME="$(cat "$FARM/rabbit/node")"
  RABBITMQ_NODE_PORT="$(cat "$FARM/rabbit/port")"
  RABBITMQ_DIST_PORT="$(cat "$FARM/rabbit/dist-port")"
  export HOME="$FARM/rabbit/home" RABBITMQ_NODENAME RABBITMQ_NODE_PORT RABBITMQ_DIST_PORT \
    RABBITMQ_MNESIA_BASE="$FARM/rabbit/mnesia" RABBITMQ_LOG_BASE="$FARM/rabbit/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$FARM/rabbit/enabled_plugins" RABBITMQ_CONFIG_FILE="$FARM/rabbit/rabbitmq"
}

# farm_amqp USER: the URI without a password (configs name the user's password file: Broker:PasswordFile).
farm_amqp() { echo "amqp://$1@127.0.0.1:$(cat "$FARM/rabbit/port")/"; }

farm_broker_password() { echo "$FARM/rabbit/users/$1.password"; }

# farm_broker_users DEFINITIONS-ARGS...: creates the named users (`buildfarm broker definitions` makes their
# passwords and narrowest permissions; importing is additive, so add-worker adds one user and touches no other).
farm_broker_users() {
  local defs="$FARM/rabbit/definitions.json"
  (umask 077; "$BF" broker definitions --secrets-dir "$FARM/rabbit/users" "$@" > "$defs")
  (farm_rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" import_definitions "$defs" >/dev/null)
}

farm_start_rabbit() {
  farm_alive rabbit && return 0
  mkdir -p "$FARM/rabbit/home"
  [ -f "$FARM/rabbit/node" ] || echo "bffarm$RANDOM@localhost" > "$FARM/rabbit/node"
  local_free_port > "$FARM/rabbit/port"; local_free_port > "$FARM/rabbit/dist-port"
  printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$(cat "$FARM/rabbit/port")" > "$FARM/rabbit/rabbitmq.conf"
  echo '[].' > "$FARM/rabbit/enabled_plugins"
  (farm_rabbit_env; farm_start rabbit /usr/lib/rabbitmq/bin/rabbitmq-server)
  log "starting RabbitMQ on 127.0.0.1:$(cat "$FARM/rabbit/port")"
  farm_wait_port "$(cat "$FARM/rabbit/port")" RabbitMQ rabbit
  (farm_rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" await_startup --timeout 120 >/dev/null)
  farm_broker_users --dispatcher --monitoring
  # No guest: every process connects as its role's user.
  (farm_rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" delete_user guest >/dev/null 2>&1) || true
}

# The origin's sshd: workers log in with the farm's client key, which may only run `buildfarm origin-serve` on the
# origin store (the store commands of the dispatcher's RemoteCommand, nothing else: docs/operations.md).
# farm_start_sshd NIX: NIX=1 when the origin is the machine's Nix store (./farm up --nix), as the RemoteCommand says.
farm_start_sshd() {
  local dir="$FARM/ssh" store="--root $FARM/origin"
  [ "${1:-0}" = 0 ] || store="--nix"
  mkdir -p "$dir"
  if ! farm_alive sshd; then
    local_free_port > "$dir/port"
    local_sshd_prepare "$dir" "$(cat "$dir/port")" "$dir/worker_ed25519"
  fi
  # Rewritten on every up (a running sshd reads it at the next login): the origin store may have changed (--nix).
  local_sshd_authorize "$dir" "$dir/worker_ed25519" \
    "$BF --store-dir $STORE_DIR $store --signing-key-file $FARM/keys/dispatcher.sec origin-serve"
  local_sshd_fingerprint "$dir" > "$dir/fingerprint"
  farm_alive sshd && return 0
  farm_start sshd /usr/sbin/sshd -D -e -f "$dir/sshd_config"
  log "starting the origin's sshd on 127.0.0.1:$(cat "$dir/port") (host key $(cat "$dir/fingerprint"))"
  farm_wait_port "$(cat "$dir/port")" sshd sshd
}

# Keys: the dispatcher's pair, one per worker name and spares for add-worker. The dispatcher re-reads its trusted
# worker keys when they change, but every worker reads trusted-inputs.pub once: the spares are authorized up front
# there, so adding a worker restarts nothing.
farm_keys() {
  mkdir -p "$FARM/keys"
  farm_key "$FARM/keys/dispatcher" dispatcher-1
  local spec specs name i f
  IFS=';' read -ra specs <<< "${FARM_WORKERS:-$FARM_STANDARD_WORKERS}"
  for spec in "${specs[@]}"; do
    name=${spec%% *}; farm_key "$FARM/keys/worker-$name" "$name-1"
  done
  for i in $(seq 1 "$FARM_SPARE_KEYS"); do farm_key "$FARM/keys/spare-$i" "spare-$i"; done
  # One key a line (the .pub files have no final newline).
  for f in "$FARM"/keys/worker-*.pub "$FARM"/keys/spare-*.pub; do cat "$f"; echo; done > "$FARM/keys/trusted-workers.pub"
  # Inputs come from the origin: sources and .drvs signed by the dispatcher, outputs signed by the worker that built them.
  { cat "$FARM/keys/dispatcher.pub"; echo; cat "$FARM/keys/trusted-workers.pub"; } > "$FARM/keys/trusted-inputs.pub"
}

# The worker probes its sandbox itself; this only decides whether its config may fall back (bubblewrap present and
# an unprivileged user may create a user namespace).
farm_sandbox_possible() { [ -x /usr/bin/bwrap ] && setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2>/dev/null; }

farm_worker_config() { # name systems features mandatory slots speed [key-stem]
  local dir="$FARM/workers/$1" key=${7:-$FARM/keys/worker-$1} flags=()
  farm_sandbox_possible || flags+=(--allow-unsandboxed)
  [ "$3" = - ] || flags+=(--features "$3")
  [ "$4" = - ] || flags+=(--mandatory-features "$4")
  mkdir -p "$dir/root" "$dir/builds"
  farm_broker_users --worker "$1"
  # The origin's pin is computed from its host public key; the key files exist (farm_keys, farm_start_sshd).
  "$BFW" init --config "$dir/worker.json" --name "$1" --systems "$2" --slots "$5" --speed "$6" "${flags[@]}" \
    --store-dir "$STORE_DIR" --root "$dir/root" --build-dir "$dir/builds" --broker-uri "$(farm_amqp "buildfarm-worker-$1")" \
    --broker-password-file "$(farm_broker_password "buildfarm-worker-$1")" \
    --signing-key-file "$key.sec" --trusted-dispatcher-keys-file "$FARM/keys/dispatcher.pub" \
    --origin "127.0.0.1:$(cat "$FARM/ssh/port")" --origin-host-key-file "$FARM/ssh/host_ed25519.pub" \
    --origin-private-key-file "$FARM/ssh/worker_ed25519" --trusted-input-keys-file "$FARM/keys/trusted-inputs.pub" \
    --heartbeat-interval 00:00:02 --log-file "$dir/worker.json.log" >/dev/null
}

farm_start_worker() { # name systems features mandatory slots speed [key-stem]
  farm_worker_config "$@"
  # As installed (packaging/buildfarm-worker.service): without ReadyToRun code.
  farm_alive "worker-$1" || farm_start "worker-$1" env DOTNET_ReadyToRun=0 "$BFW" run --config "$FARM/workers/$1/worker.json"
}

farm_start_dispatcher() {
  farm_alive dispatcher && return 0
  local port; port=$(local_free_port)
  (umask 077; cat > "$FARM/dispatcher.json") <<JSON
{
  "Broker": { "Uri": "$(farm_amqp buildfarm-dispatcher)", "PasswordFile": "$(farm_broker_password buildfarm-dispatcher)" },
  "Dispatcher": {
    "ListenUrl": "http://127.0.0.1:$port", "DatabasePath": "$FARM/dispatcher.db",
    "SigningKeyFile": "$FARM/keys/dispatcher.sec", "StoreDir": "$STORE_DIR", "Root": "$FARM/origin",
    "HeartbeatInterval": "00:00:02", "LeaseDuration": "00:00:20",
    "TrustedWorkerKeysFile": "$FARM/keys/trusted-workers.pub",
    "Origin": {
      "Host": "127.0.0.1", "Port": $(cat "$FARM/ssh/port"), "User": "$(id -un)",
      "HostKeyFingerprint": "$(cat "$FARM/ssh/fingerprint")",
      "RemoteCommand": "$BF --store-dir $STORE_DIR --root $FARM/origin --signing-key-file $FARM/keys/dispatcher.sec"
    },
    "LogFile": "$FARM/logs/dispatcher.json.log"
  }
}
JSON
  # As installed (packaging/buildfarm-dispatcher.service): the long-running dispatcher without ReadyToRun code.
  farm_start dispatcher env DOTNET_ReadyToRun=0 "$BF" serve --config "$FARM/dispatcher.json"
  echo "http://127.0.0.1:$port" > "$FARM/dispatcher.url"
  log "starting the dispatcher on http://127.0.0.1:$port"
  farm_wait_port "$port" "the dispatcher" dispatcher
}

# Waits until the dispatcher lists every named worker as online (its first heartbeat arrived).
farm_wait_workers() {
  local url; url=$(cat "$FARM/dispatcher.url")
  local name
  for name in "$@"; do
    for _ in $(seq 1 300); do
      curl -fsS "$url/api/workers" 2>/dev/null | jq -e --arg name "$name" 'any(.[]; .name == $name and .online)' >/dev/null && continue 2
      if ! farm_alive "worker-$name"; then
        echo "worker $name exited; its log ($FARM/logs/worker-$name.log):" >&2
        tail -n 20 "$FARM/logs/worker-$name.log" >&2; return 1
      fi
      sleep 0.2
    done
    echo "worker $name did not come online within 60 s (see $FARM/logs/worker-$name.log)" >&2; return 1
  done
}

farm_parse_common() { # sets STORE_DIR, NO_INSTALL, NO_BUILD; leaves the rest in FARM_ARGS
  STORE_DIR=/nix/store NO_INSTALL=0 NO_BUILD=0 FARM_ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --store-dir) STORE_DIR=$2; shift 2 ;;
      --no-install) NO_INSTALL=1; shift ;;
      --no-build) NO_BUILD=1; shift ;;
      *) FARM_ARGS+=("$1"); shift ;;
    esac
  done
}

farm_prepare() {
  [ "$NO_INSTALL" = 1 ] || ensure_packages
  if [ "$NO_BUILD" = 1 ]; then
    if [ ! -x "$BF" ] || [ ! -x "$BFW" ]; then echo "--no-build: $BF or $BFW missing (run ./farm build)" >&2; return 1; fi
  elif [ ! -x "$BF" ] || [ ! -x "$BFW" ] || [ ! -x "$BFH" ] || [ -n "$(find src -newer "$BF" -type f -print -quit)" ]; then
    cmd_build
  fi
}

# ./farm up --nix: the dispatcher's origin is this machine's Nix store (read from Nix's database, signed as served,
# outputs made valid in it), and Nix hands builds to the farm through the NativeAOT `buildfarm-hook nix` (same
# session as `buildfarm nix-hook`, started in milliseconds; docs/hook.md). Nix 2.8 execs build-hook as a bare path
# with [basename, verbosity], so a script carries the hook's config file (which it could not find from argv).
farm_nix_hook() {
  export BUILDFARM_DISPATCHER__Origin__Store=nix
  export BUILDFARM_DISPATCHER__Origin__RemoteCommand="$BF --store-dir $STORE_DIR --nix --signing-key-file $FARM/keys/dispatcher.sec"
  printf '{ "url": "%s" }\n' "$(cat "$FARM/dispatcher.url" 2>/dev/null)" > "$FARM/hook.json"
  # shellcheck disable=SC2016 # the script expands its own variables
  printf '#!/bin/sh\nexport BUILDFARM_HOOK_CONFIG="${BUILDFARM_HOOK_CONFIG:-%s}"\nexec %s nix "$@"\n' "$FARM/hook.json" "$BFH" > "$FARM/nix-hook"
  chmod 755 "$FARM/nix-hook"
}

cmd_up() {
  local nix=0 a rest=()
  for a in "$@"; do if [ "$a" = --nix ]; then nix=1; else rest+=("$a"); fi; done
  farm_parse_common "${rest[@]}"
  [ ${#FARM_ARGS[@]} -eq 0 ] || { echo "./farm up: unknown option ${FARM_ARGS[0]} (valid: --nix --store-dir DIR --no-install --no-build)" >&2; return 2; }
  [ "$nix" = 0 ] || [ "$STORE_DIR" = /nix/store ] || { echo "./farm up --nix: the Nix store is /nix/store, not $STORE_DIR" >&2; return 2; }
  farm_prepare
  mkdir -p "$FARM/origin" "$FARM/logs"
  farm_keys
  farm_start_rabbit
  farm_start_sshd "$nix"
  printf 'BUILDFARM_STORE_DIR=%s\nBUILDFARM_ROOT=%s\n' "$STORE_DIR" "$FARM/origin" > "$FARM/env"
  [ "$nix" = 0 ] || farm_nix_hook
  farm_start_dispatcher
  [ "$nix" = 0 ] || farm_nix_hook
  local spec specs w names=() summary=()
  IFS=';' read -ra specs <<< "${FARM_WORKERS:-$FARM_STANDARD_WORKERS}"
  for spec in "${specs[@]}"; do
    read -r -a w <<< "$spec"
    farm_start_worker "${w[@]}"
    names+=("${w[0]}"); summary+=("${w[0]} (${w[1]}$( [ "${w[2]}" = - ] || echo "; ${w[2]}"); ${w[4]} slots)")
  done
  log "waiting for ${names[*]} to come online"
  farm_wait_workers "${names[@]}"
  log "farm up"
  echo "UI and API      $(cat "$FARM/dispatcher.url")"
  echo "CLI             export FARM_DIR=$FARM   # then: artifacts/bin/buildfarm status"
  echo "RabbitMQ        127.0.0.1:$(cat "$FARM/rabbit/port") (users buildfarm-dispatcher, buildfarm-worker-NAME, buildfarm-monitoring; passwords in $FARM/rabbit/users/)"
  echo "origin sshd     127.0.0.1:$(cat "$FARM/ssh/port") (host key $(cat "$FARM/ssh/fingerprint"))"
  local joined; joined=$(IFS=,; echo "${summary[*]}")
  echo "workers         ${joined//),/), }"
  echo "store           $STORE_DIR under $( [ "$nix" = 1 ] && echo "/ (the machine's Nix store)" || echo "$FARM/origin") (workers: $FARM/workers/*/root); logs in $FARM/logs/"
  farm_sandbox_possible || echo "note            builds run unsandboxed (no bubblewrap or no unprivileged user namespaces here): workers take only builds submitted with --trusted"
  if [ "$nix" = 1 ]; then
    echo "# Nix hands its builds to this farm with (nix.conf, or --option build-hook on the command line):"
    echo "build-hook = $FARM/nix-hook"
    echo "build-poll-interval = 0   # re-ask a postponed build at once, not after 5 s (docs/hook.md, Speed)"
    echo "export BUILDFARM_URL=$(cat "$FARM/dispatcher.url")"
    echo "export BUILDFARM_HOOK_CONFIG=$FARM/hook.json"
  fi
}

# ./farm add-worker NAME [--systems S] [--features F] [--mandatory F] [--slots N] [--speed X]: one more worker on
# the running farm, with one of the spare keys the dispatcher already trusts; nothing else restarts.
cmd_add_worker() {
  local name=${1:-}; shift || true
  if [ -z "$name" ] || [ ! -f "$FARM/dispatcher.url" ]; then
    echo "usage: ./farm add-worker NAME [--systems S] [--features F] [--mandatory F] [--slots N] [--speed X] (on a running farm)" >&2; return 2
  fi
  local systems=x86_64-linux features=- mandatory=- slots=1 speed=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --systems) systems=$2 ;; --features) features=$2 ;; --mandatory) mandatory=$2 ;;
      --slots) slots=$2 ;; --speed) speed=$2 ;;
      *) echo "./farm add-worker: unknown option $1" >&2; return 2 ;;
    esac
    shift 2
  done
  STORE_DIR=$(sed -n 's/^BUILDFARM_STORE_DIR=//p' "$FARM/env")
  local key i
  if [ -f "$FARM/workers/$name/key" ]; then key=$(cat "$FARM/workers/$name/key")
  elif [ -f "$FARM/keys/worker-$name.sec" ]; then key="$FARM/keys/worker-$name"
  else
    for i in $(seq 1 "$FARM_SPARE_KEYS"); do
      grep -qx "$FARM/keys/spare-$i" "$FARM"/workers/*/key 2>/dev/null || { key="$FARM/keys/spare-$i"; break; }
    done
    [ -n "${key:-}" ] || { echo "./farm add-worker: all $FARM_SPARE_KEYS spare keys are in use (restart the farm to authorize more)" >&2; return 1; }
  fi
  mkdir -p "$FARM/workers/$name"; echo "$key" > "$FARM/workers/$name/key"
  farm_start_worker "$name" "$systems" "$features" "$mandatory" "$slots" "$speed" "$key"
  farm_wait_workers "$name"
  log "worker $name online ($systems; features $features; $slots slots), signing with $(basename "$key")"
}

# ./farm demo: the farm with this machine's /nix/store as origin (`./farm up --nix`), then a plain nix-build of the
# example graph written as a Nix expression (examples/nix/demo.nix), every derivation handed to the farm by the
# build hook (--max-jobs 0: nothing builds locally). FARM_DEMO_NONCE (tests only) renames the derivations.
cmd_demo() {
  farm_parse_common "$@"
  [ ${#FARM_ARGS[@]} -eq 0 ] || { echo "./farm demo: unknown option ${FARM_ARGS[0]} (valid: --no-install --no-build)" >&2; return 2; }
  # A dispatcher already running from `./farm up` (without --nix) serves its private origin, which Nix cannot use.
  if farm_alive dispatcher && ! tr '\0' '\n' < "/proc/$(cat "$FARM/pids/dispatcher.pid")/environ" | grep -qx 'BUILDFARM_DISPATCHER__Origin__Store=nix'; then
    echo "./farm demo: the farm in $FARM runs with a private origin (./farm up without --nix): ./farm down first" >&2; return 1
  fi
  local up_flags=(--nix --store-dir "$STORE_DIR")
  [ "$NO_INSTALL" = 1 ] && up_flags+=(--no-install)
  [ "$NO_BUILD" = 1 ] && up_flags+=(--no-build)
  cmd_up "${up_flags[@]}"
  local expr="$ROOT/examples/nix/demo.nix" url out
  url=$(cat "$FARM/dispatcher.url")
  local nix_args=(--max-jobs 0 --option build-hook "$FARM/nix-hook" --option build-poll-interval 0 --option substituters '' --out-link "$FARM/result")
  [ -z "${FARM_DEMO_NONCE:-}" ] || nix_args+=(--argstr nonce "$FARM_DEMO_NONCE")
  if ! nix-build "$expr" "${nix_args[@]}" --dry-run 2>&1 | grep -q 'will be built'; then
    log "nix-build finds every output of examples/nix/demo.nix valid in /nix/store: nothing to rebuild"
  fi
  log "nix-build examples/nix/demo.nix --max-jobs 0 --option build-hook $FARM/nix-hook --option build-poll-interval 0 --option substituters '' --out-link $FARM/result${FARM_DEMO_NONCE:+ --argstr nonce $FARM_DEMO_NONCE}"
  out=$(BUILDFARM_URL=$url BUILDFARM_HOOK_CONFIG=$FARM/hook.json nix-build "$expr" "${nix_args[@]}")
  log "result"
  echo "$out   (valid in /nix/store; GC root $FARM/result)"
  sed 's/^/  | /' "$out/summary"
  log "which worker built each derivation (buildfarm status --recent 10)"
  "$BF" status --url "$url" --recent 10 | sed -n '/^recent builds/,$p'
  log "signatures (nix path-info --sigs -r): each output signed by the worker that built it"
  nix path-info --sigs -r "$out"
  log "the farm keeps running: UI $url — ./farm down stops it"
}

farm_stop() { # pid-name, seconds, [signalled: 1 when SIGTERM was sent already]
  local f="$FARM/pids/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  # A worker takes a second SIGTERM as "kill the running builds": send one only.
  [ "${3:-0}" = 1 ] || kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 $(($2 * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$f"; log "stopped $1"
}

cmd_down() {
  [ -d "$FARM/pids" ] || { log "no farm running"; return 0; }
  local f
  # Workers drain on SIGTERM (running builds finish); all of them at once, then wait.
  for f in "$FARM"/pids/worker-*.pid; do
    if [ -f "$f" ]; then kill -TERM -- "-$(cat "$f")" 2>/dev/null || true; fi
  done
  for f in "$FARM"/pids/worker-*.pid; do
    if [ -f "$f" ]; then farm_stop "$(basename "$f" .pid)" 30 1; fi
  done
  farm_stop dispatcher 10
  farm_stop sshd 5
  if [ -f "$FARM/pids/rabbit.pid" ]; then
    (farm_rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1) || true
    farm_stop rabbit 10
  fi
  rm -f "$FARM/dispatcher.url"
}
