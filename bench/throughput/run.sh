#!/usr/bin/env bash
# Throughput of trivial builds: BuildFarm (private RabbitMQ, `buildfarm serve`, 2 workers) vs Nix's own remote
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
WORK="$(mktemp -d /tmp/bf-bench-throughput-XXXXXX)"
PIDS=()
RABBIT_ENV=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; echo "gave up waiting for $2 on port $1 (logs in $WORK)" >&2; return 1; }
start() { local name=$1; shift; setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null & PIDS+=($!); disown; }
now() { date +%s.%N; }
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  [ ${#RABBIT_ENV[@]} -gt 0 ] && env "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl stop >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

[ "${SKIP_BUILD:-0}" = 1 ] || "$ROOT/farm" build >&2
BF="$ROOT/artifacts/bin/buildfarm"; WORKER="$ROOT/artifacts/bin/buildfarm-worker"
for tool in nix-store nix-instantiate sshd busybox curl python3; do command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }; done

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
echo "== $N builds per side, concurrency $JOBS; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# --- BuildFarm: RabbitMQ, dispatcher, 2 workers ----------------------------------------------------------------------
RPORT=$(free_port); mkdir -p "$WORK/rabbit/home"
printf 'listeners.tcp.default = 127.0.0.1:%s\nloopback_users = none\n' "$RPORT" > "$WORK/rabbit/rabbitmq.conf"
echo '[].' > "$WORK/rabbit/enabled_plugins"
RABBIT_ENV=(HOME="$WORK/rabbit/home" RABBITMQ_NODENAME="bfbench$$@localhost" RABBITMQ_NODE_PORT="$RPORT"
  RABBITMQ_DIST_PORT="$(free_port)" RABBITMQ_MNESIA_BASE="$WORK/rabbit/mnesia" RABBITMQ_LOG_BASE="$WORK/rabbit/log"
  RABBITMQ_ENABLED_PLUGINS_FILE="$WORK/rabbit/enabled_plugins" RABBITMQ_CONFIG_FILE="$WORK/rabbit/rabbitmq")
start rabbit env "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
wait_port "$RPORT" RabbitMQ
env "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl await_startup --timeout 120 >/dev/null
AMQP="amqp://guest:guest@127.0.0.1:$RPORT/"

nix key generate-secret --key-name bench-dispatcher-1 > "$WORK/dispatcher.sec"
nix key convert-secret-to-public < "$WORK/dispatcher.sec" > "$WORK/dispatcher.pub"
APORT=$(free_port); API="http://127.0.0.1:$APORT"
cat > "$WORK/dispatcher.json" <<JSON
{ "Broker": { "Uri": "$AMQP" },
  "Dispatcher": { "ListenUrl": "$API", "DatabasePath": "$WORK/dispatcher.db", "SigningKeyFile": "$WORK/dispatcher.sec",
                  "StoreDir": "/nix/store", "Root": "$WORK/origin", "LogFile": "$WORK/dispatcher.json.log" } }
JSON
start dispatcher "$BF" serve --config "$WORK/dispatcher.json"
wait_port "$APORT" "the dispatcher"
for w in w1 w2; do
  mkdir -p "$WORK/$w/root" "$WORK/$w/builds"
  nix key generate-secret --key-name "bench-$w-1" > "$WORK/$w/worker.sec"
  cat > "$WORK/$w/worker.json" <<JSON
{ "Name": "bench-$w", "Systems": ["x86_64-linux"], "Slots": $SLOTS,
  "Store": { "StoreDir": "/nix/store", "Root": "$WORK/$w/root" },
  "Keys": { "SigningKeyFile": "$WORK/$w/worker.sec", "TrustedDispatcherKeysFile": "$WORK/dispatcher.pub" },
  "Broker": { "Uri": "$AMQP" }, "BuildDir": "$WORK/$w/builds", "AllowUnsandboxed": true,
  "Logs": { "JsonFile": "$WORK/$w/worker.json.log" } }
JSON
  start "worker-$w" "$WORKER" run --config "$WORK/$w/worker.json"
done
for _ in $(seq 600); do
  [ "$(curl -sf "$API/api/workers" | python3 -c 'import json,sys; print(sum(1 for w in json.load(sys.stdin) if w["online"]))' 2>/dev/null || echo 0)" = 2 ] && break
  sleep 0.2
done

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
[ "$bf_failed" = 0 ] || echo "BuildFarm: $bf_failed builds failed (see $WORK)" >&2

# --- Nix: remote builder over ssh to a private sshd on loopback, remote store local?root=DIR ------------------------
SPORT=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host" -C bench-host
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client" -C bench-client
cp "$WORK/client.pub" "$WORK/authorized_keys"
cat > "$WORK/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $SPORT
HostKey $WORK/host
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
MaxStartups 100
MaxSessions 100
CONF
mkdir -p /run/sshd "$WORK/nix-remote"
start sshd /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
wait_port "$SPORT" sshd
echo "[127.0.0.1]:$SPORT $(cat "$WORK/host.pub")" > "$WORK/known_hosts"
export NIX_SSHOPTS="-p $SPORT -o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
BUILDERS="ssh://root@127.0.0.1?remote-store=local%3Froot%3D$WORK/nix-remote x86_64-linux $WORK/client $JOBS"
nix_realise() { nix-store -r --max-jobs 0 --builders "$BUILDERS" --option substituters "" --no-build-output $(cat "$1") > "$WORK/nix.out" 2> "$WORK/nix.err"; }
nix_realise "$WORK/nix-warm.drvs"   # warm-up: copies busybox to the remote store once, not timed
t2=$(now); nix_rc=0; nix_realise "$WORK/nix.drvs" || nix_rc=$?; t3=$(now)
nix_ok=$(wc -l < "$WORK/nix.out")
[ "$nix_rc" = 0 ] || { echo "nix-store -r exited $nix_rc:" >&2; tail -5 "$WORK/nix.err" >&2; }

awk -v n="$N" -v j="$JOBS" -v bo="$bf_ok" -v a="$t0" -v b="$t1" -v no="$nix_ok" -v c="$t2" -v d="$t3" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  bf = bo / (b - a); nx = no / (d - c)
  printf "builds: %d per side, concurrency %d, load after: %s\n", n, j, load
  printf "BuildFarm (dispatcher + 2 workers over RabbitMQ): %d ok in %.1f s = %.1f builds/s\n", bo, b - a, bf
  printf "Nix remote builder (ssh://127.0.0.1, local?root=): %d ok in %.1f s = %.1f builds/s\n", no, d - c, nx
  printf "ratio BuildFarm/Nix = %.2f\n", bf / nx
}'
