#!/usr/bin/env bash
# Pull of a closure from an origin store to a worker store over SSH on loopback: BuildFarm vs Nix vs plain ssh.
#   bench/pull/run.sh [SIZE_MIB]      (default 512; needs root: starts its own sshd; run ./farm build first)
#   RUNS=3 bench/pull/run.sh 512       every row RUNS times, rows taking turns; medians
# The closure: 4 store paths with one large random file each (7/8 of SIZE) and 8 paths of small files
# (1/8 of SIZE in 16 KiB files: 4096 files at 512 MiB). Same bytes in a BuildFarm origin store and in Nix's /nix/store.
# Prints seconds and MB/s (of NAR bytes) for:
#   1. ssh cat ARCHIVE > /dev/null                                   (OpenSSH ceiling for these bytes)
#   2. buildfarm-worker debug ssh-cat ARCHIVE                        (SSH.NET transport, same bytes, no import)
#      (2o: the same through the worker's OpenSSH transport)
#   3. ssh origin buildfarm store export --signed PATHS | buildfarm store import --trusted-keys   (pull + import)
#      (3a: the same pipe without ssh: what the store costs alone)
#   4. buildfarm-worker debug pull --transport SshNet: the worker's own input fetch path over SSH.NET
#      (4o: the same over the OpenSSH transport, an ssh ControlMaster per connection)
#   5. nix copy --to 'ssh://root@127.0.0.1?remote-store=local?root=DIR' PATHS                  (Nix, a push)
# Uses its own temp dir, keys, free port and stores; kills only its own sshd; deletes its paths from /nix/store.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE_MIB="${1:-512}"
BF="$ROOT/artifacts/bin/buildfarm"
BFW="$ROOT/artifacts/bin/buildfarm-worker"
if [ ! -x "$BF" ] || [ ! -x "$BFW" ]; then echo "run ./farm build first (needs $BF and $BFW)" >&2; exit 1; fi
USER="$(id -un)"
WORK="$(mktemp -d /tmp/bf-bench-pull-XXXXXX)"
SSHD_PID=""
NIX_PATHS=()
cleanup() {
  if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; fi
  if [ ${#NIX_PATHS[@]} -gt 0 ]; then nix-store --delete "${NIX_PATHS[@]}" >/dev/null 2>&1 || true; fi
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- sshd (scripts/lib/local-servers.sh)
# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"
PORT="$(local_free_port)"
local_sshd_prepare "$WORK/sshd" "$PORT" "$WORK/client"
/usr/sbin/sshd -D -e -f "$WORK/sshd/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
FINGERPRINT="$(local_sshd_fingerprint "$WORK/sshd")"
local_wait_port "$PORT" sshd "$SSHD_PID" "$WORK/sshd.log"
SSHOPTS="-p $PORT -i $WORK/client -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$WORK/sshd/known_hosts -o BatchMode=yes"
SSH="ssh $SSHOPTS $USER@127.0.0.1"

# --- the closure
echo "== writing a $SIZE_MIB MiB closure" >&2
BIG=$((SIZE_MIB * 1024 * 1024 * 7 / 8 / 4))
SMALL_TOTAL=$((SIZE_MIB * 1024 * 1024 / 8))
SMALL_FILES=$((SMALL_TOTAL / 16384 / 8))
mkdir -p "$WORK/src"
for i in 1 2 3 4; do
  mkdir -p "$WORK/src/big-$i"
  head -c "$BIG" /dev/urandom > "$WORK/src/big-$i/blob"
done
for i in $(seq 1 8); do
  d="$WORK/src/small-$i"; mkdir -p "$d"
  head -c "$((SMALL_FILES * 16384))" /dev/urandom | split -b 16384 -a 4 - "$d/f-"
done
ORIGIN="$WORK/origin"; WORKER="$WORK/worker"
"$BF" keys generate --name bench-origin-1 --secret-file "$WORK/origin.sec" --public-file "$WORK/origin.pub" >/dev/null
PATHS=()
for d in "$WORK"/src/*; do
  PATHS+=("$("$BF" --store-dir /nix/store --root "$ORIGIN" store add "$d")")
  NIX_PATHS+=("$(nix-store --add "$d")")
done
[ "${PATHS[*]}" = "${NIX_PATHS[*]}" ] || { echo "BuildFarm and Nix disagree on the store paths" >&2; exit 1; }
"$BF" --store-dir /nix/store --root "$ORIGIN" store sign --key-file "$WORK/origin.sec" "${PATHS[@]}"
"$BF" --store-dir /nix/store --root "$ORIGIN" store export --signed "${PATHS[@]}" > "$WORK/closure.archive"
BYTES=$(stat -c %s "$WORK/closure.archive")
NAR_BYTES=0
for p in "${NIX_PATHS[@]}"; do NAR_BYTES=$((NAR_BYTES + $(nix-store -q --size "$p"))); done
$SSH true   # warm up: first connection, page cache
cat "$WORK/closure.archive" > /dev/null

now() { date +%s.%N; }
# A row's store is moved aside, not deleted, and all of them are deleted at exit: on a file system without a journal
# (this machine's ext4), ext4 skips inodes freed less than 30 s ago when it allocates new ones, rescanning them for
# every file created, so deleting thousands of files just before a row made that row's imports pay for it
# (`perf`: a quarter of the pull's CPU in ext4's `recently_deleted`).
mkdir -p "$WORK/trash"
set_aside() { if [ -e "$1" ]; then mv "$1" "$(mktemp -d "$WORK/trash/XXXXXX")/"; fi; }
secs() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f", e-s }'; }
# Rows 2 and 4 time themselves (connection made before the clock starts, as a worker's pool is warm): their seconds.
self_secs() { sed -n 's/.* in \([0-9.]*\) s:.*/\1/p'; }

echo "closure: ${#PATHS[@]} paths, $((4 + 8 * SMALL_FILES)) files, NAR $NAR_BYTES bytes (signed archive $BYTES bytes)"
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/')"

# Each row prints the seconds it took. CTR rows: SSH.NET's own default cipher (aes128-ctr + hmac-sha2-256), what
# the worker proposed before it put AES-GCM first.
# BENCH_ROWS="r1 r4": only those rows.
read -r -a ROWS <<< "${BENCH_ROWS:-r1 r2 r2o r2ctr r3a r3 r4 r4o r4ctr r5${BFW_BEFORE:+ r4before}}"
declare -A NAME=(
  [r1]="1. ssh cat ARCHIVE > /dev/null (OpenSSH, its default cipher)"
  [r2]="2. buildfarm-worker debug ssh-cat ARCHIVE (SSH.NET, AES-GCM, no import)"
  [r2o]="2o. same through the OpenSSH transport (--transport OpenSsh)"
  [r2ctr]="2b. same with --cipher aes128-ctr (SSH.NET's default; before)"
  [r3a]="3a. buildfarm store export --signed | store import, no SSH (store cost alone)"
  [r3]="3. ssh ORIGIN buildfarm store export --signed | buildfarm store import"
  [r4]="4. buildfarm-worker debug pull --transport SshNet (worker fetch: SSH.NET AES-GCM + import)"
  [r4o]="4o. buildfarm-worker debug pull --transport OpenSsh (ssh ControlMaster + import)"
  [r4ctr]="4b. same with --cipher aes128-ctr (before)"
  [r4before]="4c. row 4 with the worker and origin CLI of BFW_BEFORE"
  [r5]="5. nix copy --to ssh://…?remote-store=local?root=DIR (push, nix-store --serve)")
HAVE_PULL=0
"$BFW" debug pull --help >/dev/null 2>&1 && HAVE_PULL=1
HAVE_TRANSPORT=0
"$BFW" debug pull --help 2>/dev/null | grep -q -- --transport && HAVE_TRANSPORT=1
# Client CPU (user + sys of the timed client process and the children it waited for, start-up included, e.g. the
# ssh processes of the OpenSSH transport) and its peak RSS: rows 1, 2, 4 and 5 record them in $WORK/cpu.
# Row 3a has no server side.
TIMED=(/usr/bin/time -f "%U %S %M" -o "$WORK/cpu")
# shellcheck disable=SC2086
r1() { local s e; s=$(now); "${TIMED[@]}" $SSH cat "$WORK/closure.archive" > /dev/null; e=$(now); secs "$s" "$e"; }
sshcat() {
  "${TIMED[@]}" "$BFW" debug ssh-cat --host 127.0.0.1 --port "$PORT" --user "$USER" --key "$WORK/client" \
    --host-key-fingerprint "$FINGERPRINT" "$@" "$WORK/closure.archive" | self_secs
}
# --transport only where this build has it (BFW_BEFORE's worker may not): SSH.NET is what it had.
r2() { if [ "$HAVE_TRANSPORT" = 1 ]; then sshcat --transport SshNet; else sshcat; fi; }
r2o() { if [ "$HAVE_TRANSPORT" = 1 ]; then sshcat --transport OpenSsh; else echo "-"; fi; }
r2ctr() { sshcat --cipher aes128-ctr; }
r3a() {
  local s e; set_aside "$WORKER"; s=$(now)
  "$BF" --store-dir /nix/store --root "$ORIGIN" store export --signed "${PATHS[@]}" \
    | "$BF" --store-dir /nix/store --root "$WORKER" store import --trusted-keys "$WORK/origin.pub" > /dev/null
  e=$(now); secs "$s" "$e"
}
r3() {
  local s e; set_aside "$WORKER"; s=$(now)
  $SSH "$BF" --store-dir /nix/store --root "$ORIGIN" store export --signed "${PATHS[@]}" \
    | "$BF" --store-dir /nix/store --root "$WORKER" store import --trusted-keys "$WORK/origin.pub" > /dev/null
  e=$(now)
  "$BF" --store-dir /nix/store --root "$WORKER" store verify --trusted-keys "$WORK/origin.pub" "${PATHS[@]}" > /dev/null
  secs "$s" "$e"
}
pull() {
  [ "$HAVE_PULL" = 1 ] || { echo "-"; return; }
  set_aside "$WORKER"
  # PULL_WRAP: a command prefix for profiling, e.g. PULL_WRAP="perf record -g -o /tmp/pull.data".
  # shellcheck disable=SC2086
  "${TIMED[@]}" ${PULL_WRAP:-} "$BFW" debug pull --host 127.0.0.1 --port "$PORT" --user "$USER" --key "$WORK/client" \
    --host-key-fingerprint "$FINGERPRINT" --remote-command "$BF --store-dir /nix/store --root $ORIGIN" \
    --store-dir /nix/store --root "$WORKER" --trusted-keys "$WORK/origin.pub" "$@" "${PATHS[@]}" | self_secs
  "$BF" --store-dir /nix/store --root "$WORKER" store verify --trusted-keys "$WORK/origin.pub" "${PATHS[@]}" > /dev/null
}
transport() { if [ "$HAVE_TRANSPORT" = 1 ]; then echo "--transport $1"; fi; }
# shellcheck disable=SC2046
r4() { pull $(transport SshNet); }
r4o() { if [ "$HAVE_TRANSPORT" = 1 ]; then pull --transport OpenSsh; else echo "-"; fi; }
# BFW_BEFORE=DIR (another build's artifacts/bin): row 4 with that build's worker and origin CLI (the origin's
# `store export`), taking turns with this one.
r4before() { BFW="$BFW_BEFORE/buildfarm-worker" BF="$BFW_BEFORE/buildfarm" pull; }
# shellcheck disable=SC2046
r4ctr() { pull --cipher aes128-ctr $(transport SshNet); }
r5() {
  local s e; set_aside "$WORK/nixcopy"; s=$(now)
  NIX_SSHOPTS="$SSHOPTS" "${TIMED[@]}" nix copy --quiet --no-check-sigs --to "ssh://$USER@127.0.0.1?remote-store=local%3Froot%3D$WORK/nixcopy" "${NIX_PATHS[@]}" 2>/dev/null
  e=$(now)
  for p in "${NIX_PATHS[@]}"; do [ -e "$WORK/nixcopy$p" ] || { echo "nix copy did not deliver $p" >&2; exit 1; }; done
  secs "$s" "$e"
}

# The rows take turns RUNS times (a load spike on a shared machine then hits every row alike); medians reported.
RUNS="${RUNS:-1}"
# Server-side CPU of a row: what sshd's children (sessions, and the commands they ran: cat, store export,
# nix-store --serve) used, from the sshd's cumulative children times (/proc/PID/stat fields 16 and 17).
TICKS=$(getconf CLK_TCK)
sshd_ticks() { awk '{ print $16 + $17 }' "/proc/$SSHD_PID/stat"; }
declare -A TIMES CPU SERVER RSS
for run in $(seq "$RUNS"); do
  for r in "${ROWS[@]}"; do
    rm -f "$WORK/cpu"
    before=$(sshd_ticks)
    TIMES[$r]+="$($r) "
    sleep 0.3 # sshd reaps the session
    SERVER[$r]+="$(awk -v a="$before" -v b="$(sshd_ticks)" -v t="$TICKS" 'BEGIN { printf "%.2f", (b - a) / t }') "
    if [ -s "$WORK/cpu" ]; then
      CPU[$r]+="$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/cpu") "
      RSS[$r]+="$(awk '{ printf "%.0f", $3 / 1024 }' "$WORK/cpu") "
    fi
  done
  echo "run $run of $RUNS done, $(uptime | sed 's/.*load/load/')" >&2
done
median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A MED
for r in "${ROWS[@]}"; do
  MED[$r]=$(echo "${TIMES[$r]}" | median)
  if [ "${MED[$r]}" = "-" ]; then
    printf '%-82s %s\n' "${NAME[$r]}" "(not in this build)"
  else
    printf '%-82s %7.2f s %7.1f MB/s   runs: %s%s\n' "${NAME[$r]}" "${MED[$r]}" \
      "$(awk -v b="$NAR_BYTES" -v t="${MED[$r]}" 'BEGIN { print b / t / 1e6 }')" "${TIMES[$r]}" \
      "${CPU[$r]:+  client CPU s: ${CPU[$r]} peak RSS MB: ${RSS[$r]}}  server CPU s: ${SERVER[$r]}"
  fi
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
med() { [ -n "${MED[$1]:-}" ] && echo "${MED[$1]}" || echo "-"; }
echo "throughput ratios (medians): worker pull / ssh cat = $(ratio "$(med r1)" "$(med r4)"), worker pull / nix copy = $(ratio "$(med r5)" "$(med r4)"), OpenSSH worker pull / ssh cat = $(ratio "$(med r1)" "$(med r4o)"), OpenSSH worker pull / nix copy = $(ratio "$(med r5)" "$(med r4o)"), SSH.NET stream / ssh cat = $(ratio "$(med r1)" "$(med r2)"), GCM / CTR stream = $(ratio "$(med r2ctr)" "$(med r2)"), GCM / CTR pull = $(ratio "$(med r4ctr)" "$(med r4)")"
echo "after: $(uptime | sed 's/.*load/load/')"
