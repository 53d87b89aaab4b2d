// Checks web/src/cpace.js against the CPace draft's ristretto255 test vectors
// (web/test/cpace-vectors.json, the same values auth/cpace tests; TestCPaceVectorsMatchGo checks
// the file against the Go implementation). Exits non-zero on the first mismatch.
import { readFileSync } from "node:fs";
import { sha512 } from "@noble/hashes/sha2.js";
import { fromHex, toHex, lvCat, utf8, concat } from "../src/bytes.js";
import * as cpace from "../src/cpace.js";

const v = JSON.parse(readFileSync(new URL("./cpace-vectors.json", import.meta.url)));
let failed = 0;
function eq(name, got, want) {
  const g = typeof got === "string" ? got : toHex(got);
  if (g !== want) {
    console.error(`FAIL ${name}: got ${g}, want ${want}`);
    failed++;
  } else {
    console.log(`ok   ${name}`);
  }
}

const [prs, ci, sid, ada, adb] = [v.prs, v.ci, v.sid, v.ada, v.adb].map(fromHex);
eq("prepend_len vector", lvCat(utf8("1234"), utf8("5"), new Uint8Array(0), utf8("6789")), "04313233340135000436373839");
eq("generator_string", cpace.generatorString(prs, ci, sid), v.generator_string);
eq("hash of generator_string", sha512(cpace.generatorString(prs, ci, sid)), v.generator_hash);
eq("generator g", cpace.calculateGenerator(prs, ci, sid).toBytes(), v.g);

const ini = cpace.initiate(prs, ci, sid, ada, cpace.scalarFromBytes(fromHex(v.ya_scalar)));
eq("Ya", ini.ya, v.ya);
const r = cpace.respond(prs, ci, sid, ini.ya, ada, adb, cpace.scalarFromBytes(fromHex(v.yb_scalar)));
eq("Yb", r.yb, v.yb);
eq("K", cpace.scalarMultVfy(cpace.scalarFromBytes(fromHex(v.yb_scalar)), ini.ya), v.k);
eq("transcript", concat(lvCat(ini.ya, ada), lvCat(r.yb, adb)), v.transcript);
eq("ISK (responder)", r.isk, v.isk);
eq("ISK (initiator)", ini.finish(r.yb, adb), v.isk);
eq("scalar_mult_vfy", cpace.scalarMultVfy(cpace.scalarFromBytes(fromHex(v.scalar_mult.s)), fromHex(v.scalar_mult.x)), v.scalar_mult.want);

for (const [name, y] of Object.entries(v.invalid)) {
  let threw = false;
  try {
    cpace.respond(prs, ci, sid, fromHex(y), ada, adb);
  } catch (e) {
    threw = e instanceof cpace.CPaceError;
  }
  eq(`respond refuses ${name}`, String(threw), "true");
  threw = false;
  try {
    cpace.initiate(prs, ci, sid, ada).finish(fromHex(y), adb);
  } catch (e) {
    threw = e instanceof cpace.CPaceError;
  }
  eq(`finish refuses ${name}`, String(threw), "true");
}

// sample_scalar clears the bits above 252.
const s = cpace.sampleScalar(() => new Uint8Array(32).fill(0xff));
eq("sample_scalar(ff..ff)", s.toString(16), "f" + "f".repeat(62));

// A fresh run with random scalars agrees on ISK.
const a = cpace.initiate(utf8("ABCDEFGH"), utf8("channel"), sid, utf8("host"));
const b = cpace.respond(utf8("ABCDEFGH"), utf8("channel"), sid, a.ya, utf8("host"), utf8("viewer"));
eq("random round trip", toHex(a.finish(b.yb, utf8("viewer"))), toHex(b.isk));

if (failed) {
  console.error(`${failed} CPace vector check(s) failed`);
  process.exit(1);
}
console.log("all CPace vectors match");
