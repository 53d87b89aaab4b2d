// Runs src/yamux.js and src/mux.js as the browser would, over stdin/stdout instead of a data
// channel, against the Go host side in web/yamux_test.go (tunnel.NewServerSession). stdout
// carries only yamux bytes; progress and failures go to stderr; the exit code is the verdict.
//
// The Go side serves KindTCP streams by their address: echo.test:1 echoes, sink.test:1 answers
// the SHA-256 of everything up to our FIN, source.test:1 sends SIZE bytes then FIN and reads
// back our SHA-256 of them, refuse.test:1 is refused, hold.test:1 waits for our reset; any
// other kind is unsupported. The Go side also pings us and opens one clipboard stream that we
// echo.

import { createHash } from "node:crypto";
import fs from "node:fs";
import { Session } from "../src/yamux.js";
import { Kind, OpenError, Status, encodeReply, openStream, streamHandler } from "../src/mux.js";

const SIZE = Number(process.argv[2] || 8 << 20);
const log = (...a) => process.stderr.write(`yamux-node: ${a.join(" ")}\n`);
function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
}

// Asynchronous writes to fd 1, so that `full`/`waitDrain` (bufferedAmount on a data channel)
// are exercised for real.
const out = fs.createWriteStream(null, { fd: 1, highWaterMark: 64 << 10 });
const transport = {
  send: (b) => out.write(b),
  full: () => out.writableNeedDrain,
  waitDrain: () => new Promise((resolve) => out.once("drain", resolve)),
  close: () => out.end(),
};

let hostStreamDone;
const hostStream = new Promise((resolve) => (hostStreamDone = resolve));
let goAways = 0;
const session = new Session(transport, {
  onStream: streamHandler({
    [Kind.clipboard]: async (s, payload) => {
      check(new TextDecoder().decode(payload) === "hello", "host-opened stream payload");
      await s.write(encodeReply(Status.ok, ""));
      for (;;) {
        const b = await s.read();
        if (b === null) break;
        await s.write(b);
      }
      await s.close();
      hostStreamDone();
    },
  }),
  onGoAway: () => goAways++,
});
process.stdin.on("data", (b) => session.receive(new Uint8Array(b.buffer, b.byteOffset, b.length)));
process.stdin.on("end", () => session.transportClosed(null));

// bytes returns deterministic pseudo-random data (xorshift32) in odd-sized pieces.
function* pieces(seed, total) {
  let x = seed >>> 0 || 1;
  let left = total;
  while (left > 0) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const n = Math.min(left, 1 + (x % 70000));
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (x + i * 2654435761) >>> 24;
    left -= n;
    yield b;
  }
}

const sha = () => createHash("sha256");

async function drain(s, h) {
  let n = 0;
  for (;;) {
    const b = await s.read();
    if (b === null) return n;
    n += b.length;
    h.update(b);
  }
}

async function echo(i) {
  const s = await openStream(session, Kind.tcp, "echo.test:1");
  const sent = sha();
  const got = sha();
  const reading = drain(s, got);
  for (const p of pieces(i + 1, SIZE)) {
    sent.update(p);
    await s.write(p);
  }
  await s.close(); // half-close: the echo keeps coming
  const n = await reading;
  check(n === SIZE, `echo ${i}: got ${n} bytes back, sent ${SIZE}`);
  check(sent.digest("hex") === got.digest("hex"), `echo ${i}: bytes differ`);
  log(`echo ${i}: ${SIZE} bytes both ways`);
}

async function sink() {
  const s = await openStream(session, Kind.tcp, "sink.test:1");
  const sent = sha();
  for (const p of pieces(99, SIZE)) {
    sent.update(p);
    await s.write(p);
  }
  await s.close();
  const answer = new TextDecoder().decode(await s.readAll(100));
  check(answer === sent.digest("hex"), `sink: host hashed ${answer}`);
  log("sink: host read every byte up to our FIN");
}

async function source() {
  const s = await openStream(session, Kind.tcp, "source.test:1");
  const got = sha();
  const n = await drain(s, got); // the host half-closed
  check(n === SIZE, `source: ${n} bytes`);
  await s.write(new TextEncoder().encode(got.digest("hex")));
  await s.close();
  log("source: read the host's bytes to its FIN, answered after it");
}

async function refused() {
  try {
    await openStream(session, Kind.tcp, "refuse.test:1");
    check(false, "refuse.test:1 was accepted");
  } catch (e) {
    check(e instanceof OpenError && e.status === Status.notAllowed && e.code === "not_allowed", `refuse: ${e}`);
    check(e.hostMessage === "not in the allowlist", `refuse message: ${e.hostMessage}`);
  }
  try {
    await openStream(session, Kind.control, new Uint8Array([1, 2, 3]));
    check(false, "control was accepted");
  } catch (e) {
    check(e instanceof OpenError && e.code === "unsupported", `unsupported: ${e}`);
  }
  log("open replies: not_allowed and unsupported with the host's messages");
}

async function reset() {
  const s = await openStream(session, Kind.tcp, "hold.test:1");
  await s.write(new Uint8Array(1000));
  s.reset();
  let threw = false;
  try {
    await s.write(new Uint8Array(1));
  } catch (e) {
    threw = e.code === "reset";
  }
  check(threw, "write after reset did not fail");
  log("reset sent");
}

async function main() {
  const rtt = await session.ping();
  log(`ping ${rtt.toFixed(1)} ms`);
  await refused();
  await Promise.all([echo(0), echo(1), echo(2), sink(), source()]);
  await reset();
  await hostStream;
  check(goAways === 0, "unexpected go-away");
  check(session.streams.size === 0, `${session.streams.size} streams left open: ${[...session.streams.keys()]}`);
  await session.ping();
  session.close(); // go-away, then the end of stdout
  process.stdin.destroy();
  log("done");
}

main().catch((e) => {
  log("FAIL", e && e.stack ? e.stack : e);
  process.exit(1);
});
