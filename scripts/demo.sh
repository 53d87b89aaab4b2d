#!/usr/bin/env bash
# The 30-second demo: this machine's screen (or, with no DISPLAY, a virtual one with a clock and
# a terminal in it) in your browser, through the host's embedded rendezvous and a one-time code.
# A native viewer also saves a screenshot through the same path, to show it works end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
LISTEN=${LISTEN:-127.0.0.1:8080}
SHOT=${SHOT:-demo-screenshot.png}
work=$(mktemp -d)
hostpid=""
cleanup() { [ -n "$hostpid" ] && kill "$hostpid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

wait_line() { # file regex -> the first match
  for _ in $(seq 1 300); do
    if m=$(grep -oE "$2" "$1" | head -1) && [ -n "$m" ]; then echo "$m"; return 0; fi
    if [ -n "$hostpid" ] && ! kill -0 "$hostpid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "the host did not print '$2'; its log:" >&2; cat "$1" >&2; return 1
}

# A viewer key the host trusts, for the screenshot below.
"$BIN/viewer" id --key "$work/viewer.key" > "$work/authorized_viewers"

desktop=()
if [ -z "${DISPLAY:-}" ]; then
  desktop=(--virtual-display 1280x720 --run "xclock -update 1 -geometry 300x300+60+60 & xterm -geometry 80x24+420+120 -e 'echo deskport demo: this terminal runs on the host; exec bash'")
  echo "no DISPLAY: the host starts a virtual 1280x720 display with a clock and a terminal"
else
  echo "sharing your display $DISPLAY"
fi
# The demo is for the person at this machine: the code viewer may watch, type and use the
# clipboard, and the host does not stop to ask (its terminal output goes to a log here). The
# demo's own viewer key (trusted above) may also forward to this machine's ssh port, which the
# message below shows; a code viewer may not (no forward in --grant).
"$BIN/host" --key "$work/host.key" --authorized-viewers "$work/authorized_viewers" --listen "$LISTEN" \
  --grant view,control,clipboard --accept grant --audit-log "$work/audit.log" --files-root "$work/files" \
  --allow 127.0.0.1:22 \
  "${desktop[@]}" >"$work/host.log" 2>&1 </dev/null &
hostpid=$!
link=$(wait_line "$work/host.log" 'http://[^ ]+/#[a-z2-7]+')
code=$(wait_line "$work/host.log" 'one-time code: [A-Z0-9-]+' | awk '{print $3}')
id=${link##*#}
rv=${link%%/#*}

sleep 1 # let the programs in the virtual display paint before the screenshot
"$BIN/viewer" screenshot "$id" "$SHOT" --rendezvous "$rv" --key "$work/viewer.key" 2>&1 | tail -1

cat <<MSG

  deskport host $id is running.

  Open  $link
  and enter the one-time code  $code
  (or open $link/$code directly). The code works once; restart the demo for another.

  A native viewer saved what it saw to $SHOT.
  Port forwarding works on the same host, with the demo's viewer key (ssh -p 8022 localhost):
    $BIN/viewer forward $id --rendezvous $rv --key $work/viewer.key -L 8022:127.0.0.1:22
  Press Ctrl-C to stop.

MSG
wait "$hostpid"
