// Byte helpers shared by the handshake and the key code: concatenation, the LEB128
// length prefix (CPace's prepend_len), base64 and hex.

export const utf8 = (s) => new TextEncoder().encode(s);

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// lv returns LEB128(len(b)) || b, the prefix-free encoding of CPace and of the auth transcript.
export function lv(b) {
  const len = [];
  let n = b.length;
  while (n >= 0x80) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return concat(Uint8Array.from(len), b);
}

// lvCat is CPace's lv_cat: every argument with its length prepended.
export const lvCat = (...args) => concat(...args.map(lv));

export function toBase64(b) {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

// fromBase64 decodes standard, padded base64 strictly (as Go's encoding/json does for []byte):
// anything that does not re-encode to the same text is refused.
export function fromBase64(s) {
  if (typeof s !== "string") throw new Error("not a base64 string");
  let bin;
  try {
    bin = atob(s);
  } catch {
    throw new Error("invalid base64");
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (toBase64(out) !== s) throw new Error("non-canonical base64");
  return out;
}

export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export function fromHex(s) {
  s = s.replace(/\s+/g, "");
  if (s.length % 2 || /[^0-9a-fA-F]/.test(s)) throw new Error("invalid hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function equalBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// base32Lower encodes without padding in lower case (RFC 4648 alphabet), as host IDs are written.
export function base32Lower(b) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const x of b) {
    value = (value << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
