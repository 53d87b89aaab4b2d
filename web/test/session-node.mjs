// Feeds src/session.js's signal handler what a hostile rendezvous would send once the session is
// set up — a second answer, then an offer — over a peer connection that records what is applied,
// and prints the outcome as JSON for web/session_test.go. Node has no RTCPeerConnection; the
// handler only calls the methods below, so this records exactly what the page would apply.
import { Session } from "../src/session.js";

const applied = [];
const pc = {
  connectionState: "connected",
  async setRemoteDescription(d) { applied.push(`remote ${d.type}`); },
  async setLocalDescription(d) { applied.push(`local ${d ? d.type : "auto"}`); },
  async createAnswer() { return { type: "answer", sdp: "v=0\r\n" }; },
  async addIceCandidate() {},
};
const sent = [];
const warnings = [];
const failures = [];
const origWarn = console.warn;
console.warn = () => {};
const s = new Session({ hostId: "h", onState() {}, onStream() {}, onEnd() {}, onWarning: (m) => warnings.push(m) });
s.pc = pc;
s.sig = { send: (m) => sent.push(m.type) };
s.fail = (e) => failures.push(String(e.message || e));
let answered = 0;
const remote = [];
await s.onSignal({ type: "answer", sdp: "v=0\r\n" }, remote, () => answered > 0, () => answered++);
await s.onSignal({ type: "answer", sdp: "v=0\r\nhostile" }, remote, () => answered > 0, () => answered++);
await s.onSignal({ type: "offer", sdp: "v=0\r\nhostile" }, remote, () => answered > 0, () => answered++);
console.warn = origWarn;
process.stdout.write(JSON.stringify({ applied, sent, warnings, failures, answered, ignored: s.ignoredDescriptions }) + "\n");
