#!/usr/bin/env bash
# Two builds of BuildFarm side by side on the farm's own path (`buildfarm --nix build`, no Nix peer rows): the
# dispatcher's CPU per derivation, taking turns, each run on a fresh `./farm up --nix` farm.
#   bench/hook/farm-ab.sh BEFORE_CHECKOUT AFTER_CHECKOUT      (each with artifacts/bin from ./farm build; root)
#   N=300 GRAPH=20 REFS=1 ROUNDS=2 bench/hook/farm-ab.sh …    (defaults: a layered graph whose closures grow)
#   N=200 GRAPH=200 bench/hook/farm-ab.sh …                  (one layer: N independent derivations)
# Per run: a 4-slot worker, 8 untimed warm-up derivations, then N fresh ones (bench/hook/builds.nix, GRAPH wide, the
# top layer given to `buildfarm build`). CPU is the dispatcher's own (utime + stime, /proc/PID/stat) over the timed
# build, divided by N; wall per derivation is printed too, but on a shared machine only the CPU compares.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${N:-300}"; GRAPH="${GRAPH:-20}"; ROUNDS="${ROUNDS:-2}"
if [ "${REFS:-1}" = 0 ]; then REFS=false; else REFS=true; fi
WORK="$(mktemp -d /tmp/bf-bench-farm-ab-XXXXXX)"
# The build users of the worker's sandbox must reach the farm directory (mktemp makes it 0700).
chmod 755 "$WORK"
export FARM_DIR="$WORK/farm"
cleanup() {
  if [ -n "${UP:-}" ]; then (cd "$UP" && ./farm down > /dev/null 2>&1) || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/bench-busybox"; cp "$(command -v busybox)" "$WORK/bench-busybox/busybox"
BUSYBOX="$(nix-store --add "$WORK/bench-busybox")"

# run CHECKOUT: one fresh farm from CHECKOUT's artifacts, the timed graph, one result line
run() {
  local dir; dir="$(cd "$1" && pwd)"
  [ -x "$dir/artifacts/bin/buildfarm" ] || { echo "farm-ab: $dir has no artifacts/bin (./farm build there first)" >&2; exit 1; }
  rm -rf "$FARM_DIR"; UP="$dir"
  (cd "$dir" && FARM_WORKERS="ab x86_64-linux - - 4 1" ./farm up --nix --no-install --no-build > "$WORK/up.log" 2>&1) ||
    { tail -20 "$WORK/up.log" >&2; exit 1; }
  local api dp warm drvs d0 d1 t0 t1
  api="$(cat "$FARM_DIR/dispatcher.url")"
  dp="$(cat "$FARM_DIR/pids/dispatcher.pid")"
  warm="$(nix-instantiate "$ROOT/bench/hook/builds.nix" --arg n 8 --arg width 4 --arg refs "$REFS" --argstr nonce "w$$-$RANDOM$RANDOM" --argstr busybox "$BUSYBOX" 2> /dev/null)"
  # shellcheck disable=SC2086
  "$dir/artifacts/bin/buildfarm" --nix build --url "$api" $warm > "$WORK/build.log" 2>&1 || { tail -5 "$WORK/build.log" >&2; exit 1; }
  drvs="$(nix-instantiate "$ROOT/bench/hook/builds.nix" --arg n "$N" --arg width "$GRAPH" --arg refs "$REFS" --argstr nonce "g$$-$RANDOM$RANDOM" --argstr busybox "$BUSYBOX" 2> /dev/null | tail -n "$GRAPH")"
  d0="$(awk '{ print $14 + $15 }' "/proc/$dp/stat")"; t0="$(date +%s%N)"
  # shellcheck disable=SC2086
  "$dir/artifacts/bin/buildfarm" --nix build --url "$api" $drvs > "$WORK/build.log" 2>&1 || { tail -5 "$WORK/build.log" >&2; exit 1; }
  t1="$(date +%s%N)"; d1="$(awk '{ print $14 + $15 }' "/proc/$dp/stat")"
  (cd "$dir" && ./farm down > /dev/null 2>&1); UP=""
  awk -v name="$(git -C "$dir" rev-parse --short HEAD)" -v n="$N" -v wall=$(( (t1 - t0) / 1000000 )) -v ticks=$(( d1 - d0 )) -v hz="$(getconf CLK_TCK)" \
    -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    'BEGIN { printf "%-10s %d derivations: wall %.1f ms, dispatcher CPU %.2f ms per derivation; load %s\n", name, n, wall / n, 1000 * ticks / hz / n, load }'
}

echo "N=$N GRAPH=$GRAPH REFS=$REFS ROUNDS=$ROUNDS; $(nproc) cores"
for ((r = 1; r <= ROUNDS; r++)); do
  run "$1"
  run "$2"
done
