// Checks the overlay's path line (src/stats.js) on a getStats() report shaped as Chromium gives
// it for a relayed pair and for a direct one. The exit code is the verdict.

import { StatsSampler, formatStats } from "../src/stats.js";

function report(localType, relayProtocol) {
  const m = new Map();
  const add = (s) => m.set(s.id, s);
  add({ id: "T1", type: "transport", selectedCandidatePairId: "CP1" });
  add({ id: "CP1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1", currentRoundTripTime: 0.012 });
  add({ id: "L1", type: "local-candidate", candidateType: localType, relayProtocol });
  add({ id: "R1", type: "remote-candidate", candidateType: "host" });
  return m;
}

async function pathLine(localType, relayProtocol) {
  const s = await new StatsSampler({ getStats: async () => report(localType, relayProtocol) }).sample();
  return formatStats(s).split("\n").find((l) => l.startsWith("path "));
}

const cases = [
  [["relay", "tls"], "path relay/host via TURN over TLS"],
  [["relay", "udp"], "path relay/host via TURN over UDP"],
  [["srflx", undefined], "path srflx/host"],
  [["host", undefined], "path host/host"],
];
for (const [args, want] of cases) {
  const got = await pathLine(...args);
  if (got !== want) {
    process.stderr.write(`stats-node: ${args.join(",")}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}\n`);
    process.exit(1);
  }
}
