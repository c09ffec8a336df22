#!/usr/bin/env bash
# nix-build through BuildFarm's build hook (`./farm up --nix`, `buildfarm-hook nix`, NativeAOT) vs nix-build through Nix's own
# remote builder over SSH (`--builders ssh://…`), both with --max-jobs 0, plus a local `nix-build --max-jobs SLOTS`
# for reference. Issue 13's bench: aim BuildFarm ≥ 10× Nix's remote builder.
#   bench/hook/run.sh                              N=100 derivations per side, SLOTS=4 on each side
#   N=100 SLOTS=4 POLL=5 SKIP_BUILD=1 KEEP=1 PROFILE=1 bench/hook/run.sh   PROFILE=1: where a hook build's time goes
#   N=1000 GRAPH=100 bench/hook/run.sh      a graph instead of N independent derivations: N/GRAPH layers of GRAPH,
#                                           node (l, i) needing (l-1, i) and (l-1, i+1 mod GRAPH); every side builds
#                                           all N, and one more side builds the same graph with `buildfarm build`
#                                           (the farm's own scheduler, outputs into /nix/store) instead of nix-build
# Every side builds its own N fresh derivations `busybox sh -c 'echo NONCE-i > $out'` (a static busybox added to
# /nix/store once, the only input; a nonce per side and run, so no output is valid before). The clock is the
# nix-build command (evaluation included). POLL is Nix's build-poll-interval for both sides: how long the builder
# waits before asking a hook again about a derivation it postponed (Nix's default is 5 s).
# Afterwards every output must be valid in /nix/store, the farm's builds succeeded in the dispatcher's records
# (with the worker), and Nix's remote outputs exist in the remote store; anything else fails the bench.
# Runs as root (sshd, Nix); own temp dir, keys and free ports; stops only what it started (the farm with ./farm down).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${N:-100}"
GRAPH="${GRAPH:-0}"
# REFS=0: a graph node depends on its two inputs without naming them in its output (closures stay small).
if [ "${REFS:-1}" = 0 ]; then REFS=false; else REFS=true; fi
SLOTS="${SLOTS:-4}"
POLL="${POLL:-5}"
# The timed rows are a warm farm (a long-running service); its first WARM builds after start (the JIT of dispatcher
# and worker) are a row of their own, as are Nix's remote builder's first WARM.
WARM="${WARM:-$N}"
WORK="$(mktemp -d /tmp/bf-bench-hook-XXXXXX)"
# The workers sandbox their builds: build users must be able to traverse to their stores (mktemp makes 0700).
chmod 0755 "$WORK"
PIDS=()

# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"
start() { local name=$1; shift; setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null & PIDS+=($!); disown; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU ticks (user + sys, reaped children included) of every process in each farm process's session: "name ticks".
farm_cpu() {
  local f
  for f in "$FARM_DIR"/pids/*.pid; do
    echo "$(basename "$f" .pid) $(cat /proc/[0-9]*/stat 2>/dev/null | awk -v sid="$(cat "$f")" '
      { sub(/^.*\) /, ""); if ($4 == sid) t += $12 + $13 + $14 + $15 } END { print t + 0 }')"
  done
}
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
fail() { echo "FAILED: $*" >&2; exit 1; }

[ "${SKIP_BUILD:-0}" = 1 ] || "$ROOT/farm" build >&2
BF="$ROOT/artifacts/bin/buildfarm"
for tool in nix-build nix-store sshd busybox curl jq sqlite3; do command -v "$tool" >/dev/null || fail "$tool not found"; done

# --- the derivations ---------------------------------------------------------------------------------------------
mkdir -p "$WORK/bench-busybox"; cp "$(command -v busybox)" "$WORK/bench-busybox/busybox"
BUSYBOX="$(nix-store --add "$WORK/bench-busybox")"
cp "$ROOT/bench/hook/builds.nix" "$WORK/builds.nix"
# nix_build SIDE COUNT OUT [nix-build options...]: builds COUNT fresh derivations (nonce SIDE-pid-random), output paths
# to OUT, stderr to OUT.err; the exit code is nix-build's.
nix_build() {
  local side=$1 count=$2 out=$3; shift 3
  nix-build "$WORK/builds.nix" --no-out-link --arg n "$count" --arg width "${WIDTH:-$GRAPH}" --arg refs "$REFS" --argstr nonce "$side-$$-$RANDOM$RANDOM" \
    --argstr busybox "$BUSYBOX" --option substituters '' --option build-poll-interval "$POLL" "$@" > "$out" 2> "$out.err"
}
# timed NAME COMMAND...: runs COMMAND, records NAME's wall seconds in $WORK/NAME.wall and the load before and after.
timed() {
  local name=$1 t0 t1 rc=0; shift
  load > "$WORK/$name.load0"
  t0=$(now); "$@" || rc=$?; t1=$(now)
  load > "$WORK/$name.load1"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' > "$WORK/$name.wall"
  [ "$rc" = 0 ] || { tail -n 15 "$WORK/$name.out.err" >&2; fail "$name: nix-build exited $rc"; }
}
# all_valid FILE: every path of FILE (N lines) is valid in /nix/store.
all_valid() {
  [ "$(wc -l < "$1")" = "$N" ] || fail "$1: $(wc -l < "$1") outputs, expected $N"
  local invalid; invalid=$(xargs nix-store --check-validity --print-invalid < "$1")
  [ -z "$invalid" ] || fail "outputs not valid in /nix/store: $(echo "$invalid" | head -3)"
}
if [ "$GRAPH" != 0 ]; then
  if [ $((N % GRAPH)) != 0 ] || [ "$N" -lt "$GRAPH" ]; then fail "GRAPH=$GRAPH must divide N=$N"; fi
fi
echo "== $N derivations per side$([ "$GRAPH" = 0 ] || echo " in a graph of $((N / GRAPH)) layers of $GRAPH"), $SLOTS slots per side, build-poll-interval $POLL; $(nproc) cores; uptime: $(uptime)" >&2

# --- BuildFarm through the hook: ./farm up --nix with one worker of SLOTS slots ------------------------------------
export FARM_DIR="$WORK/farm"
FARM_STARTED=1
FARM_WORKERS="hb x86_64-linux - - $SLOTS 1" "$ROOT/farm" up --nix --no-install --no-build > "$WORK/farm-up.log" 2>&1 ||
  { tail -n 20 "$WORK/farm-up.log" >&2; fail "./farm up --nix"; }
API="$(cat "$FARM_DIR/dispatcher.url")"
HOOK=(--max-jobs 0 --option build-hook "$FARM_DIR/nix-hook" --option builders '')
# Warm-up, timed as its own row: JIT of dispatcher and worker, the worker's first pull of busybox from the origin.
farm_cpu > "$WORK/bfwarm.cpu0"
WIDTH=0 timed bfwarm nix_build bfwarm "$WARM" "$WORK/bfwarm.out" "${HOOK[@]}"
farm_cpu > "$WORK/bfwarm.cpu1"
# HOOK_ROW=0 leaves out the timed hook row (the farm stays up for the GRAPH row): a 10,000-node graph needs the
# machine's time for Nix's remote builder.
bf_workers=""
if [ "${HOOK_ROW:-1}" != 0 ]; then
T_BF0=$(date +%s%3N)
farm_cpu > "$WORK/bf.cpu0"
timed bf /usr/bin/time -o "$WORK/bf.nixcpu" -f '%U %S' bash -c "$(declare -f nix_build); WORK='$WORK' POLL='$POLL' BUSYBOX='$BUSYBOX' GRAPH='$GRAPH' REFS='$REFS' nix_build bf '$N' '$WORK/bf.out' ${HOOK[*]@Q}"
farm_cpu > "$WORK/bf.cpu1"
all_valid "$WORK/bf.out"
# The dispatcher's records: every output of this run built by a succeeded farm build, on which worker.
sqlite3 -separator ' ' "$FARM_DIR/dispatcher.db" \
  "SELECT o.path, b.worker FROM outputs o JOIN builds b ON b.id = o.build_id WHERE b.state = 'succeeded'" | sort > "$WORK/bf-records"
bf_recorded=$(sort "$WORK/bf.out" | join - "$WORK/bf-records" | wc -l)
[ "$bf_recorded" = "$N" ] || fail "the dispatcher records $bf_recorded of the $N outputs as built by a succeeded build"
bf_workers=$(sort "$WORK/bf.out" | join - "$WORK/bf-records" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s×%s", s, $2, $1; s=", "}')
# Where a build's time goes, from the dispatcher's records (ms, means over this run's builds): submit → start on the
# worker (hook request, publish, queue), the worker's phases, finish → hook exit is not recorded.
sqlite3 -separator ' ' "$FARM_DIR/dispatcher.db" "
  SELECT count(*), avg(b.started_at - b.submitted_at), avg(b.finished_at - b.started_at), avg(b.finished_at - b.submitted_at),
         avg(p.input_fetch_ms), avg(p.build_ms), avg(p.upload_ms), avg(p.accept_ms)
  FROM builds b JOIN attempt_phases p ON p.build_id = b.id
  WHERE b.state = 'succeeded' AND b.submitted_at >= $T_BF0" > "$WORK/bf-phases"
fi
# PROFILE=1: N more builds through a wrapper that records each hook process's start, end and input (the daemon's
# bytes, to find the .drv it accepted), matched with the dispatcher's submitted/finished times; plus the bare
# decision round trip (curl) and a bare hook process start (stdin closed at once). Not part of the timed runs.
if [ "${PROFILE:-0}" = 1 ]; then
  mkdir -p "$WORK/hooklog"
  cat > "$WORK/hook-timed" <<SH
#!/bin/bash
s=\$(date +%s%3N)
tee "$WORK/hooklog/\$\$.in" | "$FARM_DIR/nix-hook" "\$@"; rc=\${PIPESTATUS[1]}
echo "\$s \$(date +%s%3N) \$rc" > "$WORK/hooklog/\$\$.t"
exit \$rc
SH
  chmod 755 "$WORK/hook-timed"
  timed prof nix_build prof "$N" "$WORK/prof.out" --max-jobs 0 --option build-hook "$WORK/hook-timed" --option builders ''
  sqlite3 -separator ' ' "$FARM_DIR/dispatcher.db" "SELECT drv_path, submitted_at, started_at, finished_at FROM builds" > "$WORK/prof-db"
  for t in "$WORK"/hooklog/*.t; do
    drv=$(grep -ao '/nix/store/[a-z0-9]*-hookbench-[0-9-]*\.drv' "${t%.t}.in" | tail -n 1) || true
    tries=$(grep -ao 'hookbench-[0-9-]*\.drv' "${t%.t}.in" | wc -l) || true
    echo "$(cat "$t") ${drv:-none} $tries"
  done | sort -n > "$WORK/prof-hooks"
  awk 'NR == FNR { sub_[$1] = $2; fin[$1] = $4; next }
    $4 in sub_ { n++; a += sub_[$4] - $1; b += fin[$4] - sub_[$4]; c += $2 - fin[$4]; tr += $5
                 if (prev) g += $1 - prev; prev = $1 }
    END { if (n < 2) { print "profile: fewer than 2 hooks matched"; exit }
      printf "profile, %d hook processes (one per accepted build), mean ms: hook start -> build submitted %.0f, submitted -> finished at the farm %.0f, finished -> hook exit %.0f; between two hook starts %.0f; tries per hook %.1f\n", n, a / n, b / n, c / n, g / (n - 1), tr / n }' \
    "$WORK/prof-db" "$WORK/prof-hooks" > "$WORK/prof-summary"
  {
    for _ in 1 2 3 4 5; do
      curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' \
        -d '{"system":"x86_64-linux","features":[],"drvPath":null}' "$API/api/hook/decide"
    done | sort -n | awk '{ v[NR] = $1 * 1000 } END { printf "decision round trip (curl POST /api/hook/decide, 5 runs): median %.1f ms\n", v[3] }'
    for _ in 1 2 3 4 5; do
      a=$(date +%s%N); "$BF" nix-hook 3 < /dev/null > /dev/null 2>&1 || true; echo $(( ($(date +%s%N) - a) / 1000000 ))
    done | sort -n | awk '{ v[NR] = $1 } END { printf "bare hook process (buildfarm nix-hook, stdin closed at once, 5 runs): median %d ms\n", v[3] }'
    for _ in 1 2 3 4 5; do
      a=$(date +%s%N); "$ROOT/artifacts/bin/buildfarm-hook" nix 3 < /dev/null > /dev/null 2>&1 || true; echo $(( ($(date +%s%N) - a) / 100000 ))
    done | sort -n | awk '{ v[NR] = $1 } END { printf "bare hook process (NativeAOT buildfarm-hook nix, stdin closed at once, 5 runs): median %.1f ms\n", v[3] / 10 }'
  } >> "$WORK/prof-summary"
fi
# GRAPH: the same graph (fresh nonce) through the farm's own scheduler: `buildfarm build` of the top layer's .drv
# files, the dispatcher walking the rest from /nix/store, outputs imported into /nix/store.
if [ "$GRAPH" != 0 ]; then
  nix-instantiate "$WORK/builds.nix" --arg n "$N" --arg width "$GRAPH" --arg refs "$REFS" --argstr nonce "cli-$$-$RANDOM$RANDOM" \
    --argstr busybox "$BUSYBOX" 2>/dev/null > "$WORK/cli.drvs"
  [ "$(wc -l < "$WORK/cli.drvs")" = "$N" ] || fail "nix-instantiate gave $(wc -l < "$WORK/cli.drvs") derivations, expected $N"
  farm_cpu > "$WORK/cli.cpu0"
  timed cli /usr/bin/time -o "$WORK/cli.nixcpu" -f '%U %S' bash -c \
    "'$BF' --nix build --url '$API' \$(tail -n '$GRAPH' '$WORK/cli.drvs') > '$WORK/cli.out.log' 2> '$WORK/cli.out.err'"
  farm_cpu > "$WORK/cli.cpu1"
  xargs nix-store -q --outputs < "$WORK/cli.drvs" > "$WORK/cli.out"
  all_valid "$WORK/cli.out"
fi
"$BF" status > "$WORK/bf-status.txt" 2>&1 || true   # the CLI's view, kept with KEEP=1
"$ROOT/farm" down > "$WORK/farm-down.log" 2>&1; FARM_STARTED=0

# --- Nix's remote builder: ssh to a private sshd on loopback, remote store local?root=DIR --------------------------
# sshd runs every exec through root's login shell; bash reads ~/.bashrc when sshd starts it (Debian's bash) unless
# SHLVL says it is not the top-level shell, and root's ~/.bashrc here costs seconds. SetEnv SHLVL=1 skips it, so Nix
# pays for ssh and nix-store --serve, not for this machine's shell set-up.
SPORT=$(local_free_port)
local_sshd_prepare "$WORK/sshd" "$SPORT" "$WORK/client"
echo 'SetEnv SHLVL=1' >> "$WORK/sshd/sshd_config"
/usr/sbin/sshd -t -f "$WORK/sshd/sshd_config"
mkdir -p "$WORK/nix-remote"
start sshd /usr/sbin/sshd -D -e -f "$WORK/sshd/sshd_config"
local_wait_port "$SPORT" sshd "${PIDS[-1]}" "$WORK/sshd.log"
export NIX_SSHOPTS="-p $SPORT -o UserKnownHostsFile=$WORK/sshd/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
REMOTE=(--max-jobs 0 --builders "ssh://root@127.0.0.1?remote-store=local%3Froot%3D$WORK/nix-remote x86_64-linux $WORK/client $SLOTS")
# Warm-up, timed as its own row: copies busybox to the remote store once.
WIDTH=0 timed nixwarm nix_build nixwarm "$WARM" "$WORK/nixwarm.out" "${REMOTE[@]}"
timed nix nix_build nix "$N" "$WORK/nix.out" "${REMOTE[@]}"
all_valid "$WORK/nix.out"
nix_remote=0
while read -r out; do [ -e "$WORK/nix-remote$out" ] && nix_remote=$((nix_remote + 1)); done < "$WORK/nix.out"
[ "$nix_remote" = "$N" ] || fail "only $nix_remote of the $N outputs are in the remote store $WORK/nix-remote"

# --- reference: local nix-build, SLOTS jobs ------------------------------------------------------------------------
timed local nix_build local "$N" "$WORK/local.out" --max-jobs "$SLOTS" --option builders ''
all_valid "$WORK/local.out"

ph_n=0 ph_queue=0 ph_run=0 ph_total=0 ph_fetch=0 ph_build=0 ph_upload=0 ph_accept=0
[ ! -f "$WORK/bf-phases" ] || read -r ph_n ph_queue ph_run ph_total ph_fetch ph_build ph_upload ph_accept < "$WORK/bf-phases"
awk -v n="$N" -v j="$SLOTS" -v bf="$(cat "$WORK/bf.wall" 2>/dev/null)" -v nx="$(cat "$WORK/nix.wall")" -v lo="$(cat "$WORK/local.wall")" \
  -v bfl="$(cat "$WORK/bf.load0" 2>/dev/null) -> $(cat "$WORK/bf.load1" 2>/dev/null)" -v nxl="$(cat "$WORK/nix.load0") -> $(cat "$WORK/nix.load1")" \
  -v lol="$(cat "$WORK/local.load0") -> $(cat "$WORK/local.load1")" -v workers="$bf_workers" \
  -v cli="$(cat "$WORK/cli.wall" 2>/dev/null)" -v clil="$(cat "$WORK/cli.load0" 2>/dev/null) -> $(cat "$WORK/cli.load1" 2>/dev/null)" \
  -v warm="$WARM" -v bfw="$(cat "$WORK/bfwarm.wall")" -v nxw="$(cat "$WORK/nixwarm.wall")" \
  -v bfwl="$(cat "$WORK/bfwarm.load0") -> $(cat "$WORK/bfwarm.load1")" -v nxwl="$(cat "$WORK/nixwarm.load0") -> $(cat "$WORK/nixwarm.load1")" \
  -v ph="$ph_n $ph_queue $ph_run $ph_total $ph_fetch $ph_build $ph_upload $ph_accept" 'BEGIN {
  split(ph, p, " ")
  printf "%d fresh derivations per side, %d slots per side, all outputs valid in /nix/store\n", n, j
  printf "%-44s %8s %10s %12s  %s\n", "side", "wall s", "ms/build", "slot-ms/build", "load (1/5/15 min) before -> after"
  if (bf != "") printf "%-44s %8.1f %10.1f %12.0f  %s\n", "BuildFarm hook (farm: " workers ")", bf, bf * 1000 / n, bf * j * 1000 / n, bfl
  printf "%-44s %8.1f %10.1f %12.0f  %s\n", "Nix remote builder (ssh, local?root=)", nx, nx * 1000 / n, nx * j * 1000 / n, nxl
  printf "%-44s %8.1f %10.1f %12.0f  %s\n", "local nix-build --max-jobs " j, lo, lo * 1000 / n, lo * j * 1000 / n, lol
  if (cli != "") printf "%-44s %8.1f %10.1f %12.0f  %s\n", "buildfarm build (the farm schedules the graph)", cli, cli * 1000 / n, cli * j * 1000 / n, clil
  if (warm > 0) printf "%-44s %8.1f %10.1f %12.0f  %s\n", "first " warm " after start: BuildFarm hook", bfw, bfw * 1000 / warm, bfw * j * 1000 / warm, bfwl
  if (warm > 0) printf "%-44s %8.1f %10.1f %12.0f  %s\n", "first " warm " after start: Nix remote builder", nxw, nxw * 1000 / warm, nxw * j * 1000 / warm, nxwl
  if (cli != "") printf "ratio Nix remote / buildfarm build = %.2f, buildfarm build / local nix-build = %.2f\n", nx / cli, cli / lo
  if (bf == "") exit
  printf "ratio Nix remote / BuildFarm hook = %.2f (aim >= 10); first %d after start: %.2f\n", nx / bf, warm, (warm > 0 ? nxw / bfw : 0)
  printf "BuildFarm per build (dispatcher records, %d builds, mean ms): submit->worker start %.0f, start->finished %.0f (input fetch %.0f, build %.0f, upload %.0f, accept %.0f), submit->finished %.0f\n", p[1], p[2], p[3], p[5], p[6], p[7], p[8], p[4]
}'
[ ! -f "$WORK/prof-summary" ] || cat "$WORK/prof-summary"
# CPU per farm build: each farm process group's ticks during the timed run, and nix-build with its hook processes.
[ ! -f "$WORK/bf.cpu1" ] || join "$WORK/bf.cpu0" "$WORK/bf.cpu1" | awk -v n="$N" -v nix="$(cat "$WORK/bf.nixcpu")" '
  { d = ($3 - $2) * 10 / n; total += d; parts = parts sprintf("%s%s %.1f", sep, $1, d); sep = ", " }
  END { split(nix, c, " "); h = (c[1] + c[2]) * 1000 / n
        printf "BuildFarm CPU per build, ms: %s; nix-build with its hooks %.1f; total %.1f\n", parts, h, total + h }'
join "$WORK/bfwarm.cpu0" "$WORK/bfwarm.cpu1" | awk -v n="$WARM" '
  n > 0 { d = ($3 - $2) * 10 / n; total += d; parts = parts sprintf("%s%s %.1f", sep, $1, d); sep = ", " }
  END { if (n > 0) printf "BuildFarm CPU per build of the first %d after start, ms: %s; total %.1f\n", n, parts, total }'
if [ -f "$WORK/cli.cpu1" ]; then
  join "$WORK/cli.cpu0" "$WORK/cli.cpu1" | awk -v n="$N" -v cli="$(cat "$WORK/cli.nixcpu")" '
    { d = ($3 - $2) * 10 / n; total += d; parts = parts sprintf("%s%s %.1f", sep, $1, d); sep = ", " }
    END { split(cli, c, " "); h = (c[1] + c[2]) * 1000 / n
          printf "buildfarm build CPU per derivation, ms: %s; the buildfarm build client %.1f; total %.1f\n", parts, h, total + h }'
fi
