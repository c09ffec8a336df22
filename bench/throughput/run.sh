#!/usr/bin/env bash
# Throughput of trivial builds: BuildFarm (`./farm up` with 2 workers: RabbitMQ, origin sshd, dispatcher) vs Nix's own remote
# builder (`nix-store -r --max-jobs 0 --builders ssh://root@127.0.0.1?remote-store=local?root=DIR`) on loopback.
#   bench/throughput/run.sh                      N=1000 builds per side
#   N=200 SLOTS=2 SUBMIT_PARALLEL=16 SKIP_BUILD=1 bench/throughput/run.sh
# Every build is a distinct derivation `busybox sh -c 'echo NONCE-i > $out'` (a static busybox added to /nix/store
# once, the only input). Both sides start from instantiated .drv files and have the same concurrency: 2 workers ×
# SLOTS for BuildFarm, one Nix builder with maxJobs 2 × SLOTS. BuildFarm's clock runs from the first submission
# (POST /api/builds, SUBMIT_PARALLEL at a time) until the dispatcher records every build finished; Nix's clock is
# the nix-store -r command. Prints builds/s for both and the ratio.
# Runs as root (sshd, Nix); uses its own temp dir, keys and free ports; stops only the processes it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${N:-1000}"
SLOTS="${SLOTS:-2}"
SUBMIT_PARALLEL="${SUBMIT_PARALLEL:-16}"
JOBS=$((2 * SLOTS))
IDLE="${IDLE:-20}"
WORK="$(mktemp -d /tmp/bf-bench-throughput-XXXXXX)"
# The workers sandbox their builds: build users must be able to traverse to their stores (mktemp makes 0700).
chmod 0755 "$WORK"
PIDS=()

# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"
start() { local name=$1; shift; setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null & PIDS+=($!); disown; }
now() { date +%s.%N; }
cleanup() {
  local p
  if [ "${FARM_STARTED:-0}" = 1 ]; then "$ROOT/farm" down > /dev/null 2>&1 || true; fi
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

[ "${SKIP_BUILD:-0}" = 1 ] || "$ROOT/farm" build >&2
BF="$ROOT/artifacts/bin/buildfarm"
for tool in nix-store nix-instantiate sshd busybox curl sqlite3; do command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }; done

# --- the derivations: one static busybox in /nix/store, N distinct drvs per side -------------------------------------
mkdir -p "$WORK/bench-busybox"; cp "$(command -v busybox)" "$WORK/bench-busybox/busybox"
BUSYBOX="$(nix-store --add "$WORK/bench-busybox")"
cat > "$WORK/builds.nix" <<'NIX'
{ n, nonce, busybox }:
builtins.genList (i: derivation {
  name = "throughput-${toString i}"; system = "x86_64-linux";
  builder = "${builtins.storePath busybox}/busybox"; args = [ "sh" "-c" "echo ${nonce}-${toString i} > $out" ];
}) n
NIX
instantiate() { nix-instantiate "$WORK/builds.nix" --arg n "$1" --argstr nonce "$2-$$-$RANDOM$RANDOM" --argstr busybox "$BUSYBOX" 2>/dev/null; }
instantiate "$N" bf > "$WORK/bf.drvs"; instantiate "$N" nix > "$WORK/nix.drvs"
instantiate "$JOBS" bfwarm > "$WORK/bf-warm.drvs"; instantiate "$JOBS" nixwarm > "$WORK/nix-warm.drvs"
instantiate "$IDLE" bfidle > "$WORK/bf-idle.drvs"; instantiate "$IDLE" nixidle > "$WORK/nix-idle.drvs"
echo "== $N builds per side, concurrency $JOBS; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- BuildFarm: the ./farm up farm (RabbitMQ, origin sshd, dispatcher, 2 workers), full offload path ---------------
# The same code path as `./farm up`, with two equal x86_64-linux workers of SLOTS slots: every build pulls its input
# (busybox) from the origin over SSH when missing, runs in the worker's sandbox, signs and returns its output, and the
# dispatcher imports it into the origin store before the build counts as finished.
export FARM_DIR="$WORK/farm"
FARM_STARTED=1
FARM_WORKERS="w1 x86_64-linux - - $SLOTS 1;w2 x86_64-linux - - $SLOTS 1" "$ROOT/farm" up --store-dir /nix/store --no-install --no-build > "$WORK/farm-up.log" 2>&1 ||
  { echo "./farm up failed:" >&2; tail -20 "$WORK/farm-up.log" >&2; exit 1; }
API="$(cat "$FARM_DIR/dispatcher.url")"
# The origin store is the farm's own: give it the .drv files and their closure (busybox) from Nix's store.
# shellcheck disable=SC2046
nix-store --export $(nix-store -qR $(cat "$WORK/bf.drvs" "$WORK/bf-warm.drvs" "$WORK/bf-idle.drvs")) |
  "$BF" --store-dir /nix/store --root "$FARM_DIR/origin" store import --no-check-sigs > /dev/null
# Workers take inputs signed by the dispatcher's key only (what `./farm demo` does for its example graph).
"$BF" --store-dir /nix/store --root "$FARM_DIR/origin" store sign --key-file "$FARM_DIR/keys/dispatcher.sec" "$BUSYBOX" > /dev/null

# submit FILE: POST every drv path of FILE, SUBMIT_PARALLEL at a time; any refusal aborts the bench.
submit() {
  xargs -P "$SUBMIT_PARALLEL" -I{} curl -sf -o /dev/null -H 'Content-Type: application/json' \
    -d '{"drvPath":"{}"}' "$API/api/builds" < "$1"
}
# finished COUNT: waits until the dispatcher's metrics count COUNT finished builds; prints succeeded and failed.
finished() {
  local s f
  while true; do
    read -r s f < <(curl -sf "$API/metrics" | awk '/^buildfarm_builds\{state="succeeded"\}/ {s=$2} /^buildfarm_builds\{state="failed"\}/ {f=$2} END {print s+0, f+0}')
    [ $((s + f)) -ge "$1" ] && { echo "$s $f"; return; }
    sleep 0.1
  done
}
submit "$WORK/bf-warm.drvs"; finished "$JOBS" >/dev/null   # warm-up (JIT, connections), not timed
t0=$(now); submit "$WORK/bf.drvs"; read -r bf_ok bf_failed < <(finished $((N + JOBS))); t1=$(now)
bf_ok=$((bf_ok - JOBS))
# Latency per build, submit to result, from the dispatcher's own record (submitted_at/finished_at, ms): the timed
# builds only (submitted after t0), p50/p99 by nearest rank.
read -r bf_p50 bf_p99 < <(sqlite3 "$FARM_DIR/dispatcher.db" \
  "SELECT finished_at - submitted_at FROM builds WHERE finished_at IS NOT NULL AND submitted_at >= CAST($t0 * 1000 AS INTEGER) ORDER BY 1" |
  awk '{v[NR]=$1} END {if (NR == 0) {print "- -"; exit} i50=int(NR*0.50+0.999); i99=int(NR*0.99+0.999); print v[i50], v[i99]}')
[ "$bf_failed" = 0 ] || { echo "BuildFarm: $bf_failed builds failed, e.g.:" >&2; sqlite3 "$FARM_DIR/dispatcher.db" "SELECT failure_reason FROM builds WHERE state = 'failed' LIMIT 3" >&2; }
# Latency of one build on an idle farm: IDLE builds one at a time, each submitted once the previous one ended; p50
# and p99 of the dispatcher's own submit -> result record (the polling below only paces the loop).
t_idle=$(now)
while read -r drv; do
  id=$(curl -sf -H 'Content-Type: application/json' -d "{\"drvPath\":\"$drv\"}" "$API/api/builds" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  [ -n "$id" ] || { echo "BuildFarm: submitting $drv for the idle latency failed" >&2; exit 1; }
  until curl -sf "$API/api/builds/$id" | grep -Eq '"state":"(succeeded|failed|cancelled)"'; do sleep 0.005; done
done < "$WORK/bf-idle.drvs"
read -r idle_n idle_p50 idle_p99 < <(sqlite3 "$FARM_DIR/dispatcher.db" \
  "SELECT finished_at - submitted_at FROM builds WHERE state = 'succeeded' AND submitted_at >= CAST($t_idle * 1000 AS INTEGER) ORDER BY 1" |
  awk '{v[NR]=$1} END {if (NR == 0) {print "0 - -"; exit} i50=int(NR*0.50+0.999); i99=int(NR*0.99+0.999); print NR, v[i50], v[i99]}')
[ "$idle_n" = "$IDLE" ] || { echo "BuildFarm: $idle_n of $IDLE idle-latency builds succeeded" >&2; exit 1; }

# --- Nix: remote builder over ssh to a private sshd on loopback, remote store local?root=DIR ------------------------
SPORT=$(local_free_port)
local_sshd_prepare "$WORK/sshd" "$SPORT" "$WORK/client"
mkdir -p "$WORK/nix-remote"
start sshd /usr/sbin/sshd -D -e -f "$WORK/sshd/sshd_config"
local_wait_port "$SPORT" sshd "${PIDS[-1]}" "$WORK/sshd.log"
export NIX_SSHOPTS="-p $SPORT -o UserKnownHostsFile=$WORK/sshd/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
BUILDERS="ssh://root@127.0.0.1?remote-store=local%3Froot%3D$WORK/nix-remote x86_64-linux $WORK/client $JOBS"
nix_realise() {
  local drvs; mapfile -t drvs < "$1"
  nix-store -r --max-jobs 0 --builders "$BUILDERS" --option substituters "" --no-build-output "${drvs[@]}" > "$WORK/nix.out" 2> "$WORK/nix.err"
}
nix_realise "$WORK/nix-warm.drvs"   # warm-up: copies busybox to the remote store once, not timed
t2=$(now); nix_rc=0; nix_realise "$WORK/nix.drvs" || nix_rc=$?; t3=$(now)
nix_ok=$(wc -l < "$WORK/nix.out")
# Nix's latency of one build through its remote builder on the same idle machine: one nix-store -r per build.
: > "$WORK/nix-idle.ms"
while read -r drv; do
  a=$(now); nix-store -r --max-jobs 0 --builders "$BUILDERS" --option substituters "" --no-build-output "$drv" > /dev/null 2>> "$WORK/nix.err"; b=$(now)
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }' >> "$WORK/nix-idle.ms"
done < "$WORK/nix-idle.drvs"
read -r nix_idle_p50 < <(sort -n "$WORK/nix-idle.ms" | awk '{v[NR]=$1} END {print v[int(NR*0.50+0.999)]}')
[ "$nix_rc" = 0 ] || { echo "nix-store -r exited $nix_rc:" >&2; tail -5 "$WORK/nix.err" >&2; }

awk -v n="$N" -v j="$JOBS" -v bo="$bf_ok" -v p50="$bf_p50" -v p99="$bf_p99" -v a="$t0" -v b="$t1" -v no="$nix_ok" -v c="$t2" -v d="$t3" -v ip50="$idle_p50" -v ip99="$idle_p99" -v nip50="$nix_idle_p50" -v idle="$IDLE" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  bf = bo / (b - a); nx = no / (d - c)
  printf "builds: %d per side, concurrency %d, load after: %s\n", n, j, load
  printf "BuildFarm (dispatcher + 2 workers over RabbitMQ): %d ok in %.1f s = %.1f builds/s\n", bo, b - a, bf
  printf "BuildFarm latency submit->result: p50 %s ms, p99 %s ms\n", p50, p99
  printf "BuildFarm latency of one build on an idle farm (%d one at a time): p50 %s ms, p99 %s ms\n", idle, ip50, ip99
  printf "Nix remote builder, one build at a time (nix-store -r per build, wall): p50 %s ms\n", nip50
  printf "Nix remote builder (ssh://127.0.0.1, local?root=): %d ok in %.1f s = %.1f builds/s\n", no, d - c, nx
  printf "Nix time per build (wall x concurrency / builds): %.0f ms\n", (d - c) * j * 1000 / no
  printf "ratio BuildFarm/Nix = %.2f\n", bf / nx
}'
