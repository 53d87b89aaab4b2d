// ICE restarts bound to the authenticated session (docs/session.md, "Moving networks"). The page
// speaks the same protocol as the native viewer: right after authenticating it sends the host,
// on the auth channel (inside DTLS, unseen by the rendezvous), a random restart ID and key; a
// restart offer then carries a session-level line
//   a=x-deskport-restart:<ID, 32 hex> <sequence> <HMAC-SHA256, base64url>
// over "deskport-ice-restart-v1" 0 role 0 || ID || sequence (8 bytes, big-endian) || the
// description without that line, and the host's answer the same with role "answer". Without
// the key the rendezvous cannot point a running session at addresses of its choice.

import { concat, toHex, utf8 } from "./bytes.js";

const MAGIC = "deskport-restart-key-v1\u0000";
const DOMAIN = "deskport-ice-restart-v1";
const ATTR = "x-deskport-restart";
const ID_BYTES = 16;
const KEY_BYTES = 32;

/** @typedef {{id: Uint8Array, key: Uint8Array, hmac: CryptoKey}} RestartKey */

/**
 * newRestartKey makes a restart ID and key (or uses the given bytes, for tests).
 * @param {Uint8Array} [id]
 * @param {Uint8Array} [key]
 * @returns {Promise<RestartKey>}
 */
export async function newRestartKey(id, key) {
  id = id || crypto.getRandomValues(new Uint8Array(ID_BYTES));
  key = key || crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  if (id.length !== ID_BYTES || key.length !== KEY_BYTES) throw new Error("restart: bad ID or key length");
  const hmac = await crypto.subtle.importKey("raw", new Uint8Array(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  return { id, key, hmac };
}

/**
 * keyMessage is what the page sends the host on the auth channel: magic, ID, key.
 * @param {RestartKey} k
 */
export const keyMessage = (k) => concat(utf8(MAGIC), k.id, k.key);

function seqBytes(seq) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(seq));
  return b;
}

function macInput(k, role, seq, sdp) {
  return concat(utf8(DOMAIN + "\u0000" + role + "\u0000"), k.id, seqBytes(seq), utf8(sdp));
}

const b64url = (b) => {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

function fromB64url(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("bad base64url");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64url(out) !== s) throw new Error("non-canonical base64url");
  return out;
}

/**
 * sign adds the restart line to a description, at session level (before the first m= line).
 * @param {RestartKey} k
 * @param {"offer" | "answer"} role
 * @param {number} seq
 * @param {string} sdp
 * @returns {Promise<string>}
 */
export async function sign(k, role, seq, sdp) {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", k.hmac, macInput(k, role, seq, sdp)));
  const line = `a=${ATTR}:${toHex(k.id)} ${seq} ${b64url(mac)}\r\n`;
  const i = sdp.indexOf("\r\nm=");
  return i >= 0 ? sdp.slice(0, i + 2) + line + sdp.slice(i + 2) : sdp + line;
}

/**
 * verify checks the restart line of a description the host sent for role and returns the
 * description without it; it throws when the line is missing, malformed, repeated, made with
 * another key or for another sequence number.
 * @param {RestartKey} k
 * @param {"offer" | "answer"} role
 * @param {number} seq
 * @param {string} sdp
 * @returns {Promise<string>}
 */
export async function verify(k, role, seq, sdp) {
  const prefix = `a=${ATTR}:`;
  let start = sdp.startsWith(prefix) ? 0 : -1;
  if (start < 0) {
    const i = sdp.indexOf("\r\n" + prefix);
    if (i >= 0) start = i + 2;
  }
  if (start < 0) throw new Error("the answer carries no restart proof");
  const end = sdp.indexOf("\r\n", start);
  if (end < 0) throw new Error("malformed restart proof");
  const rest = sdp.slice(0, start) + sdp.slice(end + 2);
  if (rest.startsWith(prefix) || rest.includes("\r\n" + prefix)) throw new Error("more than one restart proof");
  const f = sdp.slice(start + prefix.length, end).split(" ");
  if (f.length !== 3 || f[0] !== toHex(k.id) || f[1] !== String(seq)) throw new Error("the restart proof names another session or attempt");
  const mac = fromB64url(f[2]);
  const ok = mac.length === 32 && (await crypto.subtle.verify("HMAC", k.hmac, mac, macInput(k, role, seq, rest)));
  if (!ok) throw new Error("the restart proof does not verify: the description was changed on the way");
  return rest;
}

// UNKNOWN_SESSION_REASON is the reason of the bye a host sends when an ICE restart offer names a
// session it does not have (session/errors.go, unknownSessionReason): its agent restarted, or it
// ended the session (a kick, a reload that removed the key). Only the rendezvous puts a code in a
// bye, so the page recognises the host's refusal by this text; no later restart can succeed.
export const UNKNOWN_SESSION_REASON = "the host has no session with this restart ID (it restarted, or the session ended there)";

// HOST_RESTARTED is what the page says then, in the native viewer's words (ErrHostRestarted).
export const HOST_RESTARTED = "the host restarted (or ended the session on its side) and no longer has this session; connect again";
