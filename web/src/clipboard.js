// Clipboard sync with the host over a mux.KindClipboard stream on the interactive session.
//
// Wire format (clipboard/proto.go): open payload [version=1], then messages
// [type u8][length u32 big-endian][body]: set (1, page→host, UTF-8 text), update (2, host→page,
// UTF-8 text), error (3, host→page, why a set was refused), ack (4, host→page, empty).
//
// The browser only lets a page read the clipboard after the person allows it, so nothing is
// synced until they press "Sync clipboard" (a user gesture: the permission prompt appears then).
// Local text is pushed when the page regains focus and on paste; host text is written with
// navigator.clipboard.writeText, which needs the page focused.

import { Kind, openStream } from "./mux.js";

export const VERSION = 1;
export const MAX_TEXT = 1 << 20; // 1 MiB of UTF-8 each way

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export const MSG_SET = 1;
export const MSG_UPDATE = 2;
export const MSG_ERROR = 3;
export const MSG_ACK = 4;

export function encodeFrame(text, type = MSG_SET) {
  const t = enc.encode(text);
  const b = new Uint8Array(5 + t.length);
  b[0] = type;
  new DataView(b.buffer).setUint32(1, t.length);
  b.set(t, 5);
  return b;
}

// readFrame returns the next host text (an update), or null at the end of the stream; acks are
// skipped and a refusal becomes an error message on the state.
async function readMessage(stream) {
  const first = await stream.read(5);
  if (first === null) return null;
  const h = first.length === 5 ? first : new Uint8Array([...first, ...(await stream.readExactly(5 - first.length))]);
  const type = h[0];
  const n = new DataView(h.buffer, h.byteOffset, 5).getUint32(1);
  if (n > MAX_TEXT) throw new Error(`clipboard message of ${n} bytes from the host, the limit is ${MAX_TEXT}`);
  const body = n > 0 ? await stream.readExactly(n) : new Uint8Array(0);
  return { type, text: dec.decode(body) };
}

// ClipboardSync keeps state (window.deskport.clipboard) current for the page and tests:
// {enabled, state: "off"|"starting"|"on"|"denied"|"unavailable"|"error", message, sent,
// received, lastSent, lastReceived}.
export class ClipboardSync {
  /** @param {{state: object, onChange?: (state: object) => void}} opts */
  constructor({ state, onChange = () => {} }) {
    this.state = state;
    this.onChange = onChange;
    this.stream = null;
    this.session = null;
  }

  set(st, message = "") {
    this.state.state = st;
    this.state.message = message;
    this.onChange(this.state);
  }

  // enable must run inside a click handler: the permission prompt needs the gesture.
  async enable(session) {
    this.session = session;
    this.state.enabled = true;
    this.set("starting");
    let text = null;
    try {
      text = await navigator.clipboard.readText();
    } catch (e) {
      this.state.enabled = false;
      this.set("denied", `the browser refused clipboard access (${e.name || e}); allow it in the site settings and press Sync clipboard again`);
      return;
    }
    await this.connect();
    if (text !== null) await this.push(text);
  }

  async connect() {
    if (!this.session) return;
    try {
      this.stream = await openStream(this.session, Kind.clipboard, new Uint8Array([VERSION]));
    } catch (e) {
      this.stream = null;
      this.set(e.code === "unsupported" || e.code === "not_allowed" ? "unavailable" : "error", e.message);
      return;
    }
    this.set("on");
    this.readLoop(this.stream);
  }

  async readLoop(stream) {
    try {
      for (;;) {
        const m = await readMessage(stream);
        if (m === null) break;
        if (m.type === MSG_ACK) continue;
        if (m.type === MSG_ERROR) {
          this.set("on", `the host refused the clipboard text: ${m.text}`);
          continue;
        }
        if (m.type !== MSG_UPDATE) continue;
        const text = m.text;
        this.state.received++;
        this.state.lastReceived = text;
        this.lastSeen = text; // do not echo it back
        try {
          await navigator.clipboard.writeText(text);
          this.set("on");
        } catch (e) {
          this.set("on", `host clipboard received, but the browser refused to write it (${e.name || e}); focus the page`);
        }
      }
      if (this.stream === stream) this.set("off", "the host closed the clipboard stream");
    } catch (e) {
      if (this.stream === stream) this.set("error", e.message || String(e));
    }
    if (this.stream === stream) this.stream = null;
  }

  // push sends text if it changed since the last sync.
  async push(text) {
    if (!this.stream || typeof text !== "string" || text === this.lastSeen) return;
    if (enc.encode(text).length > MAX_TEXT) {
      this.set("on", `the local clipboard is over ${MAX_TEXT} bytes and was not sent`);
      return;
    }
    this.lastSeen = text;
    try {
      await this.stream.write(encodeFrame(text));
      this.state.sent++;
      this.state.lastSent = text;
      this.set("on");
    } catch (e) {
      this.set("error", e.message || String(e));
    }
  }

  // refresh reads the local clipboard (on focus) and pushes it.
  async refresh() {
    if (!this.state.enabled || !this.stream) return;
    try {
      await this.push(await navigator.clipboard.readText());
    } catch {
      // not focused or permission withdrawn: try again on the next focus
    }
  }

  stop() {
    if (this.stream) this.stream.reset();
    this.stream = null;
    this.session = null;
    this.state.enabled = false;
    this.set("off");
  }
}
