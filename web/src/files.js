// File copy in the format of the files package (files/proto.go, docs/files.md). The request
// header travels in the stream open payload: [version=1][op][flags][mode u32][size u64]
// [path length u16][path]; put uses a mux.KindFilePut stream, get and list
// mux.KindFileGet. After the open reply the stream carries frames [type u8][length u32]
// [body]: data (1), done (2: SHA-256 of all file bytes), abort (3: UTF-8 reason), status
// (4: [code u8][arg u64][text]) and listing entry (5: [type u8][perm u16][size u64]
// [mtime i64 ns][name]).

import { sha256 } from "@noble/hashes/sha2.js";
import { Kind, openStream } from "./mux.js";

export const VERSION = 1;
export const Op = Object.freeze({ put: 1, get: 2, list: 3 });
const HEADER_FIXED = 17;
export const MAX_PATH = 512 - HEADER_FIXED;
export const CHUNK = 256 << 10;
const MAX_CHUNK = 1 << 20;
const MAX_TEXT = 4096;
const MAX_NAME = 1024;
const MAX_ENTRIES = 100000;
const F_DATA = 1;
const F_DONE = 2;
const F_ABORT = 3;
const F_STATUS = 4;
const F_ENTRY = 5;

export const CODE_NAMES = ["ok", "bad_request", "not_found", "outside_root", "too_large", "exists", "checksum", "io", "aborted", "not_regular", "denied"];
const CODE_IO = 7;
const CODE_CHECKSUM = 6;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** FileError carries the host's status: code is a CODE_NAMES entry. */
export class FileError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export function encodeHeader({ op, flags = 0, mode = 0, size = 0, path }) {
  const p = enc.encode(path);
  if (!p.length || p.length > MAX_PATH) throw new FileError("bad_request", `the path must be 1..${MAX_PATH} bytes`);
  const b = new Uint8Array(HEADER_FIXED + p.length);
  const d = new DataView(b.buffer);
  b[0] = VERSION;
  b[1] = op;
  b[2] = flags;
  d.setUint32(3, mode);
  d.setBigUint64(7, BigInt(size));
  d.setUint16(15, p.length);
  b.set(p, HEADER_FIXED);
  return b;
}

function frame(type, body) {
  const b = new Uint8Array(5 + body.length);
  b[0] = type;
  new DataView(b.buffer).setUint32(1, body.length);
  b.set(body, 5);
  return b;
}

function statusFrame(code, arg, text = "") {
  const t = enc.encode(text).subarray(0, MAX_TEXT);
  const b = new Uint8Array(9 + t.length);
  b[0] = code;
  new DataView(b.buffer).setBigUint64(1, BigInt(arg));
  b.set(t, 9);
  return frame(F_STATUS, b);
}

const LIMITS = { [F_DATA]: [1, MAX_CHUNK], [F_DONE]: [32, 32], [F_ABORT]: [0, MAX_TEXT], [F_STATUS]: [9, 9 + MAX_TEXT], [F_ENTRY]: [20, 19 + MAX_NAME] };

async function readFrame(stream) {
  const first = await stream.read(1);
  if (first === null) throw new FileError("aborted", "the stream ended early (the connection to the host was lost or the host stopped)");
  const rest = await stream.readExactly(4);
  const type = first[0];
  const n = new DataView(rest.buffer, rest.byteOffset, 4).getUint32(0);
  const lim = LIMITS[type];
  if (!lim) throw new FileError("bad_request", `unknown frame type ${type}`);
  if (n < lim[0] || n > lim[1]) throw new FileError("bad_request", `frame type ${type} of ${n} bytes`);
  return { type, body: await stream.readExactly(n) };
}

function decodeStatus(b) {
  const code = b[0];
  if (code >= CODE_NAMES.length) throw new FileError("bad_request", `unknown status code ${code}`);
  const arg = Number(new DataView(b.buffer, b.byteOffset, b.length).getBigUint64(1));
  let text = "";
  try {
    text = dec.decode(b.subarray(9));
  } catch {
    throw new FileError("bad_request", "status text is not UTF-8");
  }
  return { code, arg, text };
}

async function readStatus(stream) {
  const { type, body } = await readFrame(stream);
  if (type !== F_STATUS) throw new FileError("bad_request", `expected a status, got frame type ${type}`);
  const st = decodeStatus(body);
  if (st.code !== 0) throw new FileError(CODE_NAMES[st.code], st.text || CODE_NAMES[st.code].replace(/_/g, " "));
  return st;
}

const ENTRY_TYPES = ["file", "dir", "symlink", "other"];

function decodeEntry(b) {
  const d = new DataView(b.buffer, b.byteOffset, b.length);
  const type = ENTRY_TYPES[b[0]];
  if (!type) throw new FileError("bad_request", `entry type ${b[0]}`);
  const name = dec.decode(b.subarray(19));
  if (name === "." || name === ".." || /[/\0]/.test(name)) throw new FileError("bad_request", `entry name ${JSON.stringify(name)}`);
  return { name, type, perm: d.getUint16(1), size: Number(d.getBigUint64(3)), mtime: new Date(Number(d.getBigInt64(11) / 1000000n)) };
}

async function start(session, h) {
  try {
    return await openStream(session, h.op === Op.put ? Kind.filePut : Kind.fileGet, encodeHeader(h));
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(e.code || "aborted", e.message);
  }
}

/** list resolves with the entries of dir ("." is the file root). */
export async function list(session, dir = ".") {
  const s = await start(session, { op: Op.list, path: dir || "." });
  const out = [];
  try {
    for (;;) {
      const { type, body } = await readFrame(s);
      if (type === F_ENTRY) {
        if (out.length >= MAX_ENTRIES) throw new FileError("bad_request", "too many entries");
        out.push(decodeEntry(body));
      } else if (type === F_STATUS) {
        const st = decodeStatus(body);
        if (st.code !== 0) throw new FileError(CODE_NAMES[st.code], st.text);
        return out;
      } else throw new FileError("bad_request", `unexpected frame type ${type}`);
    }
  } finally {
    s.close().catch(() => {});
  }
}

/** put uploads a File or Blob to path; progress(sent, total) is called as bytes leave.
 * @param {object} session the yamux session (yamux.js)
 * @param {string} path
 * @param {Blob} blob
 * @param {{progress?: (sent: number, total: number) => void, noClobber?: boolean}} [opts]
 * @returns {Promise<number>} the bytes sent */
export async function put(session, path, blob, { progress = () => {}, noClobber = false } = {}) {
  const size = blob.size;
  const s = await start(session, { op: Op.put, flags: noClobber ? 1 : 0, mode: 0o644, size, path });
  let final = null;
  try {
    await readStatus(s); // ready
    // The host may refuse midway (disk full): its status ends the upload at once.
    final = readStatus(s);
    let failed = null;
    final.catch((e) => (failed = e));
    const h = sha256.create();
    progress(0, size);
    let sent = 0;
    while (sent < size) {
      if (failed) throw failed;
      const chunk = new Uint8Array(await blob.slice(sent, Math.min(size, sent + CHUNK)).arrayBuffer());
      if (!chunk.length) throw new FileError("aborted", `the file shrank while being read: got ${sent} of ${size} bytes`);
      h.update(chunk);
      await s.write(frame(F_DATA, chunk));
      sent += chunk.length;
      progress(sent, size);
    }
    await s.write(frame(F_DONE, h.digest()));
    await final;
    return sent;
  } catch (e) {
    if (final) final.catch(() => {});
    s.reset();
    throw e;
  } finally {
    s.close().catch(() => {});
  }
}

/** get downloads path and resolves with a Blob once every byte arrived and the SHA-256
 * matched; progress(received, total).
 * @param {object} session the yamux session (yamux.js)
 * @param {string} path
 * @param {{progress?: (received: number, total: number) => void, maxSize?: number}} [opts]
 * @returns {Promise<Blob>} */
export async function get(session, path, { progress = () => {}, maxSize = 2 ** 31 } = {}) {
  const s = await start(session, { op: Op.get, path });
  try {
    const ready = await readStatus(s);
    const size = ready.arg;
    if (size > maxSize) {
      await s.write(statusFrame(4, 0, `the browser keeps downloads in memory and refuses files over ${maxSize} bytes`));
      throw new FileError("too_large", `${path} has ${size} bytes; the browser downloads at most ${maxSize}`);
    }
    const h = sha256.create();
    const parts = [];
    let n = 0;
    progress(0, size);
    for (;;) {
      const { type, body } = await readFrame(s);
      if (type === F_DATA) {
        if (n + body.length > size) throw new FileError("bad_request", `more data than the announced ${size} bytes`);
        h.update(body);
        parts.push(body);
        n += body.length;
        progress(n, size);
      } else if (type === F_DONE) {
        if (n !== size) throw new FileError("aborted", `the host finished after ${n} of ${size} bytes`);
        const sum = h.digest();
        if (sum.some((x, i) => x !== body[i])) {
          await s.write(statusFrame(CODE_CHECKSUM, 0, "SHA-256 mismatch in the browser"));
          throw new FileError("checksum", "SHA-256 mismatch: the data was corrupted, retry");
        }
        await s.write(statusFrame(0, n));
        return new Blob(parts);
      } else if (type === F_ABORT) {
        throw new FileError("aborted", `the host aborted: ${dec.decode(body)}`);
      } else if (type === F_STATUS) {
        const st = decodeStatus(body);
        throw new FileError(CODE_NAMES[st.code], st.text);
      } else throw new FileError("bad_request", `unexpected frame type ${type} during a transfer`);
    }
  } catch (e) {
    if (!(e instanceof FileError)) s.write(statusFrame(CODE_IO, 0, String(e.message || e))).catch(() => {});
    throw e;
  } finally {
    s.close().catch(() => {});
  }
}
