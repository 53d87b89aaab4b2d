#!/bin/sh
# deskport-rendezvous: on purge, remove its state (systemd keeps a DynamicUser's state under
# /var/lib/private).
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = "purge" ]; then
  rm -rf /var/lib/private/deskport-rendezvous /var/lib/deskport-rendezvous
  rmdir --ignore-fail-on-non-empty /etc/deskport 2>/dev/null || true
fi
exit 0
