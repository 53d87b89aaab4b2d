#!/usr/bin/env bash
# Installs the Debian packages deskport's build, tests and demo need. Idempotent: packages that are
# already installed are skipped, so a second run costs only the dpkg query.
set -euo pipefail

# What each package is for:
#   openssh-server openssh-client  the end-to-end test reaches a real sshd through `viewer stdio`,
#                                  and `make bench` compares the tunnel with `ssh -L`
#   curl                           a real SOCKS5 client for the `-D` test
#   libx11-dev libxext-dev         screen capture: one X connection and one MIT-SHM segment
#   libxtst-dev                    input injection (XTest)
#   libxdamage-dev libxfixes-dev   skipping unchanged frames (XDamage), the cursor (XFixes)
#   libxrandr-dev libxinerama-dev  listing monitors
#   libvpx-dev libx264-dev         VP8 (default) and H.264 encoding; VP8 decoding for `viewer screenshot`
#   xvfb xdotool x11-utils         headless hosts (--virtual-display) and the desktop tests
#   chromium                       the browser viewer's end-to-end tests (Playwright drives it)
#   xterm x11-apps                 something to see in `make demo`'s virtual display; typing tests
#   xclip                          the host side of clipboard sync (X11 selections)
#   pkg-config                     cgo finds the libraries above
#   coturn                         an external TURN server (use-auth-secret) for the credential
#                                  interop test of the rendezvous's --turn-secret-file
#   iproute2                       `ip`: network namespaces and veth addresses (HTTPS tests, the NAT lab)
#   nftables                       the NAT lab's NAT routers (internal/netlab)
#   systemd                        systemd-analyze verify checks the units `service install` writes
#   rpm                            rpm -qp checks the .rpm packages `make packages` builds
#   bash-completion                the test that sources the generated bash completion script
#                                  (it calls bash-completion's _get_comp_words_by_ref)
#   redis-server                   the shared state of several rendezvous instances (--redis): the
#                                  cluster tests start their own on a free port
#   libpipewire-0.3-dev            screen capture on Wayland: the PipeWire stream Mutter's screen cast
#                                  hands out (screen/pipewire)
#   mutter pipewire wireplumber    a headless GNOME session for the Wayland tests and for
#   dbus-daemon                    `--virtual-display WxH --backend mutter` (private session bus)
#   libwayland-dev wayland-protocols the Wayland test client (internal/wlpattern) that those tests
#   libxkbcommon-dev               build with gcc: wl_shm, xdg-shell, key to text
#   xdg-desktop-portal             the desktop portal the portal backend talks to (screen/portal);
#   xdg-desktop-portal-gnome       its GNOME backend and dialog, answered by the tests on headless Mutter
#   sway xdg-desktop-portal-wlr    a headless wlroots desktop with the wlr portal (the chooser tests)
PKGS=(openssh-server openssh-client curl pkg-config nftables coturn
  libx11-dev libxext-dev libxdamage-dev libxfixes-dev libxrandr-dev libxinerama-dev libxtst-dev
  libvpx-dev libx264-dev xvfb xdotool x11-utils chromium xterm x11-apps xclip iproute2 systemd rpm
  bash-completion redis-server
  libpipewire-0.3-dev mutter pipewire wireplumber dbus-daemon libwayland-dev wayland-protocols libxkbcommon-dev
  xdg-desktop-portal xdg-desktop-portal-gnome sway xdg-desktop-portal-wlr)

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
