#!/usr/bin/env bash
# Compares `buildfarm store hash` with `nix-hash --type sha256 --base32` on a generated ~1 GiB tree
# (many small files plus a few large ones), warm cache, each tool RUNS times; asserts equal hashes, prints the ratio.
#   bench/store-hash/run.sh            build with ./farm build first (SKIP_BUILD=1 to reuse artifacts/bin)
#   SIZE_MIB=1024 SMALL_FILES=20000 RUNS=3 KEEP=1 bench/store-hash/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE_MIB="${SIZE_MIB:-1024}"
SMALL_FILES="${SMALL_FILES:-20000}"
RUNS="${RUNS:-3}"
BF="$ROOT/artifacts/bin/buildfarm"

[ "${SKIP_BUILD:-0}" = 1 ] || "$ROOT/farm" build
command -v nix-hash >/dev/null || { echo "nix-hash not found (./farm deps installs nix-bin)" >&2; exit 1; }

TREE="$(mktemp -d /tmp/bf-bench-store-hash-XXXXXX)"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$TREE"' EXIT

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
echo "tree: $TREE, $(du -sh --apparent-size "$TREE" | cut -f1) in $(find "$TREE" -type f | wc -l) files; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
# time_runs NAME CMD...: one warm-up run (fills the page cache), then RUNS timed runs; sets BEST and HASH.
time_runs() {
  local name="$1"; shift
  HASH="$("$@")"
  local times=() t0 t1 out
  for _ in $(seq "$RUNS"); do
    t0=$(now); out="$("$@")"; t1=$(now)
    [ "$out" = "$HASH" ] || { echo "$name gave different hashes across runs: $HASH vs $out" >&2; exit 1; }
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
  done
  BEST=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
  printf '%-28s %s   runs: %s s\n' "$name" "$HASH" "$(printf '%.2f ' "${times[@]}")"
}

time_runs "nix-hash --type sha256" nix-hash --type sha256 --base32 "$TREE"
nix_best=$BEST; nix_hash=$HASH
time_runs "buildfarm store hash" "$BF" store hash --base32 "$TREE"
bf_best=$BEST; bf_hash=$HASH
# The same NAR hash as a pipeline: Nix serialises (nix-store --dump), coreutils hashes.
dump_hash() { nix-hash --type sha256 --to-base32 "$(nix-store --dump "$1" | sha256sum | cut -d' ' -f1)"; }
time_runs "nix-store --dump | sha256sum" dump_hash "$TREE"
dump_best=$BEST; dump_hash=$HASH

if [ "$nix_hash" != "$bf_hash" ] || [ "$nix_hash" != "$dump_hash" ]; then
  echo "HASH MISMATCH: nix-hash $nix_hash, buildfarm $bf_hash, nix-store --dump | sha256sum $dump_hash" >&2
  exit 1
fi
printf 'hashes equal. best of %s: nix-hash %.2f s, buildfarm %.2f s, ratio buildfarm/nix-hash = %.2f\n' \
  "$RUNS" "$nix_best" "$bf_best" "$(awk -v a="$bf_best" -v b="$nix_best" 'BEGIN { printf "%.3f", a / b }')"
printf 'nix-store --dump | sha256sum %.2f s, ratio buildfarm/dump-pipeline = %.2f\n' \
  "$dump_best" "$(awk -v a="$bf_best" -v b="$dump_best" 'BEGIN { printf "%.3f", a / b }')"
