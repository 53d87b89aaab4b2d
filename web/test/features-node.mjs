// Runs the page's input, files and stream-open code (src/input.js, src/files.js over
// src/yamux.js) against the Go host packages in web/features_test.go, over stdin/stdout.
// The exit code is the verdict; stderr says what failed.

import fs from "node:fs";
import { Session } from "../src/yamux.js";
import { Kind, openStream } from "../src/mux.js";
import { encode, encodeHello, keyAction, fractionAt, wheelUnits } from "../src/input.js";
import * as files from "../src/files.js";

const log = (...a) => process.stderr.write(`features-node: ${a.join(" ")}\n`);
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

async function input() {
  const s = await openStream(session, Kind.input, encodeHello(1280, 720));
  // The letterboxed mapping: a 1280x720 picture in a 1000x1000 element is 1000x562.5 at y=218.75.
  const rect = { left: 0, top: 218.75, width: 1000, height: 562.5 };
  const [fx, fy] = fractionAt(rect, 500, 500, 1280, 720);
  const k = (key, code, mods = {}) => keyAction({ key, code, shiftKey: false, ctrlKey: false, altKey: false, metaKey: false, getModifierState: () => false, ...mods });
  check(k("a", "KeyA").as === "key" && k("A", "KeyA", { shiftKey: true }).as === "key", "US letters go as keys");
  check(k("q", "KeyA").as === "text" && k("é", "Digit2").as === "text", "non-US characters go as text");
  check(k("Enter", "Enter").as === "key" && k("c", "KeyC", { ctrlKey: true }).as === "key", "non-printing and Ctrl go as keys");
  check(k("Dead", "BracketLeft").as === "none", "dead keys wait for the composition");
  const events = [
    encode.pointerTo(0, 0),
    encode.pointerTo(1, 1),
    encode.pointerTo(fx, fy),
    encode.pointerBy(-5, 7),
    encode.button(1, true),
    encode.button(1, false),
    encode.button(3, true),
    encode.wheel(0, Math.trunc(wheelUnits(100, 0))),
    encode.wheel(Math.trunc(wheelUnits(-1, 1)), Math.trunc(wheelUnits(1, 2))),
    encode.key("ShiftLeft", true),
    encode.key("KeyA", true),
    encode.key("KeyA", false),
    encode.key("ShiftLeft", false),
    encode.text("héllo ✓"),
    encode.heartbeat(2, 0b101),
    encode.releaseAll(),
  ];
  for (const e of events) await s.write(e);
  await s.close();
  check((await s.read()) === null, "the input stream ends cleanly");
  log("input: events sent");
}

async function fileOps() {
  const size = 3 * 1024 * 1024 + 17;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 11)) & 0xff;
  let last = 0;
  const sent = await files.put(session, "up.bin", new Blob([data]), { progress: (n) => (last = n) });
  check(sent === size && last === size, `put sent ${sent}, progress ${last}`);
  const entries = await files.list(session, ".");
  const names = entries.map((e) => `${e.name}:${e.type}:${e.size}`).sort().join(",");
  check(names === `dir:dir:${entries.find((e) => e.name === "dir").size},seed.txt:file:11,up.bin:file:${size}`, `list: ${names}`);
  const blob = await files.get(session, "seed.txt");
  check((await blob.text()) === "hello files", "get seed.txt");
  const back = new Uint8Array(await (await files.get(session, "up.bin")).arrayBuffer());
  check(back.length === size && back.every((x, i) => x === data[i]), "get up.bin round trip");
  try {
    await files.get(session, "../outside.txt");
    check(false, "a path outside the root was served");
  } catch (e) {
    check(e instanceof files.FileError && (e.code === "outside_root" || e.code === "bad_request"), `outside root: ${e.code} ${e.message}`);
  }
  try {
    await files.get(session, "missing.txt");
    check(false, "a missing file was served");
  } catch (e) {
    check(e.code === "not_found", `missing: ${e.code} ${e.message}`);
  }
  log("files: put, list, get, refusals");
}

async function main() {
  await input();
  await fileOps();
  session.close();
  process.stdin.destroy();
}

main().catch((e) => {
  log("FAIL", e && e.stack ? e.stack : e);
  process.exit(1);
});
