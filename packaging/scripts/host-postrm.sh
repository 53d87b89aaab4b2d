#!/bin/sh
# deskport-host: on purge, remove what the service created (its key, audit log) and the
# authorized_viewers file the admin wrote next to host.toml (purge means the configuration
# too); /etc/deskport goes when nothing else is in it. The account stays, as Debian policy
# asks (files elsewhere may still belong to it).
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = "purge" ]; then
  rm -rf /var/lib/deskport /var/log/deskport
  rm -f /etc/deskport/authorized_viewers
  rmdir --ignore-fail-on-non-empty /etc/deskport 2>/dev/null || true
fi
exit 0
