#!/usr/bin/env bash
# Set-up cost of one build's sandbox: ours (bubblewrap, build user, private root, seccomp) against Nix's own,
# each as the difference between sandboxed and unsandboxed trivial builds on this machine, one job at a time.
#   bench/sandbox/run.sh [BUILDS]     (default 40)
#   INPUTS=N bench/sandbox/run.sh     each build also gets N small input paths (a closure's size), both sides
# Ours: `buildfarm-worker debug sandbox-cost` (the worker's own SandboxRunner and UnsandboxedRunner).
# Nix's: nix-build of BUILDS trivial derivations with --option sandbox true, then false (fresh ones each time).
# Runs as root (both sandboxes need it here).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILDS="${1:-40}"
INPUTS="${INPUTS:-0}"
WORK="$(mktemp -d /tmp/bf-bench-sandbox-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

echo "== building buildfarm-worker (Release)" >&2
dotnet build "$ROOT/src/Worker/BuildFarm.Worker.csproj" -c Release --nologo -v quiet >&2
WORKER="$ROOT/artifacts/build/bin/BuildFarm.Worker/release/buildfarm-worker"

mkdir -p "$WORK/bb" && cp /bin/busybox "$WORK/bb/busybox"
BB="$(nix-store --add "$WORK/bb")"
cat > "$WORK/many.nix" <<'NIX'
{ n, tag, bb, inputs }:
let deps = builtins.genList (j: builtins.toFile "bench-sandbox-input-${toString j}" "input ${toString j}\n") inputs;
in builtins.listToAttrs (map (i: {
  name = "d${toString i}";
  value = derivation { name = "bench-sandbox-${tag}-${toString i}"; system = "x86_64-linux"; builder = "${builtins.storePath bb}/busybox"; args = [ "sh" "-c" "echo ${toString i} > $out" ]; inherit deps; };
}) (builtins.genList (x: x) n))
NIX

echo "$(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $INPUTS extra inputs per build"
"$WORKER" debug sandbox-cost --builds "$BUILDS" --inputs "$INPUTS" | sed 's/^/buildfarm: /'
nix_ms() {
  local start end
  start=$(date +%s%N)
  nix-build "$WORK/many.nix" --arg n "$BUILDS" --argstr tag "$1-$RANDOM$RANDOM" --argstr bb "$BB" --arg inputs "$INPUTS" --option sandbox "$1" -j 1 --no-out-link > /dev/null 2>&1
  end=$(date +%s%N)
  echo $(( (end - start) / BUILDS / 1000 ))
}
sandboxed=$(nix_ms true)
plain=$(nix_ms false)
awk -v s="$sandboxed" -v p="$plain" 'BEGIN { printf "nix:       sandboxed %.1f ms/build, unsandboxed %.1f ms/build, sandbox set-up %.1f ms/build\n", s/1000, p/1000, (s-p)/1000 }'
