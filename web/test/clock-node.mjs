// Checks src/latency.js against pictures and values web/control_test.go generated with
// internal/xpattern/pattern (argv[2]: a JSON file). The exit code is the verdict.

import fs from "node:fs";
import { decodeClock, clockDelay, median, LatencyMeter, CLOCK_COLS, CLOCK_ROWS, MAX_PLAUSIBLE_MS } from "../src/latency.js";

const log = (...a) => process.stderr.write(`clock-node: ${a.join(" ")}\n`);
function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
}

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
check(spec.cols === CLOCK_COLS && spec.rows === CLOCK_ROWS, `layout ${spec.cols}×${spec.rows}`);
for (const p of spec.pictures) {
  const px = new Uint8ClampedArray(Buffer.from(p.rgba, "base64"));
  const got = decodeClock(px, p.width, p.height);
  check(got === p.want, `${p.width}×${p.height} (${p.name}): read ${got}, want ${p.want}`);
}
check(decodeClock(new Uint8ClampedArray(4), 12, 4) === -1, "a short buffer reads -1");
for (const d of spec.delays) {
  const got = clockDelay(d.now, d.shown);
  check(got === d.want, `clockDelay(${d.now}, ${d.shown}) = ${got}, want ${d.want}`);
}
check(median([5, 1, 3]) === 3 && median([4, 1, 3, 2]) === 2 && median([]) === null, "median");

// The meter's bookkeeping: the median of the last 30 plausible frames; none while misreads
// are the majority (no clock on screen).
const st = {};
const m = new LatencyMeter({}, st);
m.reset();
for (let i = 0; i < 40; i++) m.add(100 + (i % 10));
check(st.medianMs === 104 && st.frames === 40 && st.bad === 0, `meter ${JSON.stringify(st)}`);
for (let i = 0; i < 14; i++) m.add(MAX_PLAUSIBLE_MS + 1 + i * 1e9);
check(st.medianMs >= 100 && st.medianMs <= 109 && st.bad === 14, `meter with misreads ${JSON.stringify(st)}`);
for (let i = 0; i < 2; i++) m.add(2 ** 47);
check(st.medianMs === null, `meter without a clock ${JSON.stringify(st)}`);
log(`${spec.pictures.length} pictures, ${spec.delays.length} delays`);
