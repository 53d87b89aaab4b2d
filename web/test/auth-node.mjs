// Runs the browser's handshake code (web/src/auth.js) as the viewer over stdin/stdout, so that
// the Go tests in web/ can drive it against auth.Host. Node's WebCrypto makes the Ed25519 key,
// as the browser does.
//
// argv[2] is a JSON config: {hostId, hostCert, viewerCert (hex SHA-256), code, key (bool), comment}.
// stdin:  one host message per line.
// stdout: one JSON object per line: {"t":"pub","key","line","fingerprint"} once when a key is
//         used, {"t":"msg","data"} for each viewer message, and finally {"t":"done","ok":true,
//         "method","hostKey","options"} or {"t":"done","ok":false,"code","message"}.
import { createInterface } from "node:readline";
import { runViewer } from "../src/auth.js";
import { fromHex, toBase64 } from "../src/bytes.js";
import { authorizedLine, fingerprint, generateKey, signer } from "../src/keys.js";

const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const queue = [];
const waiters = [];
let ended = false;
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const w = waiters.shift();
  if (w) w.resolve(line);
  else queue.push(line);
});
rl.on("close", () => {
  ended = true;
  for (const w of waiters.splice(0)) w.reject(new Error("stdin closed"));
});

const ch = {
  send: (text) => out({ t: "msg", data: text }),
  recv: () => {
    if (queue.length) return Promise.resolve(queue.shift());
    if (ended) return Promise.reject(new Error("stdin closed"));
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  },
};

let key = null;
if (cfg.key) {
  key = await signer(await generateKey());
  out({ t: "pub", key: toBase64(key.publicKey), line: authorizedLine(key.publicKey, cfg.comment), fingerprint: fingerprint(key.publicKey) });
}
const binding = { hostCert: fromHex(cfg.hostCert), viewerCert: fromHex(cfg.viewerCert), hostId: cfg.hostId };
try {
  const res = await runViewer(ch, binding, { key, code: cfg.code || "", comment: cfg.comment });
  out({ t: "done", ok: true, method: res.method, hostKey: toBase64(res.hostKey), options: res.options });
} catch (e) {
  out({ t: "done", ok: false, code: e.code || "exception", message: String(e.message || e) });
}
rl.close();
