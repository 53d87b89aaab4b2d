// Checks src/busy.js, the page's retry of a connection refused because too many sessions were
// being set up: which errors it retries, the waits, the bound, and that cancel() stops it. Reads
// {hostBusyReason} on stdin (the host's refusal, from the Go side); prints one JSON object.

import { BUSY_ATTEMPTS, BusyRetry, busyBackoff, busyReason } from "../src/busy.js";
import { ConnectError } from "../src/session.js";
import { SignalError } from "../src/signaling.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);

const out = {};
// The errors as session.js makes them: the host's bye, the rendezvous's error, and others.
out.reasons = {
  hostBye: busyReason(new ConnectError("bye", req.hostBusyReason)),
  rendezvous: busyReason(new SignalError("too_many_sessions", "host X already has 16 connection attempts waiting for its answer; try again in a few seconds")),
  otherBye: busyReason(new ConnectError("bye", "the host ended the session")),
  badCode: busyReason(new ConnectError("bad_code", "wrong code")),
  offline: busyReason(new SignalError("host_offline", "host X is not connected")),
  none: busyReason(null),
};
// The waits, at the extremes of the jitter.
out.low = [];
out.high = [];
for (let a = 1; a < BUSY_ATTEMPTS; a++) {
  out.low.push(busyBackoff(a, () => 0));
  out.high.push(busyBackoff(a, () => 0.999999));
}

// A fake clock: timers run when the test says so.
function fakeTimers() {
  const timers = new Map();
  let next = 1;
  return {
    timers,
    setTimer: (fn, ms) => (timers.set(next, { fn, ms }), next++),
    clearTimer: (id) => timers.delete(id),
    fire() {
      const [id, t] = timers.entries().next().value;
      timers.delete(id);
      t.fn();
    },
  };
}

// Refused every time: it retries BUSY_ATTEMPTS-1 times, then gives up.
{
  const ft = fakeTimers();
  const r = new BusyRetry({ random: () => 0.5, setTimer: ft.setTimer, clearTimer: ft.clearTimer });
  const busy = new ConnectError("bye", req.hostBusyReason);
  let runs = 1;
  const steps = [];
  for (;;) {
    const got = r.after(busy, () => runs++);
    if (!got) break;
    steps.push(got);
    ft.fire();
  }
  out.alwaysBusy = { runs, steps, pending: ft.timers.size };
}

// A different error ends it at once; cancel() stops a scheduled retry.
{
  const ft = fakeTimers();
  const r = new BusyRetry({ setTimer: ft.setTimer, clearTimer: ft.clearTimer });
  out.notBusy = r.after(new ConnectError("unauthorized", "no"), () => {});
  let ran = 0;
  const got = r.after(new SignalError("too_many_sessions", "x"), () => ran++);
  out.waitingBefore = r.waiting;
  r.cancel();
  out.waitingAfter = r.waiting;
  out.pendingAfterCancel = ft.timers.size;
  out.afterCancel = r.after(new SignalError("too_many_sessions", "x"), () => ran++);
  out.scheduled = got !== null;
  out.ranAfterCancel = ran;
}
process.stdout.write(JSON.stringify(out) + "\n");
