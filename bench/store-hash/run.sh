#!/usr/bin/env bash
# Compares `buildfarm store hash` with `nix-hash --type sha256 --base32` on a generated ~1 GiB tree
# (many small files plus a few large ones), warm cache, each tool RUNS times; asserts equal hashes, prints the ratio.
#   bench/store-hash/run.sh            build with ./farm build first (SKIP_BUILD=1 to reuse artifacts/bin)
#   SIZE_MIB=1024 SMALL_FILES=20000 RUNS=5 KEEP=1 bench/store-hash/run.sh
#   TREE=/tmp/bf-bench-store-hash-XXXXXX   reuse a tree kept by KEEP=1 (not deleted at the end)
#   BF=/path/to/buildfarm                  time this build instead of artifacts/bin/buildfarm
#   BF_BEFORE=/path/to/old/buildfarm       also time another build (before/after of a change, same runs)
# The tools take turns within each run (nix-hash, ours, [before], dump pipeline), so a load spike on a shared machine
# hits all of them alike; the script prints every wall and CPU (user + sys) time and the median of each.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE_MIB="${SIZE_MIB:-1024}"
SMALL_FILES="${SMALL_FILES:-20000}"
RUNS="${RUNS:-5}"
BF="${BF:-$ROOT/artifacts/bin/buildfarm}"

[ "${SKIP_BUILD:-0}" = 1 ] || "$ROOT/farm" build
command -v nix-hash >/dev/null || { echo "nix-hash not found (./farm deps installs nix-bin)" >&2; exit 1; }

CPU_SNAP="$(mktemp /tmp/bf-bench-store-hash-cpu-XXXXXX)"
DELETE_TREE=""
trap 'rm -f "$CPU_SNAP" "$CPU_SNAP".*; [ -z "$DELETE_TREE" ] || rm -rf "$DELETE_TREE"' EXIT
if [ -n "${TREE:-}" ] && [ -d "$TREE/large" ]; then
  REUSE=1
else
  REUSE=0
  TREE="$(mktemp -d /tmp/bf-bench-store-hash-XXXXXX)"
  [ "${KEEP:-0}" = 1 ] || DELETE_TREE="$TREE"
fi
if [ "$REUSE" = 0 ]; then

# Small files: 1 B .. 32 KiB slices of a random blob, 100 per directory, a few executables and symlinks.
# Large files: the rest of SIZE_MIB split over 4 files. perl is part of every Debian base system.
perl -e '
  my ($dir, $count) = @ARGV;
  open(my $r, "<", "/dev/urandom") or die; read($r, my $blob, 16 << 20); close $r;
  srand(42); my $total = 0;
  for my $i (0 .. $count - 1) {
    my $d = sprintf("%s/small/d%03d", $dir, int($i / 100));
    mkdir "$dir/small"; mkdir $d;
    my $size = 1 + int(rand(32768)); $total += $size;
    my $f = sprintf("%s/f%05d%s", $d, $i, ($i % 7 == 0 ? ".sh" : ""));
    open(my $o, ">", $f) or die "$f: $!"; print $o substr($blob, int(rand(length($blob) - $size)), $size); close $o;
    chmod 0755, $f if $i % 7 == 0;
    symlink("f" . sprintf("%05d", $i), "$d/link$i") if $i % 50 == 0;
  }
  print $total, "\n";
' "$TREE" "$SMALL_FILES" > "$TREE.small-bytes"
small_bytes=$(cat "$TREE.small-bytes"); rm -f "$TREE.small-bytes"
large_each=$(( (SIZE_MIB * 1048576 - small_bytes) / 4 ))
mkdir -p "$TREE/large"
for i in 1 2 3 4; do head -c "$large_each" /dev/urandom > "$TREE/large/blob$i"; done
fi
echo "tree: $TREE, $(du -sh --apparent-size "$TREE" | cut -f1) in $(find "$TREE" -type f | wc -l) files; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
dump_hash() { nix-hash --type sha256 --to-base32 "$(nix-store --dump "$1" | sha256sum | cut -d' ' -f1)"; }
NAMES=("nix-hash --type sha256" "buildfarm store hash" "nix-store --dump | sha256sum")
CMDS=("nix-hash --type sha256 --base32" "$BF store hash --base32" "dump_hash")
if [ -n "${BF_BEFORE:-}" ]; then
  NAMES+=("buildfarm store hash (before)"); CMDS+=("$BF_BEFORE store hash --base32")
fi
declare -A TIMES CPUS HASHES
# CPU (user + sys) of a run: the shell's children's times (`times`, second line) just before and after it; they
# include every process the run started and waited for (the dump pipeline's too), in clock ticks (10 ms).
cpu_between() {
  awk 'FNR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); n += p[1] * 60 + p[2] } v[++f] = n } END { printf "%.2f", v[2] - v[1] }' "$1" "$2"
}
# One warm-up run of each (page cache, first JIT of the .NET runtime's own files), which also gives the hashes.
for k in "${!CMDS[@]}"; do HASHES[$k]="$(${CMDS[$k]} "$TREE")"; TIMES[$k]=""; CPUS[$k]=""; done
for run in $(seq "$RUNS"); do
  for k in "${!CMDS[@]}"; do
    t0=$(now); times > "$CPU_SNAP.0"; out="$(${CMDS[$k]} "$TREE")"; times > "$CPU_SNAP.1"; t1=$(now)
    [ "$out" = "${HASHES[$k]}" ] || { echo "${NAMES[$k]} gave different hashes across runs: ${HASHES[$k]} vs $out" >&2; exit 1; }
    TIMES[$k]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
    CPUS[$k]+="$(cpu_between "$CPU_SNAP.0" "$CPU_SNAP.1") "
  done
  echo "run $run done, load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A MEDIAN CPU_MEDIAN
for k in "${!CMDS[@]}"; do
  MEDIAN[$k]=$(echo "${TIMES[$k]}" | median)
  CPU_MEDIAN[$k]=$(echo "${CPUS[$k]}" | median)
  printf '%-32s %s   median %.2f s   runs: %s s\n' "${NAMES[$k]}" "${HASHES[$k]}" "${MEDIAN[$k]}" "${TIMES[$k]}"
  printf '%-32s %52s   CPU median %.2f s   runs: %s s\n' "" "" "${CPU_MEDIAN[$k]}" "${CPUS[$k]}"
done
for k in "${!CMDS[@]}"; do
  [ "${HASHES[$k]}" = "${HASHES[0]}" ] || { echo "HASH MISMATCH: ${NAMES[0]} ${HASHES[0]}, ${NAMES[$k]} ${HASHES[$k]}" >&2; exit 1; }
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "hashes equal. medians of $RUNS runs, load now $(cut -d' ' -f1-3 /proc/loadavg):"
echo "  buildfarm / nix-hash = $(ratio "${MEDIAN[1]}" "${MEDIAN[0]}") (CPU $(ratio "${CPU_MEDIAN[1]}" "${CPU_MEDIAN[0]}")), buildfarm / dump pipeline = $(ratio "${MEDIAN[1]}" "${MEDIAN[2]}")"
if [ -n "${BF_BEFORE:-}" ]; then
  echo "  before / nix-hash = $(ratio "${MEDIAN[3]}" "${MEDIAN[0]}") (CPU $(ratio "${CPU_MEDIAN[3]}" "${CPU_MEDIAN[0]}")), after / before = $(ratio "${MEDIAN[1]}" "${MEDIAN[3]}") (CPU $(ratio "${CPU_MEDIAN[1]}" "${CPU_MEDIAN[3]}"))"
fi
