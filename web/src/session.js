// One connection to a host: signaling, the WebRTC peer connection with the two negotiated data
// channels and a receive-only video transceiver, then the authentication handshake on `auth`.
// Video is shown only after the host has been verified.

import { AuthError, runViewer } from "./auth.js";
import { fromHex } from "./bytes.js";
import { HOST_RESTARTED, UNKNOWN_SESSION_REASON, keyMessage, newRestartKey, sign, verify } from "./restart.js";
import { SignalError, Signaling, viewerURL } from "./signaling.js";
import { streamHandler } from "./mux.js";
import { overDataChannel } from "./yamux.js";

const CONNECT_TIMEOUT_MS = 30000; // signaling + ICE + DTLS, as the Go session's set-up deadline
const AUTH_TIMEOUT_MS = 15000;
// ICE restarts, as the native viewer's (session/restart.go): one attempt (a new rendezvous
// session, offer, answer, checks) is bounded; a failed one is tried again after 0.25 s, doubling
// to 4 s; after a minute without a path the session ends.
const RESTART_ATTEMPT_MS = 15000;
const RESTART_GIVE_UP_MS = 60000;
const RESTART_FIRST_RETRY_MS = 250;
const RESTART_MAX_RETRY_MS = 4000;
// The page cannot list this computer's addresses, as the native viewer does to notice a move at
// once; instead it watches the bytes received on the transport. The host sends an ICE keepalive
// every second on an idle session, so 2 s without a byte means the path is gone — sooner than
// the browser's own ICE calls it disconnected (about 5 s in Chromium).
const SILENCE_MS = 2000;
const SILENCE_POLL_MS = 500;

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
   * key may be a promise: it is awaited only when authentication starts, so that making or
   * loading the browser's key (WebCrypto, IndexedDB: ~100 ms on a fresh profile) overlaps the
   * rendezvous, ICE and DTLS. comment may be a function, called then too.
   * @param {{hostId: string, code?: string, key?: object | null | Promise<object | null>,
   *   comment?: string | (() => string), relayOnly?: boolean,
   *   onState: (state: string, detail?: any) => void, onStream: (stream: MediaStream) => void,
   *   onEnd: (err: Error | null) => void, onWarning?: (msg: string) => void,
   *   onRestart?: (info: {ms: number, attempts: number}) => void}} opts
   */
  constructor({ hostId, code, key, comment, relayOnly, onState, onStream, onEnd, onWarning, onRestart }) {
    this.hostId = hostId;
    this.relayOnly = !!relayOnly;
    this.code = code;
    this.key = key;
    this.comment = comment;
    this.onState = onState;
    this.onStream = onStream;
    this.onEnd = onEnd;
    this.onWarning = onWarning || (() => {});
    this.onRestart = onRestart || (() => {});
    /** @type {import("./restart.js").RestartKey | null} */
    this.rkey = null; // the restart key the host got, once verified
    this.rseq = 0; // the last restart's sequence number
    this.restarting = null; // the running restart loop (a Promise), if any
    this.restarts = 0; // restarts that succeeded
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
      pc.oniceconnectionstatechange = () => this.onICEState();
      this.authDC = authDC;
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
    if (st === "failed" && this.rkey) {
      // A verified session that can restart keeps trying until the restart gives up.
      this.restartICE("the connection failed");
    } else if (st === "failed") {
      this.fail(new ConnectError("ice_failed", "connection failed: no network path to the host was found (ICE failed); a firewall may block UDP, and a TURN relay may be needed"));
    } else if (st === "disconnected" && this.verified) {
      this.onState("verified", this.restarting ? "the network changed, moving the connection" : "connection interrupted, trying to recover");
    } else if (st === "connected" && this.verified && !this.restarting) {
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
      const run = async () => {
        const key = await this.key;
        const comment = typeof this.comment === "function" ? this.comment() : this.comment;
        return runViewer(ch, binding, { key, code: this.code, comment });
      };
      this.result = await Promise.race([run(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.ended) return;
    this.verified = true;
    await this.sendRestartKey();
    if (this.rkey) this.watchSilence();
    this.onState("verified", "");
    if (this.stream) this.onStream(this.stream);
  }

  // sendRestartKey gives the host this session's restart key on the auth channel, as the native
  // viewer does; without it (no WebCrypto HMAC, the channel gone) the session just cannot
  // restart.
  async sendRestartKey() {
    try {
      const k = await newRestartKey();
      this.authDC.send(keyMessage(k));
      this.rkey = k;
    } catch (e) {
      console.warn("deskport: no ICE restarts for this session:", e);
    }
  }

  // watchSilence restarts ICE when no byte has arrived for SILENCE_MS.
  watchSilence() {
    let last = -1;
    let since = performance.now();
    const timer = setInterval(async () => {
      if (this.ended) return clearInterval(timer);
      let bytes = 0;
      try {
        bytes = await this.receivedBytes();
      } catch {
        return;
      }
      const now = performance.now();
      if (bytes !== last) {
        last = bytes;
        since = now;
      } else if (now - since >= SILENCE_MS && !this.restarting) {
        since = now;
        this.restartICE(`no packet from the host for ${Math.round(SILENCE_MS / 1000)} s`);
      }
    }, SILENCE_POLL_MS);
  }

  // networkChanged is a hint from the page (the browser went online again, its connection
  // type changed): the path may be gone before ICE notices, so restart at once.
  networkChanged() {
    if (this.verified && this.rkey && !this.ended) this.restartICE("the network changed");
  }

  onICEState() {
    const st = this.pc.iceConnectionState;
    // ICE calls a path disconnected after a few seconds without a packet (keepalives keep an
    // idle one alive): the network changed under it, or a NAT dropped its mapping.
    if ((st === "disconnected" || st === "failed") && this.verified && this.rkey) this.restartICE(`ICE ${st}`);
  }

  // restartICE moves the session to a new path: a fresh rendezvous session, an ICE restart
  // offer with the restart proof, the host's proven answer. Every stream, the video and the
  // authentication carry on. One loop runs at a time; it retries with backoff and ends the
  // session after RESTART_GIVE_UP_MS without a path.
  restartICE(why) {
    if (this.restarting || this.ended) return;
    const began = performance.now();
    this.onState("verified", "the network changed, moving the connection");
    console.info("deskport: restarting ICE:", why);
    this.restarting = (async () => {
      let delay = RESTART_FIRST_RETRY_MS;
      let attempts = 0;
      for (;;) {
        attempts++;
        try {
          await this.restartOnce();
          const ms = Math.round(performance.now() - began);
          this.restarts++;
          console.info(`deskport: the session moved to a new path after ${ms} ms (${attempts} attempt${attempts > 1 ? "s" : ""})`);
          this.onRestart({ ms, attempts });
          if (!this.ended) this.onState("verified", "");
          return;
        } catch (e) {
          if (this.ended) return;
          if (e && e.hostRestarted) {
            // The host has no such session any more: retrying cannot help.
            this.fail(new ConnectError("host_restarted", HOST_RESTARTED));
            return;
          }
          console.warn("deskport: ICE restart attempt failed:", (e && e.message) || e);
          if (performance.now() - began + delay > RESTART_GIVE_UP_MS) {
            this.fail(new ConnectError("moved", `the network changed and no new path to the host was found within ${RESTART_GIVE_UP_MS / 1000} s (${(e && e.message) || e}); check this computer's network and connect again`));
            return;
          }
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, RESTART_MAX_RETRY_MS);
        }
      }
    })().finally(() => {
      this.restarting = null;
    });
  }

  // restartOnce is one restart attempt, bounded by RESTART_ATTEMPT_MS.
  async restartOnce() {
    const pc = this.pc;
    const k = this.rkey;
    if (!pc || !k) throw new Error("no restart key");
    const seq = ++this.rseq;
    let fail;
    const failed = new Promise((_, reject) => (fail = reject));
    failed.catch(() => {});
    const timer = setTimeout(() => fail(new Error(`no new path within ${RESTART_ATTEMPT_MS / 1000} s`)), RESTART_ATTEMPT_MS);
    const deadline = performance.now() + RESTART_ATTEMPT_MS;
    const remote = [];
    let answered = false;
    let setAnswer;
    const answer = new Promise((resolve) => (setAnswer = resolve));
    const sig = new Signaling(viewerURL(), this.hostId, {
      onMessage: async (m) => {
        try {
          if (m.type === "answer") {
            if (answered) return this.ignoreDescription(m.type);
            const sdp = await verify(k, "answer", seq, m.sdp);
            answered = true;
            await pc.setRemoteDescription({ type: "answer", sdp });
            for (const c of remote.splice(0)) await pc.addIceCandidate(c).catch(() => {});
            setAnswer();
          } else if (m.type === "candidate") {
            const c = m.candidate || {};
            if (!c.candidate) return;
            if (!answered) remote.push(c);
            else await pc.addIceCandidate(c).catch(() => {});
          } else if (m.type === "offer") {
            this.ignoreDescription(m.type);
          } else if (m.type === "bye" && !answered && !m.code && m.reason === UNKNOWN_SESSION_REASON) {
            fail(Object.assign(new Error(m.reason), { hostRestarted: true }));
          } else if ((m.type === "error" || m.type === "bye") && !answered) {
            // After the answer the host closes its end once ICE is connected again: the
            // rendezvous's bye then ends signaling only.
            fail(new Error(`the rendezvous: ${m.message || m.reason || m.code}`));
          }
        } catch (e) {
          fail(e);
        }
      },
      onClose: (err) => {
        if (!answered) fail(err);
      },
    });
    const old = this.sig;
    try {
      const ses = await Promise.race([sig.session, failed]);
      // The new session's ICE servers carry fresh TURN credentials: the set-up's may have
      // expired by now (--turn-credential-ttl), and the restart gathers with these.
      if (ses && Array.isArray(ses.iceServers) && ses.iceServers.length) {
        try {
          pc.setConfiguration({ ...pc.getConfiguration(), iceServers: ses.iceServers });
        } catch (e) {
          console.warn("deskport: keeping the set-up's ICE servers:", (e && e.message) || e);
        }
      }
      const offer = await pc.createOffer({ iceRestart: true });
      await pc.setLocalDescription(offer);
      // Candidates of the new gathering go out on this attempt's signaling.
      this.sig = sig;
      sig.send({ type: "offer", sdp: await sign(k, "offer", seq, pc.localDescription.sdp) });
      await Promise.race([answer, failed]);
      await Promise.race([this.pathWorks(deadline), failed]);
    } catch (e) {
      // An offer that was never answered is rolled back, so the next attempt starts clean.
      if (pc.signalingState === "have-local-offer") await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      if (this.sig === sig) this.sig = old;
      sig.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (old && old !== sig) old.close();
  }

  // receivedBytes is what the transport has received so far.
  async receivedBytes() {
    let bytes = 0;
    const report = await this.pc.getStats();
    report.forEach((/** @type {any} */ r) => {
      if (r.type === "transport") bytes += r.bytesReceived || 0;
    });
    return bytes;
  }

  // pathWorks resolves once ICE is connected and bytes arrive again. The browser may still call
  // the dead path connected (Chromium says disconnected only after about 5 s), so the state
  // alone proves nothing: the bytes received must grow after the answer was applied.
  /** @param {number} deadline when the attempt gives up (performance.now()) */
  async pathWorks(deadline) {
    const pc = this.pc;
    const from = await this.receivedBytes();
    for (;;) {
      if (this.ended) throw new Error("the session ended");
      if (performance.now() > deadline) throw new Error("no bytes over the new path");
      const st = pc.iceConnectionState;
      if ((st === "connected" || st === "completed") && (await this.receivedBytes()) > from) return;
      await new Promise((r) => setTimeout(r, 100));
    }
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
