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
cleanup() { [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host" -C bench-host
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client" -C bench-client
cp "$WORK/client.pub" "$WORK/authorized_keys"
cat > "$WORK/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $WORK/host
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
FINGERPRINT="$(ssh-keygen -l -E sha256 -f "$WORK/host.pub" | awk '{print $2}')"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/payload"
BYTES=$((SIZE_MIB * 1024 * 1024))

echo "== building buildfarm-worker (Release)" >&2
dotnet build "$ROOT/src/Worker/BuildFarm.Worker.csproj" -c Release --nologo -v quiet >&2
WORKER="$ROOT/artifacts/build/bin/BuildFarm.Worker/release/buildfarm-worker"

SSH=(ssh -p "$PORT" -i "$WORK/client" -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$WORK/known_hosts" -o BatchMode=yes)
echo "[127.0.0.1]:$PORT $(cat "$WORK/host.pub")" > "$WORK/known_hosts"
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
