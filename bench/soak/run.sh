#!/usr/bin/env bash
# Fault-injection soak over a real local farm (issue #16, section 1; docs/RELIABILITY.md).
#   bench/soak/run.sh FAULTS [--seed N] [--minutes M] [--round-minutes R]   e.g. bench/soak/run.sh 20 --seed 7
#   (--minutes: stop injecting after M minutes; --round-minutes: a round that has not ended after R minutes, default 4,
#   fails the run with a line saying where it stuck)
#   SKIP_BUILD=1 KEEP=1 bench/soak/run.sh 5      reuse artifacts/bin (./farm build); keep the temp dir (farm logs, stores)
# Starts `./farm up` in a temp FARM_DIR with 2 workers of 1 slot (private RabbitMQ, origin sshd, dispatcher), then
# bench/soak/Soak (C#) runs rounds until it injected FAULTS faults from a schedule seeded by --seed, checks the invariants after each and
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
    --round-minutes) EXTRA+=(--round-minutes "$2"); shift 2 ;;
    --kinds) EXTRA+=(--kinds "$2"); shift 2 ;;
    *) echo "bench/soak/run.sh: unknown option $1 (valid: --seed N, --minutes M, --round-minutes R)" >&2; exit 2 ;;
  esac
done
WORK="$(mktemp -d /tmp/bf-soak-XXXXXX)"
chmod 755 "$WORK"   # build users (the sandbox) open the workers' stores under it
export FARM_DIR="$WORK/farm" BUILDFARM_TEST_PHASE_HOLD_DIR="$WORK/holds"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The dispatcher writes contract versions 2 and 3, so the WorkerUpgrade fault (workers restarted speaking 2 and 3, or
# rolled back to 2) changes how each class's requests are routed while builds run (docs/operations.md, upgrades).
export BUILDFARM_DISPATCHER__ContractVersions__0=2 BUILDFARM_DISPATCHER__ContractVersions__1=3
# The soak's own network namespace and veth pair (w1 runs inside it: the network cut) and tmpfs (w2's whole directory:
# the disk-full faults). Names carry this shell's pid, so soaks side by side do not meet.
NS="bfsoak-$$" VETH_HOST="bfs$$h" VETH_NS="bfs$$n" NFT_TABLE="bfsoak_$$"
NET="10.213.$(( $$ % 250 ))"
DISK_MOUNT="$FARM_DIR/workers/w2"
cleanup() {
  "$ROOT/farm" down > /dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$VETH_HOST" 2>/dev/null || true
  nft delete table ip "$NFT_TABLE" 2>/dev/null || true
  nft delete table inet "${NFT_TABLE}_cut" 2>/dev/null || true
  if mountpoint -q "$DISK_MOUNT"; then
    if [ "${KEEP:-0}" = 1 ]; then
      mkdir -p "$WORK/w2-tmpfs"
      cp -a "$DISK_MOUNT/." "$WORK/w2-tmpfs/" 2>/dev/null || true
    fi
    umount -l "$DISK_MOUNT" || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  # ./farm build, not a publish of its own: artifacts/bin's `buildfarm` is the NativeAOT front of `buildfarm-cli`,
  # which a plain publish of the CLI project would leave stale or replace.
  echo "== ./farm build (artifacts/bin) and publishing the soak" >&2
  "$ROOT/farm" build >&2
  dotnet publish "$ROOT/bench/soak/Soak/BuildFarm.Soak.csproj" -c Release -o "$ROOT/artifacts/soak" --nologo -v quiet >&2
elif [ ! -x "$ROOT/artifacts/soak/buildfarm-soak" ]; then
  dotnet publish "$ROOT/bench/soak/Soak/BuildFarm.Soak.csproj" -c Release -o "$ROOT/artifacts/soak" --nologo -v quiet >&2
fi

# w2's directory (config, store, build dirs) is a small tmpfs of its own, so the soak can fill its disk.
mkdir -p "$DISK_MOUNT"
mount -t tmpfs -o size=96m,mode=755 "soak-w2-$$" "$DISK_MOUNT"
# The soak's farm is small on purpose (2 shared cores): 2 workers of 1 slot each.
FARM_WORKERS='w1 x86_64-linux - - 1 1;w2 x86_64-linux - - 1 1' "$ROOT/farm" up --store-dir /nix/store --no-install --no-build > "$WORK/farm-up.log" 2>&1 ||
  { echo "./farm up failed:" >&2; tail -20 "$WORK/farm-up.log" >&2; exit 1; }

# w1's network: its own namespace, reaching the host only over a veth pair. Its config still names 127.0.0.1 (the
# broker, the origin's sshd): inside the namespace those ports are DNATed to the host's end of the veth, and there
# DNATed again to the host's loopback (route_localnet), so every byte between w1 and the farm crosses the veth, where
# the network-cut fault rejects it (an nft table of the soak's own, inet ${NFT_TABLE}_cut).
RABBIT_PORT=$(cat "$FARM_DIR/rabbit/port") SSHD_PORT=$(cat "$FARM_DIR/ssh/port")
ip netns add "$NS"
ip link add "$VETH_HOST" type veth peer name "$VETH_NS"
ip link set "$VETH_NS" netns "$NS"
ip addr add "$NET.1/30" dev "$VETH_HOST" && ip link set "$VETH_HOST" up
sysctl -qw "net.ipv4.conf.$VETH_HOST.route_localnet=1"
ip netns exec "$NS" sh -c "ip link set lo up && ip addr add $NET.2/30 dev $VETH_NS && ip link set $VETH_NS up && ip route add default via $NET.1 && sysctl -qw net.ipv4.conf.all.route_localnet=1"
nft -f - <<NFT
table ip $NFT_TABLE {
  chain pre { type nat hook prerouting priority -100; iifname "$VETH_HOST" ip daddr $NET.1 tcp dport { $RABBIT_PORT, $SSHD_PORT } dnat to 127.0.0.1; }
}
NFT
ip netns exec "$NS" nft -f - <<NFT
table ip soak {
  chain out { type nat hook output priority -100; ip daddr 127.0.0.1 tcp dport { $RABBIT_PORT, $SSHD_PORT } dnat to $NET.1; }
  chain post { type nat hook postrouting priority 100; oifname "$VETH_NS" masquerade; }
}
NFT
"$ROOT/artifacts/soak/buildfarm-soak" "$FAULTS" --seed "$SEED" --farm "$FARM_DIR" --bin "$ROOT/artifacts/bin" \
  --work "$WORK" --holds "$BUILDFARM_TEST_PHASE_HOLD_DIR" --workers w1,w2 \
  --netns-worker w1 --netns "$NS" --veth "$VETH_HOST" --cut-table "${NFT_TABLE}_cut" --disk-worker w2 --disk-mount "$DISK_MOUNT" "${EXTRA[@]}"
