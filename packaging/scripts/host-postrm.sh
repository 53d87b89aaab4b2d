#!/bin/sh
# deskport-host: on purge, remove what the service created (its key, audit log). The account
# stays, as Debian policy asks (files elsewhere may still belong to it).
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = "purge" ]; then
  rm -rf /var/lib/deskport /var/log/deskport
fi
exit 0
