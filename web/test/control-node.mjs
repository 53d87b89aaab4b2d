// Runs the page's control-stream client (src/control.js over src/yamux.js) against the Go
// control package in web/control_test.go, over stdin/stdout. The exit code is the verdict;
// stderr says what failed.

import fs from "node:fs";
import { Session } from "../src/yamux.js";
import { ControlClient, encodeMessage, parseMonitors, request } from "../src/control.js";

const log = (...a) => process.stderr.write(`control-node: ${a.join(" ")}\n`);
function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
}

const out = fs.createWriteStream(null, { fd: 1, highWaterMark: 64 << 10 });
const session = new Session({
  send: (b) => out.write(b),
  full: () => out.writableNeedDrain,
  waitDrain: () => new Promise((resolve) => out.once("drain", resolve)),
  close: () => out.end(),
});
process.stdin.on("data", (b) => session.receive(new Uint8Array(b.buffer, b.byteOffset, b.length)));
process.stdin.on("end", () => session.transportClosed(null));

function throws(f, what) {
  try {
    f();
  } catch (e) {
    check(e instanceof RangeError, `${what}: ${e}`);
    return;
  }
  check(false, `${what} did not throw`);
}

async function main() {
  // Values the host's strict decoder would refuse never leave the page.
  throws(() => request.preset("ultra"), "unknown preset");
  throws(() => request.monitor(65), "monitor 65");
  throws(() => request.monitor(-2), "monitor -2");
  throws(() => request.caps(121, 0), "fps 121");
  throws(() => request.caps(0, 99_999), "bitrate 99999");
  throws(() => encodeMessage({ type: "error", error: "x".repeat(5000) }), "oversized message");

  // The main stream: hello, stats, our requests, a refusal, the host's end.
  const got = [];
  let waiter = null;
  let ended;
  const endedP = new Promise((resolve) => (ended = resolve));
  const next = () => (got.length ? Promise.resolve(got.shift()) : new Promise((r) => (waiter = r)));
  const c = new ControlClient({
    onMessage: (m) => (waiter ? (waiter(m), (waiter = null)) : got.push(m)),
    onEnd: ended,
  });
  await c.open(session);
  const hello = await next();
  check(hello.type === "hello", `first message ${JSON.stringify(hello)}`);
  const mons = parseMonitors(hello.monitors);
  check(mons.length === 2 && mons[1].index === 1 && mons[1].name === "HDMI-1" && mons[1].width === 1280, `monitors ${JSON.stringify(mons)}`);
  const stats = await next();
  check(stats.type === "stats" && stats.stats.fps === 29.5 && stats.stats.bitrateBps === 2500000 && stats.stats.keyframes === 3, `stats ${JSON.stringify(stats)}`);
  await c.send(request.keyframe());
  await c.send(request.preset("high"));
  await c.send(request.caps(60, 2_500_000));
  await c.send(request.caps(24, 0));
  await c.send(request.monitor(-1));
  await c.send(request.monitor(7));
  const refusal = await next();
  check(refusal.type === "error" && refusal.error === "no monitor 7", `refusal ${JSON.stringify(refusal)}`);
  await c.send(request.monitor(1));
  check((await endedP) === null, "the host's close ends the client cleanly");
  check(c.closed, "closed after the end");
  log("control: hello, stats, requests, refusal");

  // A host that does not allow it.
  try {
    await new ControlClient().open(session);
    check(false, "a refused open succeeded");
  } catch (e) {
    check(e.code === "not_allowed" && e.hostMessage === "no view capability", `refused: ${e.code} ${e.message}`);
  }
  log("control: not_allowed");
  session.close();
  process.stdin.destroy();
}

main().catch((e) => {
  log("FAIL", e && e.stack ? e.stack : e);
  process.exit(1);
});
