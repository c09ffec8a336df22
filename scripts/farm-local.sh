# ./farm up / ./farm down: a local farm under .farm/ (sourced by ./farm; uses log, ensure_packages, cmd_build).
# Every process is started with setsid (own process group) and its pid recorded in .farm/pids/; `down` stops
# exactly those groups. State: .farm/{rabbit,keys,origin,workers/*,dispatcher.*} plus .farm/env and
# .farm/dispatcher.url, which artifacts/bin/buildfarm reads when run from the repository root.

FARM="$ROOT/.farm"

farm_free_port() {
  local p
  while true; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

farm_alive() { [ -f "$FARM/pids/$1.pid" ] && kill -0 "$(cat "$FARM/pids/$1.pid")" 2>/dev/null; }

farm_start() { # name, command...
  local name=$1; shift
  mkdir -p "$FARM/pids" "$FARM/logs"
  setsid "$@" >"$FARM/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$FARM/pids/$name.pid"
}

farm_wait_port() { # port, what
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "gave up waiting for $2 on port $1 (see $FARM/logs/)" >&2; return 1
}

farm_rabbit_env() {
  export HOME="$FARM/rabbit/home" RABBITMQ_NODENAME="$(cat "$FARM/rabbit/node")" \
    RABBITMQ_NODE_PORT="$(cat "$FARM/rabbit/port")" RABBITMQ_DIST_PORT="$(cat "$FARM/rabbit/dist-port")" \
    RABBITMQ_MNESIA_BASE="$FARM/rabbit/mnesia" RABBITMQ_LOG_BASE="$FARM/rabbit/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$FARM/rabbit/enabled_plugins" RABBITMQ_CONFIG_FILE="$FARM/rabbit/rabbitmq"
}

farm_worker_config() { # name systems(json) supported(json) mandatory(json) slots
  local dir="$FARM/workers/$1"
  mkdir -p "$dir/root" "$dir/builds"
  [ -f "$dir/worker.sec" ] || nix key generate-secret --key-name "$1-1" > "$dir/worker.sec"
  cat > "$dir/worker.json" <<JSON
{
  "Name": "$1", "Systems": $2, "SupportedFeatures": $3, "MandatoryFeatures": $4, "Slots": $5, "SpeedFactor": 1,
  "Store": { "StoreDir": "$STORE_DIR", "Root": "$dir/root" },
  "Keys": { "SigningKeyFile": "$dir/worker.sec", "TrustedDispatcherKeysFile": "$FARM/keys/dispatcher.pub" },
  "Broker": { "Uri": "amqp://guest:guest@127.0.0.1:$(cat "$FARM/rabbit/port")/" },
  "BuildDir": "$dir/builds", "AllowUnsandboxed": true,
  "Logs": { "JsonFile": "$dir/worker.json.log" }
}
JSON
}

cmd_up() {
  STORE_DIR=/nix/store
  while [ $# -gt 0 ]; do
    case "$1" in
      --store-dir) STORE_DIR=$2; shift 2 ;;
      *) echo "./farm up: unknown option $1 (valid: --store-dir DIR)" >&2; return 2 ;;
    esac
  done
  ensure_packages
  [ -x artifacts/bin/buildfarm ] && [ -x artifacts/bin/buildfarm-worker ] || cmd_build
  mkdir -p "$FARM/keys" "$FARM/origin" "$FARM/rabbit/home"
  if ! farm_alive rabbit; then
    [ -f "$FARM/rabbit/node" ] || echo "bffarm$RANDOM@localhost" > "$FARM/rabbit/node"
    farm_free_port > "$FARM/rabbit/port"; farm_free_port > "$FARM/rabbit/dist-port"
    printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$(cat "$FARM/rabbit/port")" > "$FARM/rabbit/rabbitmq.conf"
    echo '[].' > "$FARM/rabbit/enabled_plugins"
    (farm_rabbit_env; farm_start rabbit /usr/lib/rabbitmq/bin/rabbitmq-server)
    log "starting RabbitMQ on port $(cat "$FARM/rabbit/port")"
    farm_wait_port "$(cat "$FARM/rabbit/port")" RabbitMQ
    (farm_rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" await_startup --timeout 90 >/dev/null)
  fi
  if [ ! -f "$FARM/keys/dispatcher.sec" ]; then
    nix key generate-secret --key-name dispatcher-1 > "$FARM/keys/dispatcher.sec"
    nix key convert-secret-to-public < "$FARM/keys/dispatcher.sec" > "$FARM/keys/dispatcher.pub"
  fi
  printf 'BUILDFARM_STORE_DIR=%s\nBUILDFARM_ROOT=%s\n' "$STORE_DIR" "$FARM/origin" > "$FARM/env"
  if ! farm_alive dispatcher; then
    local port; port=$(farm_free_port)
    cat > "$FARM/dispatcher.json" <<JSON
{
  "Broker": { "Uri": "amqp://guest:guest@127.0.0.1:$(cat "$FARM/rabbit/port")/" },
  "Dispatcher": {
    "ListenUrl": "http://127.0.0.1:$port", "DatabasePath": "$FARM/dispatcher.db",
    "SigningKeyFile": "$FARM/keys/dispatcher.sec", "StoreDir": "$STORE_DIR", "Root": "$FARM/origin",
    "LogFile": "$FARM/logs/dispatcher.json.log"
  }
}
JSON
    farm_start dispatcher "$ROOT/artifacts/bin/buildfarm" serve --config "$FARM/dispatcher.json"
    echo "http://127.0.0.1:$port" > "$FARM/dispatcher.url"
    farm_wait_port "$port" "the dispatcher"
  fi
  farm_worker_config plain '["x86_64-linux"]' '[]' '[]' 2
  farm_worker_config kvm '["x86_64-linux"]' '["kvm"]' '[]' 2
  farm_worker_config bench '["x86_64-linux"]' '["kvm","big-parallel"]' '["benchmark"]' 1
  farm_worker_config i686 '["i686-linux"]' '[]' '[]' 2
  for w in plain kvm bench i686; do
    farm_alive "worker-$w" || farm_start "worker-$w" "$ROOT/artifacts/bin/buildfarm-worker" run --config "$FARM/workers/$w/worker.json"
  done
  log "farm up"
  echo "dispatcher API  $(cat "$FARM/dispatcher.url")   (artifacts/bin/buildfarm submit FILE.drv)"
  echo "RabbitMQ        amqp://guest:guest@127.0.0.1:$(cat "$FARM/rabbit/port")/"
  echo "workers         plain (x86_64-linux), kvm (+kvm), bench (+kvm,big-parallel, mandatory benchmark), i686 (i686-linux)"
  echo "store           $STORE_DIR under $FARM/origin (workers: $FARM/workers/*/root); logs in $FARM/logs/"
}

cmd_down() {
  [ -d "$FARM/pids" ] || { log "no farm running"; return 0; }
  local f name pid
  for f in "$FARM"/pids/worker-*.pid "$FARM/pids/dispatcher.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for f in "$FARM"/pids/worker-*.pid "$FARM/pids/dispatcher.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); name=$(basename "$f" .pid)
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    rm -f "$f"; log "stopped $name"
  done
  if [ -f "$FARM/pids/rabbit.pid" ]; then
    (farm_rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1) || true
    pid=$(cat "$FARM/pids/rabbit.pid")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    rm -f "$FARM/pids/rabbit.pid"; log "stopped RabbitMQ"
  fi
  rm -f "$FARM/dispatcher.url"
}
