// Checks src/auth.js verifyHostSig, WebCrypto's path and noble's, on RFC 8032's first test
// vector and on signatures that must fail: a changed message, a changed signature, S + L (a
// non-canonical S that a lax verifier would take) and wrong lengths. Run by interop_test.go.
import { verifyHostSig } from "../src/auth.js";

const hex = (s) => Uint8Array.from(s.match(/../g).map((b) => parseInt(b, 16)));
const pub = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
const sig = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
const msg = new Uint8Array(0);
// S + L: the same signature with the order of the group added to S (little endian).
const L = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
const sPlusL = sig.slice();
let carry = 0;
for (let i = 0; i < 32; i++) {
  const v = sPlusL[32 + i] + L[i] + carry;
  sPlusL[32 + i] = v & 0xff;
  carry = v >> 8;
}
const flipped = sig.slice();
flipped[5] ^= 1;

async function check(label) {
  const cases = [
    ["RFC 8032 test 1", sig, msg, pub, true],
    ["changed message", sig, new Uint8Array([1]), pub, false],
    ["changed signature", flipped, msg, pub, false],
    ["S + L", sPlusL, msg, pub, false],
    ["short signature", sig.slice(0, 63), msg, pub, false],
    ["short key", sig, msg, pub.slice(0, 31), false],
  ];
  for (const [name, s, m, k, want] of cases) {
    const got = await verifyHostSig(s, m, k);
    if (got !== want) {
      console.error(`${label}: ${name}: got ${got}, want ${want}`);
      process.exit(1);
    }
  }
  console.log(`${label}: ${cases.length} cases ok`);
}

await check("WebCrypto Ed25519");
// Without WebCrypto's Ed25519 (older browsers) noble decides.
const subtle = globalThis.crypto.subtle;
const importKey = subtle.importKey.bind(subtle);
subtle.importKey = async (fmt, data, alg, ...rest) => {
  if (alg && alg.name === "Ed25519") throw new DOMException("Ed25519 is not supported", "NotSupportedError");
  return importKey(fmt, data, alg, ...rest);
};
await check("noble");
