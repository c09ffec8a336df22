#!/usr/bin/env bash
# Fault-injection soak over a real local farm (issue #16, section 1; docs/RELIABILITY.md).
#   bench/soak/run.sh FAULTS [--seed N] [--minutes M]   e.g. bench/soak/run.sh 20 --seed 7 (--minutes: stop injecting after M minutes)
#   SKIP_BUILD=1 KEEP=1 bench/soak/run.sh 5      reuse artifacts/bin (./farm build); keep the temp dir (farm logs, stores)
# Starts `./farm up` in a temp FARM_DIR with 2 workers of 1 slot (private RabbitMQ, origin sshd, dispatcher), then
# bench/soak/Soak (C#) injects FAULTS faults from a schedule seeded by --seed, checks the invariants after each and
# prints the table of fault kind x times injected x outcome, then exactly one line
#   faults N, builds M, lost 0, duplicated 0, partial 0, orphans 0
# Exit 0 when every count but faults and builds is 0. Runs as root; stops only the processes it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FAULTS="${1:?usage: bench/soak/run.sh FAULTS [--seed N]}"; shift
SEED=1
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED=$2; shift 2 ;;
    --minutes) EXTRA+=(--minutes "$2"); shift 2 ;;
    *) echo "bench/soak/run.sh: unknown option $1 (valid: --seed N, --minutes M)" >&2; exit 2 ;;
  esac
done
WORK="$(mktemp -d /tmp/bf-soak-XXXXXX)"
chmod 755 "$WORK"   # build users (the sandbox) open the workers' stores under it
export FARM_DIR="$WORK/farm" BUILDFARM_TEST_PHASE_HOLD_DIR="$WORK/holds"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
cleanup() {
  "$ROOT/farm" down > /dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  echo "== publishing buildfarm, buildfarm-worker (artifacts/bin) and the soak" >&2
  dotnet publish "$ROOT/src/Cli/BuildFarm.Cli.csproj" -c Release -o "$ROOT/artifacts/bin" --nologo -v quiet >&2
  dotnet publish "$ROOT/src/Worker/BuildFarm.Worker.csproj" -c Release -o "$ROOT/artifacts/bin" --nologo -v quiet >&2
  dotnet publish "$ROOT/bench/soak/Soak/BuildFarm.Soak.csproj" -c Release -o "$ROOT/artifacts/soak" --nologo -v quiet >&2
elif [ ! -x "$ROOT/artifacts/soak/buildfarm-soak" ]; then
  dotnet publish "$ROOT/bench/soak/Soak/BuildFarm.Soak.csproj" -c Release -o "$ROOT/artifacts/soak" --nologo -v quiet >&2
fi

# The soak's farm is small on purpose (2 shared cores): 2 workers of 1 slot each.
FARM_WORKERS='w1 x86_64-linux - - 1 1;w2 x86_64-linux - - 1 1' "$ROOT/farm" up --store-dir /nix/store --no-install --no-build > "$WORK/farm-up.log" 2>&1 ||
  { echo "./farm up failed:" >&2; tail -20 "$WORK/farm-up.log" >&2; exit 1; }
"$ROOT/artifacts/soak/buildfarm-soak" "$FAULTS" --seed "$SEED" --farm "$FARM_DIR" --bin "$ROOT/artifacts/bin" \
  --work "$WORK" --holds "$BUILDFARM_TEST_PHASE_HOLD_DIR" --workers w1,w2 "${EXTRA[@]}"
