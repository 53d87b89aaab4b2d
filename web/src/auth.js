// The viewer side of deskport's authentication handshake (docs/auth.md), byte-compatible with
// the Go package auth. It runs on any message channel {send(text), recv() → Promise<text>}: the
// `auth` data channel in the browser, stdin/stdout in the Node interop test.

import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { concat, equalBytes, fromBase64, lv, toBase64, utf8 } from "./bytes.js";
import { CPaceError, respond } from "./cpace.js";
import { authorizedLine, fingerprint, hostIdOf } from "./keys.js";
import { BUNDLE_VERSION } from "./signaling.js";

export const VERSION = 1;
export const MAX_MESSAGE = 4096;
const DOMAIN = "deskport-auth-v1";
const CTX_HOST_SIG = DOMAIN + " host signature";
const CTX_VIEWER_SIG = DOMAIN + " viewer signature";
const INFO_VIEWER_MAC = DOMAIN + " viewer confirmation";
const INFO_HOST_MAC = DOMAIN + " host confirmation";

export const CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
export const CODE_LEN = 8;

// AuthError carries a code a program can switch on and a message that tells a person what to do.
// Codes: the host's refusals (unauthorized, bad_code, code_expired, no_code, version, protocol),
// host_mismatch, bad_code_format (a typo caught locally; the host's code is not used up) and
// closed (the channel went away).
export class AuthError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = "AuthError";
    this.code = code;
    Object.assign(this, extra);
  }
}

export const normalizeCode = (s) => String(s).replace(/[ \t-]/g, "").replace(/[a-z]/g, (c) => c.toUpperCase());

export const validCode = (c) => c.length === CODE_LEN && [...c].every((x) => CODE_ALPHABET.includes(x));

// transcript accumulates lv(label) || lv(value) pairs; sum is SHA-512 of everything so far.
class Transcript {
  constructor(b, method) {
    this.parts = [];
    this.add("domain", utf8(DOMAIN));
    this.add("host_cert", b.hostCert);
    this.add("viewer_cert", b.viewerCert);
    this.add("host_id", utf8(b.hostId));
    this.add("method", utf8(method));
  }
  add(label, value) {
    this.parts.push(lv(utf8(label)), lv(value || new Uint8Array(0)));
  }
  sum() {
    return sha512(concat(...this.parts));
  }
}

const signed = (ctx, th) => concat(lv(utf8(ctx)), lv(th));

const channelId = (b) => concat(lv(utf8(DOMAIN)), lv(b.hostCert), lv(b.viewerCert), lv(utf8(b.hostId)));

const confirmMac = (isk, info, th) => hmac(sha512, hkdf(sha512, isk, undefined, utf8(info), 64), th);

const protocolError = (why) => new AuthError("protocol", "auth: protocol error: " + why);

// decode parses one host message strictly: version first (leniently), then exactly the fields
// the type allows, binary fields with their exact lengths.
const FIELDS = {
  host_auth: { host_key: 32, nonce: 32, ya: 32, sig: 64 },
  result: { ok: "bool", options: "object", mac: 64, code: "string", message: "string" },
};

function decode(text) {
  if (typeof text !== "string" || utf8(text).length > MAX_MESSAGE) throw protocolError(`message larger than ${MAX_MESSAGE} bytes`);
  let m;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw protocolError("not a JSON object");
  }
  if (m === null || typeof m !== "object" || Array.isArray(m)) throw protocolError("not a JSON object");
  if (typeof m.v !== "number") throw protocolError("message has no version field");
  if (m.v !== VERSION) {
    throw new AuthError("version", `auth: the host speaks handshake version ${m.v}, this page speaks ${VERSION}; update deskport so that viewer and host speak the same version`);
  }
  const fields = FIELDS[m.type];
  if (!fields) throw protocolError(`unexpected message type ${JSON.stringify(m.type)}`);
  const out = { type: m.type };
  for (const [k, val] of Object.entries(m)) {
    if (k === "v" || k === "type") continue;
    const want = fields[k];
    if (want === undefined) throw protocolError(`unknown field ${JSON.stringify(k)}`);
    if (val === null) continue; // Go's decoder leaves a field untouched for null
    if (typeof want === "number") {
      let b;
      try {
        b = fromBase64(val);
      } catch {
        throw protocolError(`${k} is not base64`);
      }
      if (b.length !== want) throw protocolError(`${k} is ${b.length} bytes, want ${want}`);
      out[k] = b;
    } else if (want === "bool" ? typeof val !== "boolean" : want === "object" ? typeof val !== "object" || Array.isArray(val) : typeof val !== want) {
      throw protocolError(`${k} has the wrong type`);
    } else {
      out[k] = val;
    }
  }
  return out;
}

const OPTION_BOOLS = ["no_port_forwarding", "view_only", "no_files", "no_clipboard"];

function checkResult(m) {
  if (m.ok) {
    if (m.code || m.message) throw protocolError("refusal fields in an ok result");
    const o = m.options || {};
    for (const [k, val] of Object.entries(o)) {
      if (k === "permit_open" || k === "permit_listen") {
        if (val === null) continue;
        if (!Array.isArray(val) || val.length > 64 || val.some((x) => typeof x !== "string" || utf8(x).length > 255)) {
          throw protocolError(`bad ${k} list`);
        }
      } else if (OPTION_BOOLS.includes(k)) {
        if (typeof val !== "boolean") throw protocolError(`${k} has the wrong type`);
      } else {
        throw protocolError(`unknown option ${JSON.stringify(k)}`);
      }
    }
    return;
  }
  if (m.options !== undefined || m.mac !== undefined) throw protocolError("grant fields in a refusal");
  if (!["unauthorized", "bad_code", "code_expired", "no_code", "version", "protocol"].includes(m.code)) {
    throw protocolError(`unknown refusal code ${JSON.stringify(m.code)}`);
  }
  if (m.message !== undefined && utf8(m.message).length > 256) throw protocolError("message longer than 256 bytes");
}

// verifyHostSig checks the host's Ed25519 signature with the browser's own Ed25519 (WebCrypto)
// where it has one, else with noble (strict RFC 8032, as Go's crypto/ed25519). noble's first
// verify builds its tables: ~50 ms of JavaScript on the page's path to the first frame, against
// well under a millisecond in WebCrypto. hostKey is already tied to the host ID (hostIdOf), so
// the two verifiers' differences on crafted keys cannot matter here.
/**
 * @param {Uint8Array} sig
 * @param {Uint8Array} msg
 * @param {Uint8Array} hostKey
 * @returns {Promise<boolean>}
 */
export async function verifyHostSig(sig, msg, hostKey) {
  if (sig.length !== 64 || hostKey.length !== 32) return false;
  let pub = null;
  try {
    pub = await crypto.subtle.importKey("raw", new Uint8Array(hostKey), { name: "Ed25519" }, false, ["verify"]);
  } catch {
    // No Ed25519 in this browser's WebCrypto (or a key it refuses): noble decides.
  }
  if (pub) {
    try {
      return await crypto.subtle.verify({ name: "Ed25519" }, pub, new Uint8Array(sig), new Uint8Array(msg));
    } catch {
      return false;
    }
  }
  try {
    return ed25519.verify(sig, msg, hostKey, { zip215: false });
  } catch {
    return false;
  }
}

// runViewer runs the handshake as the viewer.
//
//   ch:      {send(text), recv() → Promise<text>}
//   binding: {hostCert, viewerCert: Uint8Array(32) (SHA-256 of the DTLS certificates), hostId}
//   opts:    {key: {publicKey, sign(msg) → Promise<sig>} | null, code: string (empty = key method),
//             comment: the authorized_viewers comment to suggest, random(n) for tests}
//
// It resolves to {method, hostKey, options} and rejects with an AuthError.
/**
 * @param {{send: (text: string) => void, recv: () => Promise<string>}} ch
 * @param {{hostCert: Uint8Array, viewerCert: Uint8Array, hostId: string}} binding
 * @param {{key?: {publicKey: Uint8Array, sign: (msg: Uint8Array) => Promise<Uint8Array>} | null,
 *   code?: string, comment?: string, random?: (n: number) => Uint8Array}} [opts]
 */
export async function runViewer(ch, binding, { key = null, code = "", comment = "", random } = {}) {
  const rand = random || ((n) => crypto.getRandomValues(new Uint8Array(n)));
  const pub = key ? key.publicKey : null;
  let method;
  let normCode = "";
  if (!code) {
    if (!key) throw new AuthError("protocol", "auth: no viewer key and no one-time code: the viewer needs one of them");
    method = "key";
  } else {
    normCode = normalizeCode(code);
    if (!validCode(normCode)) {
      throw new AuthError("bad_code_format", `"${code}" is not a one-time code: a code has ${CODE_LEN} characters from A-Z and 2-9 (no I, O, 0 or 1), like ABCD-EFGH; check it and try again (it has not been used up)`);
    }
    method = "code";
  }

  const send = (m) => {
    const text = JSON.stringify({ v: VERSION, ...m });
    if (utf8(text).length > MAX_MESSAGE) throw protocolError("outgoing message over the limit");
    ch.send(text);
  };
  const abort = (code, err) => {
    try {
      send({ type: "abort", code });
    } catch {
      // the channel is gone; the error says enough
    }
    return err;
  };
  const recv = async (what) => {
    try {
      return await ch.recv();
    } catch (e) {
      throw new AuthError("closed", `auth: the connection closed while waiting for the host's ${what}`);
    }
  };
  // fail sends the abort that matches a decoding error and returns it.
  const fail = (err) => {
    if (err instanceof AuthError && (err.code === "protocol" || err.code === "version")) return abort(err.code, err);
    return err;
  };
  const refused = (m) => refusal(m, method, pub, comment);

  const nonce = rand(32);
  const hello = { type: "hello", method, nonce: toBase64(nonce), client: BUNDLE_VERSION };
  if (pub) hello.viewer_key = toBase64(pub);
  send(hello);

  let ha;
  let refusedFirst = null;
  try {
    const m = decode(await recv("answer"));
    if (m.type === "result") {
      checkResult(m);
      if (m.ok) throw protocolError("the host accepted before authenticating");
      refusedFirst = m;
    }
    ha = m;
    if (!refusedFirst) {
      for (const f of ["host_key", "nonce", "sig"]) if (!ha[f]) throw protocolError(`host_auth without ${f}`);
      if (method === "code" && !ha.ya) throw protocolError("host_auth without ya");
      if (method === "key" && ha.ya) throw protocolError("ya in a key-method handshake");
    }
  } catch (e) {
    throw fail(e);
  }
  if (refusedFirst) throw refused(refusedFirst);

  const hostKey = ha.host_key;
  const gotId = hostIdOf(hostKey);
  if (gotId !== binding.hostId) {
    throw abort("host_mismatch", new AuthError("host_mismatch",
      `auth: the host answered with key ${fingerprint(hostKey)}, whose host ID is ${gotId}, not ${binding.hostId} as asked: the connection may be intercepted (man in the middle); do not continue, and check the host ID with the host owner`));
  }
  const tr = new Transcript(binding, method);
  tr.add("viewer_key", pub);
  tr.add("viewer_nonce", nonce);
  tr.add("host_key", hostKey);
  tr.add("host_nonce", ha.nonce);
  if (method === "code") tr.add("ya", ha.ya);
  const sigOK = await verifyHostSig(ha.sig, signed(CTX_HOST_SIG, tr.sum()), hostKey);
  if (!sigOK) {
    throw abort("host_mismatch", new AuthError("host_mismatch",
      `auth: host ${binding.hostId} did not prove its key over this connection: its signature does not cover the DTLS certificates this viewer sees, so someone may be relaying the connection (man in the middle); do not continue, and report it to the host owner`));
  }
  tr.add("host_sig", ha.sig);

  if (method === "key") {
    const sig = await key.sign(signed(CTX_VIEWER_SIG, tr.sum()));
    send({ type: "viewer_auth", sig: toBase64(sig) });
    const res = await readResult(recv, refused, method);
    if (res.mac) throw protocolError("the host sent a key confirmation in a key-method handshake");
    return { method, hostKey, options: res.options || {} };
  }

  const sid = concat(nonce, ha.nonce);
  let yb, isk;
  try {
    ({ yb, isk } = respond(utf8(normCode), channelId(binding), sid, ha.ya, hostKey, pub || new Uint8Array(0)));
  } catch (e) {
    if (e instanceof CPaceError) throw abort("protocol", protocolError("the host's CPace share is invalid"));
    throw e;
  }
  tr.add("yb", yb);
  let sig = null;
  if (key) sig = await key.sign(signed(CTX_VIEWER_SIG, tr.sum()));
  tr.add("viewer_sig", sig);
  const mac = confirmMac(isk, INFO_VIEWER_MAC, tr.sum());
  const confirm = { type: "confirm", yb: toBase64(yb), mac: toBase64(mac) };
  if (sig) confirm.sig = toBase64(sig);
  send(confirm);
  const res = await readResult(recv, refused, method);
  tr.add("viewer_mac", mac);
  if (!equalBytes(confirmMac(isk, INFO_HOST_MAC, tr.sum()), res.mac)) {
    throw protocolError("the host's key confirmation does not match although it accepted the code; do not continue");
  }
  return { method, hostKey, options: res.options || {} };
}

async function readResult(recv, refused, method) {
  const m = decode(await recv("result"));
  if (m.type !== "result") throw protocolError(`got a ${JSON.stringify(m.type)} message, want "result"`);
  checkResult(m);
  if (!m.ok) throw refused(m);
  if (method === "code" && !m.mac) throw protocolError("the host accepted without confirming the code");
  return m;
}

// refusal turns the host's refusal code into an error that says what to do.
function refusal(m, method, pub, comment) {
  switch (m.code) {
    case "unauthorized": {
      if (!pub) return new AuthError("unauthorized", "auth: the host refused this viewer");
      const line = authorizedLine(pub, comment);
      return new AuthError("unauthorized",
        `auth: host refused viewer key ${fingerprint(pub)}: it is not in the host's authorized_viewers file; give the host owner this line to add: ${line}`,
        { authorizedLine: line });
    }
    case "bad_code":
      return new AuthError("bad_code", "auth: the one-time code was wrong and is now used up; ask the host owner for a new code");
    case "code_expired":
      return new AuthError("code_expired", "auth: the one-time code has expired (codes last a few minutes) and is now used up; ask the host owner for a new code");
    case "no_code":
      return method === "code"
        ? new AuthError("no_code", "auth: the host is not accepting a one-time code right now (it shows none, or the code was already used); ask the host owner for a new code, or connect with a trusted key")
        : new AuthError("no_code", "auth: the host has no one-time code");
    case "version":
      return new AuthError("version", `auth: the host does not speak handshake version ${VERSION}; update deskport so that viewer and host speak the same version`);
  }
  return new AuthError("protocol", `auth: the host rejected the handshake as malformed (host said ${JSON.stringify(m.message || "")}); check that viewer and host run compatible deskport versions`);
}
