# shellcheck shell=bash
# Local servers on loopback for ./farm (scripts/farm-local.sh) and the benchmarks (bench/*/run.sh): a free port, a
# wait for a port, a private sshd. Source it; it defines functions only and starts nothing by itself.

# local_free_port: a loopback port nobody listens on, from 10000-19999: below the kernel's ephemeral ports (no
# outgoing connection takes one between pick and bind) and apart from the 20000-32000 the test harness claims
# (tests/Testing/FreePort.cs), so a farm, a benchmark and a test run never collide.
local_free_port() {
  local p
  while true; do
    p=$((10000 + RANDOM % 10000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# local_wait_port PORT WHAT [PID LOG]: waits up to 90 s until something listens on 127.0.0.1:PORT. With PID, gives up
# as soon as that process has exited and prints the tail of LOG.
local_wait_port() {
  local port=$1 what=$2 pid=${3:-} log=${4:-}
  for _ in $(seq 1 450); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited before listening on port $port${log:+; its log ($log):}" >&2
      [ -z "$log" ] || tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "gave up waiting for $what on port $port${log:+ (see $log)}" >&2
  return 1
}

# local_sshd_authorize DIR CLIENT_KEY [FORCED]: DIR/authorized_keys = CLIENT_KEY.pub, as
# `command="FORCED",restrict KEY` when FORCED is given. sshd reads it at every login: no restart needed.
local_sshd_authorize() {
  local dir=$1 client=$2 forced=${3:-}
  if [ -n "$forced" ]; then
    printf 'command="%s",restrict %s\n' "$forced" "$(head -n 1 "$client.pub")" > "$dir/authorized_keys"
  else
    cp "$client.pub" "$dir/authorized_keys"
  fi
}

# local_sshd_prepare DIR PORT CLIENT_KEY [FORCED]: a private sshd's files in DIR for 127.0.0.1:PORT: its host key
# DIR/host_ed25519 and the client key CLIENT_KEY (both kept when they exist), authorized_keys = CLIENT_KEY.pub (as
# `command="FORCED",restrict KEY` when FORCED is given: every login runs FORCED, e.g. buildfarm origin-serve),
# sshd_config (checked with sshd -t) and known_hosts for ssh -o UserKnownHostsFile. Start it with
# /usr/sbin/sshd -D -e -f DIR/sshd_config (as root: sshd needs it) and wait with local_wait_port.
local_sshd_prepare() {
  local dir=$1 port=$2 client=$3 forced=${4:-}
  mkdir -p "$dir" /run/sshd
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C buildfarm-local-host -f "$dir/host_ed25519"
  [ -f "$client" ] || ssh-keygen -q -t ed25519 -N '' -C buildfarm-local-client -f "$client"
  local_sshd_authorize "$dir" "$client" "$forced"
  cat > "$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxSessions 100
MaxStartups 100
CONF
  /usr/sbin/sshd -t -f "$dir/sshd_config"
  echo "[127.0.0.1]:$port $(cat "$dir/host_ed25519.pub")" > "$dir/known_hosts"
}

# local_sshd_fingerprint DIR: the host key's OpenSSH fingerprint SHA256:BASE64 (what workers and the dispatcher pin).
local_sshd_fingerprint() { ssh-keygen -l -E sha256 -f "$1/host_ed25519.pub" | cut -d' ' -f2; }
