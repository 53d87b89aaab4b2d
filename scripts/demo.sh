#!/usr/bin/env bash
# The 30-second demo: a rendezvous, a host agent and a viewer on this machine, a little web
# service behind the host, and a port forward to it authenticated with a one-time code.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

wait_line() { # file regex -> first match of the regex's group 1
  for _ in $(seq 1 300); do
    if m=$(grep -oE "$2" "$1" | head -1) && [ -n "$m" ]; then echo "$m"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

echo "== a web service only the host can reach (127.0.0.1, port chosen by the OS)"
go build -o "$work/demoweb" ./internal/demoweb
"$work/demoweb" >"$work/web.log" 2>&1 &
pids+=($!)
web=$(wait_line "$work/web.log" 'port [0-9]+' | awk '{print $2}')

echo "== rendezvous"
"$BIN/rendezvous" --listen 127.0.0.1:0 >"$work/rv.log" 2>&1 &
pids+=($!)
rv=$(wait_line "$work/rv.log" 'addr=[0-9.:]+' | cut -d= -f2)
echo "   listening on $rv"

echo "== host agent, accepting a one-time code, allowing only 127.0.0.1:$web"
"$BIN/host" --rendezvous "http://$rv" --key "$work/host.key" --authorized-viewers "$work/none" \
  --code --allow "127.0.0.1:$web" >"$work/host.log" 2>&1 &
pids+=($!)
id=$(wait_line "$work/host.log" 'host ID: [a-z2-7]+' | awk '{print $3}')
code=$(wait_line "$work/host.log" 'one-time code: [A-Z0-9-]+' | awk '{print $3}')
echo "   host ID $id, one-time code $code"

echo "== viewer: viewer forward $id --code $code -L 127.0.0.1:0:127.0.0.1:$web"
"$BIN/viewer" forward "$id" --rendezvous "http://$rv" --key "$work/viewer.key" --code "$code" \
  -L "127.0.0.1:0:127.0.0.1:$web" >"$work/viewer.log" 2>&1 &
pids+=($!)
local=$(wait_line "$work/viewer.log" 'forwarding [0-9.:]+' | awk '{print $2}')
echo "   forwarding $local -> 127.0.0.1:$web on the host"

echo "== curl http://$local/ (through WebRTC, peer to peer)"
curl --silent --show-error "http://$local/"
echo
echo "== the same code again is refused (one attempt per code):"
"$BIN/viewer" forward "$id" --rendezvous "http://$rv" --key "$work/viewer2.key" --code "$code" \
  -L "127.0.0.1:0:127.0.0.1:$web" 2>&1 | tail -1 || true
echo
echo "demo done. Logs were in $work (removed on exit)."
