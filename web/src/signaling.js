// The viewer end of the signaling protocol (docs/signaling.md) over a WebSocket to /v1/viewer on
// the page's own origin.

export const CLIENT_VERSION = "deskport-web/1";

// BUNDLE_VERSION names this build of the page: CLIENT_VERSION and a hash of web/src, stamped by
// build.mjs. The page sends it in its auth hello and the host logs it. It is a label, not a
// proof: a page that was changed can send any version it likes.
export const BUNDLE_VERSION = globalThis.DESKPORT_BUNDLE_VERSION || CLIENT_VERSION + "+unbundled";

// SignalError is an error the rendezvous reported ({type:"error"} or a server bye), or a
// failure of the WebSocket itself. code is the server's code (host_offline, unknown_host, …),
// "closed" or "unreachable".
export class SignalError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SignalError";
    this.code = code;
  }
}

export function viewerURL(loc = location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/v1/viewer`;
}

// Signaling opens the WebSocket, sends connect and resolves `session` with the server's session
// message. Later messages of that session go to onMessage(msg); onClose(err) fires once when the
// socket goes away.
export class Signaling {
  constructor(url, hostId, { onMessage, onClose }) {
    this.sessionId = null;
    this.closed = false;
    this.ws = new WebSocket(url);
    let opened = false;
    this.session = new Promise((resolve, reject) => {
      this.ws.onopen = () => {
        opened = true;
        this.ws.send(JSON.stringify({ type: "connect", hostId, version: CLIENT_VERSION }));
      };
      this.ws.onmessage = (ev) => {
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (!this.sessionId) {
          if (m.type === "session") {
            this.sessionId = m.session;
            resolve(m);
          } else if (m.type === "error") {
            reject(new SignalError(m.code, m.message));
            this.close();
          }
          return;
        }
        if (m.session && m.session !== this.sessionId) return;
        onMessage(m);
      };
      this.ws.onclose = (ev) => {
        const err = opened
          ? new SignalError("closed", `the rendezvous closed the signaling connection (${ev.code}${ev.reason ? ": " + ev.reason : ""})`)
          : new SignalError("unreachable", "cannot reach the rendezvous signaling endpoint; check the address and your network");
        reject(err);
        if (!this.closed) {
          this.closed = true;
          onClose(err);
        }
      };
    });
    // Keep an unhandled rejection out of the console when the caller has moved on.
    this.session.catch(() => {});
  }

  send(msg) {
    if (this.ws.readyState !== WebSocket.OPEN || !this.sessionId) return;
    this.ws.send(JSON.stringify({ ...msg, session: this.sessionId }));
  }

  bye(reason) {
    this.send({ type: "bye", reason });
  }

  close() {
    this.closed = true;
    try {
      this.ws.close(1000);
    } catch {
      // already closed
    }
  }
}
