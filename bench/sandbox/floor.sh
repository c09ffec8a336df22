#!/usr/bin/env bash
# What bubblewrap itself costs per build, against the kernel's own floor for the same namespaces: would a sandbox
# launcher of our own (no bubblewrap) make a trivial build much cheaper?
#   bench/sandbox/floor.sh [RUNS] [ROUNDS]     (defaults 200 and 3; root; needs perf, bwrap, unshare, setpriv)
# Each row starts a static busybox `true` RUNS times as an unprivileged user (setpriv, as the worker's launcher
# becomes the build user), the rows taking turns ROUNDS times; CPU is perf stat's task-clock of the whole loop with
# every descendant (inherited counters: a process its parent never waited for still counts), divided by RUNS.
#   plain      setpriv → busybox true: the exec floor
#   unshare    setpriv → util-linux unshare of the user, mount, pid, net, ipc, uts and cgroup namespaces (--fork,
#              --map-root-user) → busybox: the kernel's cost of the namespaces a build sandbox needs, plus one small
#              dynamically linked program
#   bwrap      setpriv → bubblewrap with the options the worker gives it (the same namespaces, --disable-userns,
#              --as-pid-1, --new-session, a tmpfs root with the store bound read-only, /dev, /proc, --clearenv) → busybox
# bwrap − unshare is about the most a launcher of our own could save per build; unshare − plain is what any
# sandbox pays (Nix's included).
set -euo pipefail
RUNS="${1:-200}"
ROUNDS="${2:-3}"
UID_BUILD="${UID_BUILD:-64123}"
for tool in perf bwrap unshare setpriv; do
  command -v "$tool" > /dev/null || { echo "floor.sh: needs $tool" >&2; exit 1; }
done
BB="$(command -v busybox || true)"
if [ -z "$BB" ] || ! file -L "$BB" | grep -q 'statically linked'; then
  echo "floor.sh: needs a static busybox (apt install busybox-static)" >&2; exit 1
fi
WORK="$(mktemp -d /tmp/bf-bench-floor-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/store" && cp "$BB" "$WORK/store/busybox" && chmod 755 "$WORK" "$WORK/store"

AS_USER=(setpriv --reuid "$UID_BUILD" --regid "$UID_BUILD" --clear-groups)
declare -A CMD
CMD[plain]="${AS_USER[*]} $WORK/store/busybox true"
CMD[unshare]="${AS_USER[*]} unshare --user --map-root-user --mount --pid --net --ipc --uts --cgroup --fork $WORK/store/busybox true"
CMD[bwrap]="${AS_USER[*]} bwrap --unshare-user --disable-userns --uid 1000 --gid 1000 --unshare-ipc --unshare-pid --unshare-uts \
--unshare-cgroup-try --hostname localhost --as-pid-1 --new-session --unshare-net --ro-bind $WORK/store /nix/store --dev /dev \
--proc /proc --chdir / --clearenv -- /nix/store/busybox true"

cat > "$WORK/loop.sh" <<'LOOP'
#!/usr/bin/env bash
n=$1; shift
for ((i = 0; i < n; i++)); do "$@" > /dev/null 2>&1 || { echo "floor.sh: failed: $*" >&2; exit 1; }; done
LOOP
chmod +x "$WORK/loop.sh"

ms_per_run() {
  # task-clock in ms for the whole loop, inherited by every descendant
  # shellcheck disable=SC2086
  perf stat -x, -e task-clock "$WORK/loop.sh" "$RUNS" ${CMD[$1]} 2>&1 >/dev/null | awk -F, -v n="$RUNS" '/task-clock/ { printf "%.2f", $1 / n }'
}

echo "$(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs per row, $ROUNDS rounds; CPU ms per run"
declare -A ALL
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r:"
  for row in plain unshare bwrap; do
    v="$(ms_per_run "$row")"
    ALL[$row]+="$v "
    line+=" $row $v"
  done
  echo "$line"
done
median() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
p="$(median "${ALL[plain]}")"; u="$(median "${ALL[unshare]}")"; b="$(median "${ALL[bwrap]}")"
echo "medians: plain $p, unshare $u, bwrap $b ms per run; load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v p="$p" -v u="$u" -v b="$b" 'BEGIN { printf "namespaces (unshare - plain) %.2f ms; bubblewrap beyond them (bwrap - unshare) %.2f ms, %.0f%% of what bwrap adds\n", u - p, b - u, 100 * (b - u) / (b - p) }'
