#!/bin/sh
# deskport-rendezvous: stop and disable the service before its files go (not on upgrade).
set -e
case "$1" in
  remove|purge|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now deskport-rendezvous.service >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
