#!/usr/bin/env bash
# Throughput of our SSH exec stream (SSH.NET) vs plain OpenSSH `ssh cat` on loopback, against a temporary sshd.
#   bench/transfer/run.sh [SIZE_MIB]     (default 512)
# Prints MB/s for: ssh cat (ceiling), buildfarm-worker debug ssh-cat with compression None / SshZlib / RemoteGzip.
# Runs as root (sshd needs it); uses its own temp dir, keys and free port; kills only its own sshd.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE_MIB="${1:-512}"
USER="${USER:-$(id -un)}"
WORK="$(mktemp -d /tmp/bf-bench-transfer-XXXXXX)"
SSHD_PID=""
cleanup() { if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=scripts/lib/local-servers.sh
source "$ROOT/scripts/lib/local-servers.sh"
PORT="$(local_free_port)"
local_sshd_prepare "$WORK/sshd" "$PORT" "$WORK/client"
/usr/sbin/sshd -D -e -f "$WORK/sshd/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
FINGERPRINT="$(local_sshd_fingerprint "$WORK/sshd")"
local_wait_port "$PORT" sshd "$SSHD_PID" "$WORK/sshd.log"

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/payload"
BYTES=$((SIZE_MIB * 1024 * 1024))

echo "== building buildfarm-worker (Release)" >&2
dotnet build "$ROOT/src/Worker/BuildFarm.Worker.csproj" -c Release --nologo -v quiet >&2
WORKER="$ROOT/artifacts/build/bin/BuildFarm.Worker/release/buildfarm-worker"

SSH=(ssh -p "$PORT" -i "$WORK/client" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/sshd/known_hosts" -o BatchMode=yes)
"${SSH[@]}" "$USER@127.0.0.1" true   # warm up (page cache, first connection)

echo "payload: $SIZE_MIB MiB of random bytes; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
"${SSH[@]}" "$USER@127.0.0.1" cat "$WORK/payload" > /dev/null
end=$(date +%s.%N)
awk -v b="$BYTES" -v s="$start" -v e="$end" 'BEGIN { printf "ssh cat (OpenSSH client, ceiling incl. connect): %.3f s, %.1f MB/s\n", e-s, b/(e-s)/1e6 }'

for compression in None SshZlib RemoteGzip; do
  printf 'buildfarm-worker debug ssh-cat --compression %s: ' "$compression"
  "$WORKER" debug ssh-cat --host 127.0.0.1 --port "$PORT" --user "$USER" --key "$WORK/client" \
    --host-key-fingerprint "$FINGERPRINT" --compression "$compression" "$WORK/payload"
done
