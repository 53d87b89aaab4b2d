// CPace (draft-irtf-cfrg-cpace-21), suite CPACE-RISTR255-SHA512, initiator-responder, written to
// match the Go package auth/cpace byte for byte (and the draft's test vectors).

import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { concat, lvCat, utf8 } from "./bytes.js";

export const DSI = "CPaceRistretto255";
const S_IN_BYTES = 128; // SHA-512 input block size
const Point = ristretto255.Point;
const ORDER = Point.Fn.ORDER;

// generatorString is the draft's generator_string(DSI, PRS, CI, sid, s_in_bytes): the zero padding
// makes DSI and PRS fill the first SHA-512 block.
export function generatorString(prs, ci, sid) {
  const dsi = utf8(DSI);
  const zpad = Math.max(0, S_IN_BYTES - 1 - lvCat(prs).length - lvCat(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(zpad), ci, sid);
}

// calculateGenerator maps SHA-512(generator_string) to ristretto255 with the one-way map of
// RFC 9496 (element derivation from 64 uniform bytes).
export function calculateGenerator(prs, ci, sid) {
  return ristretto255_hasher.deriveToCurve(sha512(generatorString(prs, ci, sid)));
}

function scalarFromLE(b) {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

// sampleScalar draws 32 random bytes and clears the bits above 252, as the draft recommends and
// the Go package does. randomBytes is for tests; it defaults to crypto.getRandomValues.
export function sampleScalar(randomBytes) {
  for (;;) {
    const b = randomBytes ? randomBytes(32) : crypto.getRandomValues(new Uint8Array(32));
    b[31] &= 0x0f;
    const s = scalarFromLE(b);
    if (s !== 0n) return s; // zero has probability 2^-252; noble refuses to multiply by it
  }
}

export const scalarFromBytes = (b) => {
  const s = scalarFromLE(b);
  if (s >= ORDER) throw new Error("cpace: non-canonical scalar");
  return s;
};

// scalarMultVfy decodes the peer's share and multiplies; an invalid encoding or the identity
// aborts the run (the draft's G.I result).
export function scalarMultVfy(y, x) {
  let p;
  try {
    if (!(x instanceof Uint8Array) || x.length !== 32) throw new Error("length");
    p = Point.fromBytes(x);
  } catch {
    throw new CPaceError("cpace: invalid peer element");
  }
  const k = p.multiply(y);
  if (k.is0()) throw new CPaceError("cpace: invalid peer element");
  return k.toBytes();
}

export class CPaceError extends Error {}

const transcriptIR = (ya, adA, yb, adB) => concat(lvCat(ya, adA), lvCat(yb, adB));

export const deriveISK = (sid, k, transcript) =>
  sha512(concat(lvCat(utf8(DSI + "_ISK"), sid, k), transcript));

// initiate returns the initiator's share Ya and a finish(Yb, ADb) → ISK function. Only the tests
// need it: in deskport the host is the initiator.
export function initiate(prs, ci, sid, adA, scalar = sampleScalar()) {
  const ya = calculateGenerator(prs, ci, sid).multiply(scalar).toBytes();
  let used = false;
  return {
    ya,
    finish(yb, adB) {
      if (used) throw new CPaceError("cpace: initiator already finished");
      used = true;
      return deriveISK(sid, scalarMultVfy(scalar, yb), transcriptIR(ya, adA, yb, adB));
    },
  };
}

// respond runs the responder on the initiator's share Ya and returns {yb, isk}.
export function respond(prs, ci, sid, ya, adA, adB, scalar = sampleScalar()) {
  scalarMultVfy(1n, ya); // check Ya first, as the Go side does
  const yb = calculateGenerator(prs, ci, sid).multiply(scalar).toBytes();
  const k = scalarMultVfy(scalar, ya);
  return { yb, isk: deriveISK(sid, k, transcriptIR(ya, adA, yb, adB)) };
}
