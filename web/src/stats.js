// Live connection figures from RTCPeerConnection.getStats(), sampled once a second: fps,
// received bitrate, round-trip time, packet loss and the ICE candidate types of the selected
// pair.

export class StatsSampler {
  /** @param {RTCPeerConnection} pc */
  constructor(pc) {
    this.pc = pc;
    this.prev = null; // {t, bytes, frames}
  }

  async sample() {
    const report = await this.pc.getStats();
    // Stats entries are plain records whose fields depend on their type.
    /** @type {Record<string, any> | null} */
    let video = null;
    /** @type {Record<string, any> | null} */
    let transport = null;
    /** @type {Record<string, any> | null} */
    let pair = null;
    const byId = new Map();
    report.forEach((s) => {
      byId.set(s.id, s);
      if (s.type === "inbound-rtp" && (s.kind === "video" || s.mediaType === "video")) video = s;
      if (s.type === "transport") transport = s;
    });
    if (transport && transport.selectedCandidatePairId) pair = byId.get(transport.selectedCandidatePairId);
    if (!pair) {
      report.forEach((s) => {
        if (s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded"))) pair = pair || s;
      });
    }
    const now = performance.now();
    const bytes = (video ? video.bytesReceived : 0) || 0;
    const frames = (video ? video.framesDecoded : 0) || 0;
    const out = {
      fps: null,
      bitrateKbps: null,
      rttMs: null,
      packetLossPct: null,
      packetsLost: video ? video.packetsLost || 0 : 0,
      packetsReceived: video ? video.packetsReceived || 0 : 0,
      framesDecoded: frames,
      frameWidth: video ? video.frameWidth || 0 : 0,
      frameHeight: video ? video.frameHeight || 0 : 0,
      codec: video && video.codecId && byId.get(video.codecId) ? byId.get(video.codecId).mimeType : null,
      localCandidateType: null,
      remoteCandidateType: null,
      relayProtocol: null,
    };
    if (this.prev) {
      const dt = (now - this.prev.t) / 1000;
      if (dt > 0) {
        out.bitrateKbps = Math.round(((bytes - this.prev.bytes) * 8) / dt / 1000);
        out.fps = video && typeof video.framesPerSecond === "number" ? video.framesPerSecond : Math.round((frames - this.prev.frames) / dt);
      }
    }
    this.prev = { t: now, bytes, frames };
    const total = out.packetsLost + out.packetsReceived;
    if (total > 0) out.packetLossPct = Math.round((1000 * out.packetsLost) / total) / 10;
    if (pair) {
      if (typeof pair.currentRoundTripTime === "number") out.rttMs = Math.round(pair.currentRoundTripTime * 1000);
      const l = byId.get(pair.localCandidateId);
      const r = byId.get(pair.remoteCandidateId);
      out.localCandidateType = l ? l.candidateType : null;
      out.remoteCandidateType = r ? r.candidateType : null;
      // How this end reaches its TURN server (udp, tcp or tls), as the native viewer prints it.
      if (l && l.candidateType === "relay" && l.relayProtocol) out.relayProtocol = l.relayProtocol.toUpperCase();
    }
    return out;
  }
}

const rate = (kbps) => (kbps === null || kbps === undefined ? "–" : kbps >= 1000 ? (kbps / 1000).toFixed(1) + " Mbit/s" : Math.round(kbps) + " kbit/s");

// formatStats renders the overlay: the page's own figures, then the host encoder's (from the
// control stream's stats, when there is one) and the glass-to-glass latency (when measured).
// extra: {host: {fps, bitrateBps} | null, latency: {enabled, medianMs} | null}.
export function formatStats(s, extra = {}) {
  const v = (x, unit) => (x === null || x === undefined ? "–" : `${x}${unit}`);
  const lines = [
    `fps ${v(s.fps, "")}`,
    `bitrate ${rate(s.bitrateKbps)}`,
    `rtt ${v(s.rttMs, " ms")}`,
    `loss ${v(s.packetLossPct, "%")}`,
    `path ${s.localCandidateType || "–"}/${s.remoteCandidateType || "–"}${s.relayProtocol ? " via TURN over " + s.relayProtocol : ""}`,
  ];
  if (s.frameWidth) lines.push(`${s.frameWidth}×${s.frameHeight}${s.codec ? " " + s.codec.replace("video/", "") : ""}`);
  const { host, latency } = extra;
  if (host) lines.push(`host fps ${Math.round(host.fps * 10) / 10}, ${rate(host.bitrateBps / 1000)}`);
  if (latency && latency.enabled) lines.push(`latency ${latency.medianMs === null ? "– (no clock on screen?)" : latency.medianMs + " ms"}`);
  return lines.join("\n");
}
