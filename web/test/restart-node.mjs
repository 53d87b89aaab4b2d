// Signs and verifies ICE restart proofs with src/restart.js for web/restart_test.go, which checks
// them against the format the Go host speaks (session/restart.go). Reads one JSON request on
// stdin: {id, key (hex), seq, offer (an SDP to sign), answer (a signed SDP to verify), answerSeq}.
import { fromHex, toHex } from "../src/bytes.js";
import { keyMessage, newRestartKey, sign, verify } from "../src/restart.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
const k = await newRestartKey(fromHex(req.id), fromHex(req.key));
const out = { keyMessage: toHex(keyMessage(k)), offer: await sign(k, "offer", req.seq, req.offer) };
try {
  out.answerRest = await verify(k, "answer", req.answerSeq, req.answer);
} catch (e) {
  out.answerError = String(e.message || e);
}
process.stdout.write(JSON.stringify(out) + "\n");
