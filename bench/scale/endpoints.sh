#!/usr/bin/env bash
# Response times of every UI page and API list (buildfarm-scale endpoints) of a real dispatcher started on a copy of
# a stored database, without a broker (docs/PERFORMANCE.md#scale):
#   bench/scale/endpoints.sh                  seeds /tmp/bf-seed-100k.db once (buildfarm-scale seed, 100,000 builds)
#   DB=/path/dispatcher.db LABEL=before bench/scale/endpoints.sh
#   SKIP_BUILD=1 SEED_ARGS="--queued 50000" bench/scale/endpoints.sh
#   CLI=/old/artifacts/scale/cli/buildfarm DOWNGRADE=bench/scale/schema-8.sql bench/scale/endpoints.sh   an older dispatcher
#     (DOWNGRADE: SQL run on the copy first, e.g. to drop what schema versions 9-11 added for a dispatcher of version 8)
# The copy is thrown away afterwards, so runs before and after a change read the same data; the seed's times are
# relative to when it was made (the charts' windows): reseed (rm the file) when comparing runs made later.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${BIN:-$ROOT/artifacts/scale}"
CLI="${CLI:-$BIN/cli/buildfarm}"
DB="${DB:-/tmp/bf-seed-100k.db}"
LABEL="${LABEL:-$(git -C "$ROOT" rev-parse --short HEAD)}"
WORK="$(mktemp -d /tmp/bf-endpoints-XXXXXX)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
PID=""
# shellcheck disable=SC2317  # (called by the EXIT trap below)
cleanup() {
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  dotnet publish "$ROOT/src/Cli/BuildFarm.Cli.csproj" -c Release -o "$BIN/cli" --nologo -v quiet
  dotnet publish "$ROOT/bench/scale/Scale/BuildFarm.Scale.csproj" -c Release -o "$BIN/tool" --nologo -v quiet
fi
# shellcheck disable=SC2086  # SEED_ARGS is a list of options
[ -f "$DB" ] || "$BIN/tool/buildfarm-scale" seed "$DB" ${SEED_ARGS:-}
cp "$DB" "$WORK/dispatcher.db"
[ -z "${DOWNGRADE:-}" ] || sqlite3 "$WORK/dispatcher.db" < "$DOWNGRADE"
"$CLI" keys generate --name dispatcher-1 --secret-file "$WORK/dispatcher.sec" --public-file "$WORK/dispatcher.pub" >/dev/null
"$CLI" keys generate --name w001 --secret-file "$WORK/w001.sec" --public-file "$WORK/trusted-workers.pub" >/dev/null
API_PORT=$(local_free_port)
# No broker listens on the broker port: pages and lists never need it.
cat > "$WORK/dispatcher.json" <<JSON
{
  "Broker": { "Uri": "amqp://nobody:nothing@127.0.0.1:$(local_free_port)/" },
  "Dispatcher": {
    "ListenUrl": "http://127.0.0.1:$API_PORT", "DatabasePath": "$WORK/dispatcher.db",
    "SigningKeyFile": "$WORK/dispatcher.sec", "StoreDir": "/nix/store", "Root": "$WORK/origin",
    "TrustedWorkerKeysFile": "$WORK/trusted-workers.pub", "LogFile": "$WORK/dispatcher.json.log"
  }
}
JSON
mkdir -p "$WORK/origin"
"$CLI" serve --config "$WORK/dispatcher.json" >"$WORK/dispatcher.log" 2>&1 </dev/null &
PID=$!
local_wait_port "$API_PORT" "the dispatcher" "$PID" "$WORK/dispatcher.log"
echo "== $LABEL: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(du -m "$DB" | cut -f1) MiB database" >&2
"$BIN/tool/buildfarm-scale" endpoints "http://127.0.0.1:$API_PORT" "$LABEL"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
