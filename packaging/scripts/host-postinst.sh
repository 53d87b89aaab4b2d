#!/bin/sh
# deskport-host: create the service account and tell systemd about the unit. The service is
# not enabled: edit /etc/deskport/host.toml first, then `systemctl enable --now deskport-host`.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers deskport.conf
elif ! getent passwd deskport >/dev/null; then
  useradd --system --home-dir /var/lib/deskport --no-create-home --shell /usr/sbin/nologin \
    --comment "deskport host agent" deskport
fi
# The service reads its config as the deskport account (the package installs it root-owned,
# 0640, before the account exists). An admin's own choice (dpkg-statoverride) wins.
if ! dpkg-statoverride --list /etc/deskport/host.toml >/dev/null 2>&1 && [ -f /etc/deskport/host.toml ]; then
  chgrp deskport /etc/deskport/host.toml
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade restarts a running host (it drains its transfers first).
  systemctl try-restart deskport-host.service || true
fi
exit 0
