#!/usr/bin/env bash
# Installs the Debian packages deskport's build, tests and demo need. Idempotent: packages that are
# already installed are skipped, so a second run costs only the dpkg query.
set -euo pipefail

# What each package is for:
#   openssh-server openssh-client  the end-to-end test reaches a real sshd through `viewer stdio`,
#                                  and `make bench` compares the tunnel with `ssh -L`
#   curl                           a real SOCKS5 client for the `-D` test
PKGS=(openssh-server openssh-client curl)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
