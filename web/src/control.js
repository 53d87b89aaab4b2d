// The control stream (desktopctl/desktopctl.go, docs/protocol.md section 2): one mux.KindControl
// stream on the interactive session, open payload [1]; messages are [u16 big-endian length]
// [JSON object], at most 4096 bytes. The host sends `hello` (its monitors) first, then `stats`
// once a second, and `error` when it refuses a request; the page sends `keyframe`, `quality`
// and `monitor`. The host's JSON decoding is strict (unknown fields, out-of-range values end
// the stream), so the page only ever sends the fields below.

import { Kind, openStream } from "./mux.js";

export const VERSION = 1;
export const MAX_MESSAGE = 4096;
export const PRESETS = Object.freeze(["low", "balanced", "high"]);

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** encodeMessage frames one message as control.Write does. */
export function encodeMessage(m) {
  const body = enc.encode(JSON.stringify(m));
  if (body.length > MAX_MESSAGE) throw new RangeError(`control: message of ${body.length} bytes, the limit is ${MAX_MESSAGE}`);
  const b = new Uint8Array(2 + body.length);
  b[0] = body.length >> 8;
  b[1] = body.length & 0xff;
  b.set(body, 2);
  return b;
}

/** The requests the page may send; each throws a RangeError on a value the host would refuse. */
export const request = {
  keyframe: () => ({ type: "keyframe" }),
  preset(preset) {
    if (!PRESETS.includes(preset)) throw new RangeError(`control: unknown preset ${preset} (low, balanced, high)`);
    return { type: "quality", preset };
  },
  caps(fps, maxBitrate) {
    const m = { type: "quality" };
    if (fps) {
      if (!Number.isInteger(fps) || fps < 1 || fps > 120) throw new RangeError(`control: fps ${fps} outside 1..120`);
      m.fps = fps;
    }
    if (maxBitrate) {
      if (!Number.isInteger(maxBitrate) || maxBitrate < 100_000 || maxBitrate > 100_000_000) throw new RangeError(`control: maxBitrate ${maxBitrate} outside 100k..100M`);
      m.maxBitrate = maxBitrate;
    }
    return m;
  },
  monitor(index) {
    if (!Number.isInteger(index) || index < -1 || index > 64) throw new RangeError(`control: monitor ${index} outside -1..64`);
    return { type: "monitor", monitor: index };
  },
};

/** readMessage reads one message, or null when the host ended the stream between messages. */
export async function readMessage(stream) {
  const first = await stream.read(2);
  if (first === null) return null;
  const h = first.length === 2 ? first : new Uint8Array([first[0], ...(await stream.readExactly(1))]);
  const n = (h[0] << 8) | h[1];
  if (n > MAX_MESSAGE) throw new Error(`control: message of ${n} bytes from the host, the limit is ${MAX_MESSAGE}`);
  const m = JSON.parse(dec.decode(await stream.readExactly(n)));
  if (m === null || typeof m !== "object" || Array.isArray(m) || typeof m.type !== "string") throw new Error("control: a message from the host without a type");
  return m;
}

/** parseMonitors keeps the well-formed entries of hello.monitors. */
export function parseMonitors(list) {
  if (!Array.isArray(list)) return [];
  return list
    .filter((m) => m && Number.isInteger(m.index) && m.index >= 0 && m.index <= 64)
    .map((m) => ({ index: m.index, name: typeof m.name === "string" ? m.name : "", width: m.width | 0, height: m.height | 0 }));
}

/** ControlClient opens the control stream on a yamux session (yamux.js) and reads the host's
 * messages until the stream ends: onMessage(m) for each, onEnd(error|null) once. open rejects
 * with the OpenError of a refused open (code "not_allowed", "unsupported", …). */
export class ControlClient {
  /** @param {{onMessage?: (m: object) => void, onEnd?: (err: Error | null) => void}} [opts] */
  constructor({ onMessage = () => {}, onEnd = () => {} } = {}) {
    this.onMessage = onMessage;
    this.onEnd = onEnd;
    this.stream = null;
    this.closed = false;
  }

  async open(session) {
    this.stream = await openStream(session, Kind.control, new Uint8Array([VERSION]));
    this.loop();
    return this;
  }

  async loop() {
    let err = null;
    try {
      for (;;) {
        const m = await readMessage(this.stream);
        if (m === null) {
          this.stream.close().catch(() => {});
          break;
        }
        if (this.closed) break;
        this.onMessage(m);
      }
    } catch (e) {
      err = this.closed ? null : e;
      if (err) this.stream.reset();
    }
    this.closed = true;
    this.onEnd(err);
  }

  send(m) {
    if (this.closed || !this.stream) return Promise.reject(new Error("control: the stream is closed"));
    return this.stream.write(encodeMessage(m));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.stream) this.stream.reset();
  }
}
