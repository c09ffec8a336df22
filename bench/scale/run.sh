#!/usr/bin/env bash
# Scale: one real dispatcher (`buildfarm serve`, no origin) and a private RabbitMQ, driven by bench/scale/Scale
# (`buildfarm-scale`): many lightweight workers in one process, each a real broker consumer with its own
# capabilities and signing key, building in memory (docs/PERFORMANCE.md#scale).
#   bench/scale/run.sh                              phases "10:1000 100:1000 10:10000 100:10000" (workers:builds)
#   PHASES="100:1000" SKIP_BUILD=1 KEEP=1 bench/scale/run.sh
#   OUT=docs/perf bench/scale/run.sh                results.jsonl, table.md and scale.png land in OUT
#   PHASES="" GRAPH=100x100 bench/scale/run.sh      a 10,000-derivation graph through two concurrent `buildfarm build`
#   DISPATCHER_READY_TO_RUN=1 bench/scale/run.sh    the dispatcher on its precompiled code (before 2026-12-05's change)
# Phases run in order against the same dispatcher, so the database grows from one to the next. Each phase starts
# its workers, submits its builds (POST /api/builds, PARALLEL at a time) across the 20 capability classes, waits
# until the dispatcher has recorded them all finished, then measures. Bash only starts and stops the servers;
# everything measured is measured by the C# tool. Runs as root; stops only the processes it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PHASES="${PHASES:-10:1000 100:1000 10:10000 100:10000}"
PARALLEL="${PARALLEL:-16}"
MAX_WORKERS=100
WORK="$(mktemp -d /tmp/bf-scale-XXXXXX)"
OUT="${OUT:-$WORK/out}"
BIN="$ROOT/artifacts/scale"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PIDS=()

# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"
start() { local name=$1; shift; setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null & PIDS+=($!); echo $! > "$WORK/$name.pid"; }
rabbit_env() {
  export HOME="$R/home" RABBITMQ_NODENAME="bfscale$$@localhost" RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$DIST_PORT" \
    RABBITMQ_MNESIA_BASE="$R/mnesia" RABBITMQ_LOG_BASE="$R/log" RABBITMQ_ENABLED_PLUGINS_FILE="$R/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$R/rabbitmq"
}
# shellcheck disable=SC2317  # (called by the EXIT trap below)
cleanup() {
  local p
  # RabbitMQ's Erlang VM leaves the process group of the script that started it: stop the node itself first.
  [ -z "${RABBIT_PORT:-}" ] || (rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1) || true
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  dotnet publish "$ROOT/src/Cli/BuildFarm.Cli.csproj" -c Release -o "$BIN/cli" --nologo -v quiet
  dotnet publish "$ROOT/bench/scale/Scale/BuildFarm.Scale.csproj" -c Release -o "$BIN/tool" --nologo -v quiet
fi
BF="$BIN/cli/buildfarm"
SCALE="$BIN/tool/buildfarm-scale"
mkdir -p "$OUT"

# --- RabbitMQ: a private node, the dispatcher's user and one user per load worker -----------------------------------
R="$WORK/rabbit"
mkdir -p "$R/home"
RABBIT_PORT=$(local_free_port); DIST_PORT=$(local_free_port)
printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$RABBIT_PORT" > "$R/rabbitmq.conf"
echo '[].' > "$R/enabled_plugins"
(rabbit_env; start rabbit /usr/lib/rabbitmq/bin/rabbitmq-server)
local_wait_port "$RABBIT_PORT" RabbitMQ "$(cat "$WORK/rabbit.pid")" "$WORK/rabbit.log"
(rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" await_startup --timeout 120 >/dev/null)
WORKER_ARGS=()
for i in $(seq 1 "$MAX_WORKERS"); do WORKER_ARGS+=(--worker "$(printf 'w%03d' "$i")"); done
(umask 077; "$BF" broker definitions --secrets-dir "$R/users" --dispatcher "${WORKER_ARGS[@]}" > "$R/definitions.json")
(rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" import_definitions "$R/definitions.json" >/dev/null)

# --- keys and the dispatcher (no origin: results are checked by their output signatures) ----------------------------
"$SCALE" keys "$WORK/keys" "$MAX_WORKERS"
"$BF" keys generate --name dispatcher-1 --secret-file "$WORK/keys/dispatcher.sec" --public-file "$WORK/keys/dispatcher.pub" >/dev/null
API_PORT=$(local_free_port)
(umask 077; cat > "$WORK/dispatcher.json") <<JSON
{
  "Broker": { "Uri": "amqp://buildfarm-dispatcher@127.0.0.1:$RABBIT_PORT/", "PasswordFile": "$R/users/buildfarm-dispatcher.password" },
  "Dispatcher": {
    "ListenUrl": "http://127.0.0.1:$API_PORT", "DatabasePath": "$WORK/dispatcher.db",
    "SigningKeyFile": "$WORK/keys/dispatcher.sec", "StoreDir": "/nix/store", "Root": "$WORK/origin",
    "TrustedWorkerKeysFile": "$WORK/keys/trusted-workers.pub",
    "LogFile": "$WORK/dispatcher.json.log"
  }
}
JSON
mkdir -p "$WORK/origin"
# As installed (packaging/buildfarm-dispatcher.service): no ReadyToRun code; DISPATCHER_READY_TO_RUN=1 for the old setting.
start dispatcher env DOTNET_ReadyToRun="${DISPATCHER_READY_TO_RUN:-0}" "$BF" serve --config "$WORK/dispatcher.json"
local_wait_port "$API_PORT" "the dispatcher" "$(cat "$WORK/dispatcher.pid")" "$WORK/dispatcher.log"
# The dispatcher process itself (setsid started it directly: the pid is the process, not a wrapper).
DISPATCHER_PID=$(cat "$WORK/dispatcher.pid")
echo "== dispatcher pid $DISPATCHER_PID on http://127.0.0.1:$API_PORT, RabbitMQ 127.0.0.1:$RABBIT_PORT; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

status=0
for phase in $PHASES; do
  workers=${phase%%:*}; builds=${phase##*:}
  "$SCALE" run --api "http://127.0.0.1:$API_PORT" --broker-uri "amqp://127.0.0.1:$RABBIT_PORT/" --users "$R/users" \
    --keys "$WORK/keys" --dispatcher-key "$WORK/keys/dispatcher.pub" --dispatcher-pid "$DISPATCHER_PID" --db "$WORK/dispatcher.db" \
    --workers "$workers" --builds "$builds" --parallel "$PARALLEL" --log-chunks "${LOG_CHUNKS:-1}" --label "${workers}w-${builds}" \
    --results "$OUT/results.jsonl" || status=1
done
if [ -n "${GRAPH:-}" ]; then
  # GRAPH=DEPTHxWIDTH: that layered graph through two concurrent `buildfarm build` clients, GRAPH_WORKERS load workers.
  "$SCALE" graph --api "http://127.0.0.1:$API_PORT" --broker-uri "amqp://127.0.0.1:$RABBIT_PORT/" --users "$R/users" \
    --keys "$WORK/keys" --dispatcher-key "$WORK/keys/dispatcher.pub" --dispatcher-pid "$DISPATCHER_PID" --db "$WORK/dispatcher.db" \
    --workers "${GRAPH_WORKERS:-100}" --depth "${GRAPH%%x*}" --width "${GRAPH##*x}" --origin-root "$WORK/origin" --cli "$BF" \
    --results "$OUT/results.jsonl" || status=1
fi
[ -s "$OUT/results.jsonl" ] || exit $status
"$SCALE" table "$OUT/results.jsonl" | tee "$OUT/table.md"
"$SCALE" plot "$OUT/results.jsonl" "$OUT/scale.png"
echo "results in $OUT" >&2
exit $status
