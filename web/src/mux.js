// The stream-open protocol of mux/proto.go (docs/tunnel.md): every yamux stream starts with
// a request [version=1][kind][u16 payload length][payload] from its opener and a reply
// [version=1][status][u16 message length][message] from the other end. Only then does the
// stream carry the kind's own bytes.

import { YamuxError } from "./yamux.js";

export const VERSION = 1;
export const MAX_PAYLOAD = 512;

/** Stream kinds; numbers are mux.Kind's wire values. */
export const Kind = Object.freeze({
  tcp: 1,
  listen: 2,
  reverse: 3,
  input: 4,
  control: 5,
  clipboard: 6,
  filePut: 7,
  fileGet: 8,
  lane: 9,
  grants: 10,
});

/** Reply statuses; numbers are mux.Status's wire values. */
export const Status = Object.freeze({
  ok: 0,
  notAllowed: 1,
  tooManyStreams: 2,
  connRefused: 3,
  unreachable: 4,
  unsupported: 5,
  badRequest: 6,
  listenFailed: 7,
});
const STATUS_NAMES = ["ok", "not_allowed", "too_many_streams", "conn_refused", "unreachable", "unsupported", "bad_request", "listen_failed"];

/** OpenError is a refused open: code is the status name ("not_allowed", …), status the number,
 * message the host's explanation. */
export class OpenError extends Error {
  constructor(status, message) {
    const name = STATUS_NAMES[status] || `status_${status}`;
    super(message ? `${name.replace(/_/g, " ")}: ${message}` : name.replace(/_/g, " "));
    this.code = name;
    this.status = status;
    this.hostMessage = message;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function frame(code, payload) {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`mux: payload of ${payload.length} bytes, the limit is ${MAX_PAYLOAD}`);
  const b = new Uint8Array(4 + payload.length);
  b[0] = VERSION;
  b[1] = code;
  b[2] = payload.length >> 8;
  b[3] = payload.length & 0xff;
  b.set(payload, 4);
  return b;
}

/** encodeRequest builds an open request; payload is bytes or text. */
export function encodeRequest(kind, payload = new Uint8Array(0)) {
  return frame(kind, typeof payload === "string" ? enc.encode(payload) : payload);
}

export function encodeReply(status, message = "") {
  let m = enc.encode(message);
  if (m.length > MAX_PAYLOAD) m = m.subarray(0, MAX_PAYLOAD); // only an explanation
  return frame(status, m);
}

async function readFrame(stream, what) {
  let h;
  try {
    h = await stream.readExactly(4);
  } catch (e) {
    if (e instanceof YamuxError && e.code === "eof") throw new YamuxError("protocol", `mux: the stream ended before the ${what}`);
    throw e;
  }
  if (h[0] !== VERSION) throw new YamuxError("protocol", `tunnel: ${what} version ${h[0]}, this page speaks ${VERSION}`);
  const n = (h[2] << 8) | h[3];
  if (n > MAX_PAYLOAD) throw new YamuxError("protocol", `tunnel: ${what} of ${n} bytes, the limit is ${MAX_PAYLOAD}`);
  return { code: h[1], payload: n ? await stream.readExactly(n) : new Uint8Array(0) };
}

/** readReply reads the reply to an open request. */
export async function readReply(stream) {
  const { code, payload } = await readFrame(stream, "reply");
  let message;
  try {
    message = dec.decode(payload);
  } catch {
    throw new YamuxError("protocol", "tunnel: reply message is not UTF-8");
  }
  return { status: code, message };
}

/** readRequest reads the request a stream the host opened starts with. */
export async function readRequest(stream) {
  const { code, payload } = await readFrame(stream, "request");
  return { kind: code, payload };
}

/** openStream opens a stream of kind on session and waits for the host's reply. It resolves
 * with the stream, ready for the kind's bytes, or rejects with an OpenError (the stream is
 * closed) or a YamuxError. */
export async function openStream(session, kind, payload = new Uint8Array(0)) {
  const req = encodeRequest(kind, payload);
  const s = session.open();
  try {
    await s.write(req);
    const r = await readReply(s);
    if (r.status !== Status.ok) {
      s.close().catch(() => {});
      throw new OpenError(r.status, r.message);
    }
    s.replyMessage = r.message;
    return s;
  } catch (e) {
    if (!(e instanceof OpenError)) s.reset();
    throw e;
  }
}

/** streamHandler returns an onStream callback for streams the host opens: it reads the request
 * and passes (stream, payload) to handlers[kind], which must write the reply (encodeReply). A
 * kind without a handler is answered `unsupported`. */
export function streamHandler(handlers) {
  return async (stream) => {
    let req;
    try {
      req = await readRequest(stream);
    } catch {
      stream.reset();
      return;
    }
    const h = handlers[req.kind];
    if (!h) {
      await stream.write(encodeReply(Status.unsupported, `this browser does not handle kind ${req.kind} streams`)).catch(() => {});
      stream.close().catch(() => {});
      return;
    }
    try {
      await h(stream, req.payload);
    } catch {
      stream.reset();
    }
  };
}
