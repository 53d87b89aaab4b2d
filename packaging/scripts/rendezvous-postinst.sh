#!/bin/sh
# deskport-rendezvous: the unit runs as a DynamicUser; nothing to create. Not enabled: edit
# /etc/deskport/rendezvous.toml, then `systemctl enable --now deskport-rendezvous`.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  systemctl try-restart deskport-rendezvous.service || true
fi
exit 0
