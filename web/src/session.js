// One connection to a host: signaling, the WebRTC peer connection with the two negotiated data
// channels and a receive-only video transceiver, then the authentication handshake on `auth`.
// Video is shown only after the host has been verified.

import { AuthError, runViewer } from "./auth.js";
import { fromHex } from "./bytes.js";
import { SignalError, Signaling, viewerURL } from "./signaling.js";
import { streamHandler } from "./tunnel.js";
import { overDataChannel } from "./yamux.js";

const CONNECT_TIMEOUT_MS = 30000; // signaling + ICE + DTLS, as the Go session's set-up deadline
const AUTH_TIMEOUT_MS = 15000;

// The errors the page explains; code is what window.deskport.error.code reports.
export class ConnectError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    Object.assign(this, extra);
  }
}

// sdpFingerprint returns the SHA-256 certificate fingerprint an SDP announces. The DTLS stack
// refuses a peer whose certificate does not match the remote description's fingerprint, so for
// the remote side this is the SHA-256 of the certificate actually presented.
export function sdpFingerprint(sdp) {
  const found = new Set();
  for (const m of sdp.matchAll(/^a=fingerprint:sha-256[ \t]+([0-9A-Fa-f:]+)[ \t]*\r?$/gim)) found.add(m[1].toUpperCase());
  if (found.size !== 1) throw new ConnectError("protocol", `expected one SHA-256 DTLS fingerprint in the session description, found ${found.size}`);
  const b = fromHex([...found][0].replace(/:/g, ""));
  if (b.length !== 32) throw new ConnectError("protocol", "malformed DTLS fingerprint");
  return b;
}

// messageChannel adapts an RTCDataChannel to the {send, recv} the handshake uses.
function messageChannel(dc) {
  const queue = [];
  const waiters = [];
  let closed = false;
  const dec = new TextDecoder("utf-8", { fatal: true });
  dc.binaryType = "arraybuffer";
  dc.addEventListener("message", (ev) => {
    let text;
    try {
      text = typeof ev.data === "string" ? ev.data : dec.decode(ev.data);
    } catch {
      text = "\u0000invalid"; // not UTF-8: the decoder refuses it as a protocol error
    }
    const w = waiters.shift();
    if (w) w.resolve(text);
    else queue.push(text);
  });
  dc.addEventListener("close", () => {
    closed = true;
    for (const w of waiters.splice(0)) w.reject(new Error("channel closed"));
  });
  return {
    send: (text) => dc.send(new TextEncoder().encode(text)),
    recv: () => {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closed) return Promise.reject(new Error("channel closed"));
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
  };
}

const once = (target, event) => new Promise((resolve) => target.addEventListener(event, resolve, { once: true }));

// Session connects to hostId. Callbacks: onState(state, detail), onStream(MediaStream) after
// verification, onEnd(error|null) once.
/** @param {RTCIceServer[]} servers */
function hasTURN(servers) {
  return servers.some((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/.test(u)));
}

export class Session {
  /**
   * @param {{hostId: string, code?: string, key?: object | null, comment?: string, relayOnly?: boolean,
   *   onState: (state: string, detail?: any) => void, onStream: (stream: MediaStream) => void,
   *   onEnd: (err: Error | null) => void, onWarning?: (msg: string) => void}} opts
   */
  constructor({ hostId, code, key, comment, relayOnly, onState, onStream, onEnd, onWarning }) {
    this.hostId = hostId;
    this.relayOnly = !!relayOnly;
    this.code = code;
    this.key = key;
    this.comment = comment;
    this.onState = onState;
    this.onStream = onStream;
    this.onEnd = onEnd;
    this.onWarning = onWarning || (() => {});
    this.ignoredDescriptions = 0; // offers and answers after the first, ignored
    this.pc = null;
    this.sig = null;
    this.ended = false;
    this.verified = false;
    this.stream = null;
    this.result = null;
    this.tunnel = null; // yamux sessions (yamux.js), usable once verified
    this.interactive = null;
    this.handlers = {};
  }

  // yamux returns the yamux session on "tunnel" or "interactive" once its channel is open.
  async yamux(name) {
    const dc = this.channels && this.channels[name];
    if (!dc || !this.verified) throw new ConnectError("closed", "not connected");
    if (dc.readyState === "connecting") await once(dc, "open");
    if (dc.readyState !== "open") throw new ConnectError("closed", `the ${name} channel is closed`);
    return this[name];
  }

  async start() {
    try {
      await this.run();
    } catch (e) {
      this.fail(e);
    }
  }

  async run() {
    this.onState("connecting", "contacting the rendezvous");
    const remote = []; // candidates that arrived before the answer
    let answered = false;
    let setAnswered;
    // The auth channel can open before setRemoteDescription's promise settles; the binding needs
    // the remote description, so authentication waits for both.
    const answer = new Promise((resolve) => (setAnswered = resolve));
    this.sig = new Signaling(viewerURL(), this.hostId, {
      onMessage: (m) =>
        this.onSignal(m, remote, () => answered, () => {
          answered = true;
          setAnswered();
        }),
      onClose: (err) => {
        if (!this.pcUp()) this.fail(err);
      },
    });
    const timer = setTimeout(
      () => this.fail(new ConnectError("timeout", "the connection to the host was not set up within 30 s; check that the host is online and that UDP (or a TURN relay) gets through")),
      CONNECT_TIMEOUT_MS,
    );
    try {
      const s = await this.sig.session;
      if (this.ended) return;
      this.onState("connecting", "connecting to the host");
      const iceServers = s.iceServers || [];
      if (this.relayOnly && !hasTURN(iceServers)) {
        this.fail(new ConnectError("no_relay", "relay only needs a TURN server and the rendezvous hands out none: start the rendezvous with --turn (or untick Relay only)"));
        return;
      }
      // Relay only: every packet goes through the TURN relay, so the host never learns this
      // browser's addresses (docs/web.md).
      const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: this.relayOnly ? "relay" : "all" });
      this.pc = pc;
      const authDC = pc.createDataChannel("auth", { negotiated: true, id: 0, ordered: true });
      const tunnelDC = pc.createDataChannel("tunnel", { negotiated: true, id: 2, ordered: true });
      // Input, control and clipboard travel apart from bulk traffic (docs/session.md).
      const interactiveDC = pc.createDataChannel("interactive", { negotiated: true, id: 4, ordered: true });
      const authCh = messageChannel(authDC);
      // The host runs a yamux server on both after authentication; the page is the client.
      // Streams the host opens are answered by this.handlers (kind → handler).
      this.channels = { tunnel: tunnelDC, interactive: interactiveDC };
      this.tunnel = overDataChannel(tunnelDC, { onStream: streamHandler(this.handlers) });
      this.interactive = overDataChannel(interactiveDC, { onStream: streamHandler(this.handlers) });
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.ontrack = (ev) => {
        this.stream = ev.streams[0] || new MediaStream([ev.track]);
        if (this.verified) this.onStream(this.stream);
      };
      pc.onicecandidate = (ev) => {
        this.sig.send({ type: "candidate", candidate: ev.candidate ? ev.candidate.toJSON() : { candidate: "" } });
      };
      pc.onconnectionstatechange = () => this.onConnectionState();
      await pc.setLocalDescription(await pc.createOffer());
      this.sig.send({ type: "offer", sdp: pc.localDescription.sdp });

      if (authDC.readyState !== "open") await once(authDC, "open");
      await answer;
      if (this.ended) return;
      clearTimeout(timer);
      await this.authenticate(authCh);
    } finally {
      clearTimeout(timer);
    }
  }

  async onSignal(m, remote, isAnswered, setAnswered) {
    const pc = this.pc;
    try {
      switch (m.type) {
        case "answer":
          if (!pc) return;
          if (this.described) {
            this.ignoreDescription(m.type);
            return;
          }
          this.described = true;
          await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
          setAnswered();
          for (const c of remote.splice(0)) await pc.addIceCandidate(c).catch(() => {});
          break;
        case "offer":
          // The host never renegotiates, and the page is the offerer: an offer (like a second
          // answer) can only come from a hostile rendezvous. Applying it could swap the
          // transport under the authenticated session, so it is ignored and reported.
          this.ignoreDescription(m.type);
          break;
        case "candidate": {
          const c = m.candidate || {};
          if (!c.candidate) return; // end of candidates: nothing to do
          if (!pc || !isAnswered()) remote.push(c);
          else await pc.addIceCandidate(c).catch(() => {});
          break;
        }
        case "bye":
          // A server bye ends signaling only; an established connection lives on.
          if (!this.pcUp()) {
            const why = m.code === "expired" ? "the host did not answer in time; check that its agent is running" : m.reason || "the host ended the session";
            this.fail(new ConnectError(m.code || "bye", why));
          }
          break;
        case "error":
          if (!this.pcUp()) this.fail(new SignalError(m.code, m.message));
          break;
      }
    } catch (e) {
      this.fail(new ConnectError("protocol", `signaling: ${e.message || e}`));
    }
  }

  ignoreDescription(type) {
    this.ignoredDescriptions++;
    const msg = `ignored a session ${type} from the rendezvous: the host never renegotiates, so only a hostile rendezvous sends one`;
    console.warn("deskport:", msg);
    this.onWarning(msg);
  }

  pcUp() {
    return this.pc && (this.pc.connectionState === "connected" || this.verified);
  }

  onConnectionState() {
    const st = this.pc.connectionState;
    if (st === "failed") {
      this.fail(new ConnectError("ice_failed", "connection failed: no network path to the host was found (ICE failed); a firewall may block UDP, and a TURN relay may be needed"));
    } else if (st === "disconnected" && this.verified) {
      this.onState("verified", "connection interrupted, trying to recover");
    } else if (st === "connected" && this.verified) {
      this.onState("verified", "");
    } else if (st === "closed" && !this.ended) {
      this.end(new ConnectError("closed", "the connection was closed"));
    }
  }

  async authenticate(ch) {
    this.onState("authenticating", this.code ? "checking the one-time code" : "proving this browser's key");
    const pc = this.pc;
    const binding = {
      hostCert: sdpFingerprint(pc.currentRemoteDescription.sdp),
      viewerCert: sdpFingerprint(pc.currentLocalDescription.sdp),
      hostId: this.hostId,
    };
    await this.crossCheckCertificate(binding.hostCert);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ConnectError("timeout", "the host did not finish authentication within 15 s")), AUTH_TIMEOUT_MS);
    });
    try {
      this.result = await Promise.race([runViewer(ch, binding, { key: this.key, code: this.code, comment: this.comment }), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.ended) return;
    this.verified = true;
    this.onState("verified", "");
    if (this.stream) this.onStream(this.stream);
  }

  // crossCheckCertificate compares the SDP fingerprint with the certificate the DTLS transport
  // reports, where the browser exposes it (RTCDtlsTransport.getRemoteCertificates).
  async crossCheckCertificate(hostCert) {
    const t = this.pc.sctp && this.pc.sctp.transport;
    if (!t || typeof t.getRemoteCertificates !== "function") return;
    const certs = t.getRemoteCertificates();
    if (!certs || !certs.length) return;
    const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", certs[0]));
    if (sum.some((x, i) => x !== hostCert[i])) {
      throw new AuthError("host_mismatch", "the host's DTLS certificate does not match its announced fingerprint: the connection may be intercepted (man in the middle); do not continue");
    }
  }

  fail(err) {
    if (this.ended) return;
    let e = err;
    if (!(e instanceof ConnectError || e instanceof AuthError || e instanceof SignalError)) {
      e = new ConnectError("error", String((err && err.message) || err));
    }
    this.end(e);
  }

  end(err) {
    if (this.ended) return;
    this.ended = true;
    for (const y of [this.tunnel, this.interactive]) if (y) y.close();
    if (this.sig) {
      this.sig.bye(err ? err.code : "closed");
      this.sig.close();
    }
    if (this.pc) {
      // Let an abort message on the auth channel leave before the association goes away.
      const pc = this.pc;
      setTimeout(() => pc.close(), err ? 200 : 0);
    }
    this.onEnd(err);
  }

  close() {
    this.end(null);
  }
}
