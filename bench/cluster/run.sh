#!/usr/bin/env bash
# The farm on a 3-node RabbitMQ cluster that loses a node mid-run:
#   bench/cluster/run.sh [BUILDS]          default 40 builds
#   SKIP_BUILD=1 bench/cluster/run.sh 100  reuse artifacts/bin and the test build
# Runs tests/Integration.Tests' ClusterFailoverTests with BUILDS builds: three private RabbitMQ nodes on loopback
# (own names, ports, data dirs, one Erlang cookie) joined into a cluster, the dispatcher (in the test process) and two
# published buildfarm-worker processes (as ./farm up runs them, 2 slots each), all configured with the three nodes.
# After the first build succeeds, the node leading the class queue (`rabbitmqctl list_queues name leader`) is killed
# with SIGKILL; after the next success it is started again. Ends with the test's own counts:
#   builds N, succeeded N, lost 0, duplicated 0
# (lost: not succeeded when every build finished or after 6 minutes; duplicated: a builder run to completion more than
# once, or more than one succeeded attempt). Bash only orchestrates; the test does the work. Runs as root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILDS="${1:-40}"
case "$BUILDS" in '' | *[!0-9]*) echo "usage: $0 [BUILDS] (a positive number, got '$BUILDS')" >&2; exit 2 ;; esac
WORK="$(mktemp -d /tmp/bf-bench-cluster-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  dotnet publish "$ROOT/src/Worker/BuildFarm.Worker.csproj" -c Release -o "$ROOT/artifacts/bin" --nologo -v quiet >&2
  dotnet build "$ROOT/tests/Integration.Tests/BuildFarm.Integration.Tests.csproj" --nologo -v quiet >&2
fi

start=$(date +%s)
status=0
BUILDFARM_CLUSTER_BUILDS="$BUILDS" BUILDFARM_CLUSTER_REPORT="$WORK/report" \
  dotnet test "$ROOT/tests/Integration.Tests/BuildFarm.Integration.Tests.csproj" --no-build --nologo \
  --filter "FullyQualifiedName~ClusterFailoverTests" --logger "console;verbosity=normal" > "$WORK/test.log" 2>&1 || status=$?
if [ ! -s "$WORK/report" ]; then
  tail -n 60 "$WORK/test.log" >&2
  echo "the test ended (exit $status) before it counted the builds" >&2
  exit 1
fi
[ "$status" = 0 ] || grep -E "Failed|Assert" "$WORK/test.log" | head -n 5 >&2
echo "wall time $(( $(date +%s) - start )) s (cluster start, workers, $BUILDS builds, kill and restart)"
cat "$WORK/report"
exit "$status"
