#!/bin/bash
# static-cpu.sh BINDIR CODEC SECONDS [x11|mutter]: the host's CPU (% of a core) and voluntary
# context switches a second while one `viewer record` watches a static 1920x1080 screen, the
# way `deskport-bench -only stream` runs them (2 s settling first). BINDIR holds host and viewer
# built from the commit to measure. Prints: CPU%, the 1-minute load, csw/s. Run builds of two
# commits alternately, several times, and compare within one sitting (docs/bench.md, "Static
# screen: the regression of December").
set -u
BIN=$1 CODEC=$2 SECS=$3 BACKEND=${4:-x11}
W=$(mktemp -d)
XPID=
if [ "$BACKEND" = x11 ]; then
	DISP=$((200 + RANDOM % 300))
	Xvfb :$DISP -screen 0 1920x1080x24 -noreset -nolisten tcp >$W/xvfb.log 2>&1 &
	XPID=$!
	for _ in $(seq 50); do [ -e /tmp/.X11-unix/X$DISP ] && break; sleep 0.1; done
	DISPLAY_ARGS=(--display :$DISP)
else
	DISPLAY_ARGS=(--virtual-display 1920x1080 --backend mutter)
fi
"$BIN/viewer" id --key $W/viewer.key >$W/authorized 2>/dev/null
"$BIN/host" "${DISPLAY_ARGS[@]}" --listen 127.0.0.1:0 --key $W/host.key --authorized-viewers $W/authorized \
	--ice-loopback-only --codec "$CODEC" >$W/host.log 2>&1 &
HPID=$!
for _ in $(seq 300); do grep -q registered $W/host.log && break; sleep 0.1; done
LINK=$(grep -o 'open in a browser: [^ ]*' $W/host.log | head -1 | awk '{print $5}')
"$BIN/viewer" record "${LINK##*/#}" $W/rec.out --rendezvous "${LINK%%/#*}" --key $W/viewer.key --ice-loopback-only >$W/viewer.log 2>&1 &
VPID=$!
for _ in $(seq 600); do grep -q 'recording ' $W/viewer.log && break; sleep 0.1; done
sleep 2
cpu() { awk '{print $14+$15}' /proc/$HPID/stat; }
csw() { cat /proc/$HPID/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/{s+=$2} END{print s}'; }
x0=$(csw) c0=$(cpu) t0=$(date +%s.%N)
sleep "$SECS"
c1=$(cpu) t1=$(date +%s.%N) x1=$(csw)
awk -v a=$c0 -v b=$c1 -v x=$x0 -v y=$x1 -v t0=$t0 -v t1=$t1 -v hz=$(getconf CLK_TCK) -v l="$(cut -d' ' -f1 /proc/loadavg)" \
	'BEGIN{printf "%.2f %s csw/s=%.0f\n", 100*(b-a)/hz/(t1-t0), l, (y-x)/(t1-t0)}'
kill $VPID $HPID 2>/dev/null
wait $VPID $HPID 2>/dev/null
[ -n "$XPID" ] && kill $XPID && wait $XPID 2>/dev/null
rm -rf $W
