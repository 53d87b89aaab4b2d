// Viewer keys: an Ed25519 key pair made by WebCrypto with a non-extractable private key, and the
// way its public key is written for a host's authorized_viewers file (OpenSSH syntax).

import { sha256 } from "@noble/hashes/sha2.js";
import { base32Lower, concat, toBase64, utf8 } from "./bytes.js";

// generateKey makes a new Ed25519 key pair. Only the public key can ever be exported.
export function generateKey() {
  return crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
}

// signer wraps a CryptoKeyPair as the handshake wants it: the raw 32-byte public key and an
// async sign function.
export async function signer(pair) {
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return {
    publicKey,
    sign: async (msg) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, msg)),
  };
}

function sshString(b) {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, b.length);
  return concat(len, b);
}

// sshWire is the SSH wire encoding of an ed25519 public key (RFC 8709).
export const sshWire = (pub) => concat(sshString(utf8("ssh-ed25519")), sshString(pub));

// authorizedLine is the authorized_viewers line for pub, as identity.AuthorizedLine writes it.
export function authorizedLine(pub, comment) {
  const line = "ssh-ed25519 " + toBase64(sshWire(pub));
  return comment ? line + " " + comment : line;
}

// fingerprint is the OpenSSH SHA256 fingerprint ("SHA256:..." without padding).
export const fingerprint = (pub) => "SHA256:" + toBase64(sha256(sshWire(pub))).replace(/=+$/, "");

// hostIdOf derives a host ID from a host public key: lower-case base32 of the first 15 bytes of
// SHA-256(key), as package identity does.
export const hostIdOf = (pub) => base32Lower(sha256(pub).subarray(0, 15));

// parseHostId normalises a host ID as a person may type it; it returns null when the text cannot
// be a host ID.
export function parseHostId(s) {
  const id = String(s).trim().replace(/[\s-]/g, "").toLowerCase();
  return /^[a-z2-7]{24}$/.test(id) ? id : null;
}
