#!/usr/bin/env bash
# Entry point of the dispatcher image. As root (the default): starts the origin's sshd when its host key exists in
# the keys volume (workers pull inputs from and return outputs to the origin store /var/lib/buildfarm/origin through
# it, logging in as `buildfarm`), then runs `buildfarm ARGS` as the unprivileged user buildfarm. As any other user:
# runs `buildfarm ARGS` without sshd (no offload).
set -euo pipefail
readonly BF=/opt/buildfarm/bin/buildfarm
readonly KEYS="${BUILDFARM_ORIGIN_KEYS_DIR:-/etc/buildfarm/keys}"
readonly SSHD_CONFIG=/run/buildfarm-origin-sshd_config

if [ "$(id -u)" -ne 0 ]; then
  exec "$BF" "$@"
fi

if [ -f "$KEYS/origin_host_ed25519" ]; then
  install -d -m 0755 /run/sshd
  cat >"$SSHD_CONFIG" <<CONF
Port 22
HostKey $KEYS/origin_host_ed25519
AuthorizedKeysFile $KEYS/origin-authorized-keys
AllowUsers buildfarm
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitTTY no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
# Workers open up to Origins:ChannelsPerConnection exec channels per connection (default 8).
MaxSessions 32
MaxStartups 100
CONF
  /usr/sbin/sshd -t -f "$SSHD_CONFIG"
  # In the foreground of a background job, logging to the container's stderr; the service's init reaps it.
  /usr/sbin/sshd -D -e -f "$SSHD_CONFIG" &
  echo "dispatcher-entrypoint: origin sshd on port 22 (host key $KEYS/origin_host_ed25519.pub, user buildfarm)" >&2
else
  echo "dispatcher-entrypoint: no $KEYS/origin_host_ed25519: origin sshd not started (run init-keys.sh)" >&2
fi

# DOTNET_ReadyToRun=0 for this process only (as packaging/buildfarm-dispatcher.service): the long-running dispatcher
# compiles its code fully optimised once instead of running the precompiled code (10 % less CPU per build), while the
# short `buildfarm` commands sshd runs keep their fast start.
exec setpriv --reuid=10001 --regid=10001 --init-groups -- env HOME=/var/lib/buildfarm USER=buildfarm DOTNET_ReadyToRun=0 "$BF" "$@"
