// A yamux client (hashicorp/yamux spec.md, protocol version 0) for the browser, so that the page
// speaks the same stream protocol as the native viewer and the host keeps one code path.
//
// Why our own and not @chainsafe/libp2p-yamux: that package speaks the same frames but is built
// on libp2p's stream and connection interfaces (@libp2p/interface, @libp2p/utils and their
// multiaddr, protobuf and async-iterator dependencies); adapting it to an RTCDataChannel meant
// implementing libp2p's MultiaddrConnection for a byte pipe it does not need. The protocol is
// small: this file is the whole of it, and web/yamux_test.go runs it against the Go side.
//
// Frames are a 12-byte header [version=0][type][flags u16][stream id u32][length u32], all big
// endian, then for data frames `length` bytes of body. The transport is a reliable, ordered
// byte pipe (an RTCDataChannel whose messages are concatenated); frames may span messages and
// a message may hold several frames. Every frame this side sends goes out as one message of at
// most MAX_MESSAGE bytes.

const VERSION = 0;
const T_DATA = 0;
const T_WINDOW = 1;
const T_PING = 2;
const T_GOAWAY = 3;
const SYN = 1;
const ACK = 2;
const FIN = 4;
const RST = 8;
const HEADER = 12;

/** Every stream starts with this receive window in both directions (yamux's fixed 256 KiB). */
export const INITIAL_WINDOW = 256 * 1024;
/** The receive window this side grants per stream (the Go side, mux.StreamWindow, grants 16 MiB). */
export const MAX_WINDOW = 8 * 1024 * 1024;
/** Largest data-channel message this side sends (the portable SCTP message size). */
export const MAX_MESSAGE = 16 * 1024;
const MAX_BODY = MAX_MESSAGE - HEADER;

/** go-away codes */
export const GOAWAY_NORMAL = 0;
export const GOAWAY_PROTOCOL = 1;
export const GOAWAY_INTERNAL = 2;

/** YamuxError.code: "closed" (session ended), "reset" (stream reset), "goaway" (peer refuses
 * new streams), "protocol" (the peer broke the protocol), "stream_closed" (write after close). */
export class YamuxError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function header(type, flags, id, length, bodyLen = 0) {
  const b = new Uint8Array(HEADER + bodyLen);
  const d = new DataView(b.buffer);
  d.setUint8(0, VERSION);
  d.setUint8(1, type);
  d.setUint16(2, flags);
  d.setUint32(4, id);
  d.setUint32(8, length);
  return b;
}

// A Session is the client end of one yamux session. transport is
//   { send(Uint8Array), full(): boolean, waitDrain(): Promise, close() }
// and whoever owns the transport calls session.receive(bytes) for every incoming message and
// session.transportClosed(err?) once it ends. options: onStream(stream) for streams the peer
// opens (without it they are reset), onClose(err|null) once, window (receive window per stream).
export class Session {
  constructor(transport, { onStream = null, onClose = null, onGoAway = null, window = MAX_WINDOW } = {}) {
    if (window < INITIAL_WINDOW) throw new RangeError("yamux: window below 256 KiB");
    this.t = transport;
    this.onStream = onStream;
    this.onClose = onClose;
    this.onGoAway = onGoAway;
    this.window = window;
    this.streams = new Map();
    this.nextId = 1; // the client opens odd streams
    this.nextPing = 1;
    this.pings = new Map();
    this.closed = false;
    this.closeError = null;
    this.remoteGoAway = false;
    this.drainPromise = null;
    // receive parser state
    this.hdr = new Uint8Array(HEADER);
    this.hdrFill = 0;
    this.bodyLeft = 0;
    this.bodyStream = null; // null: discard the body
    this.bodyFin = false;
  }

  // open starts a stream. Data may be written at once; the peer's ACK is not awaited.
  open() {
    if (this.closed) throw this.closeError || new YamuxError("closed", "yamux: session closed");
    if (this.remoteGoAway) throw new YamuxError("goaway", "yamux: the host is not accepting new streams");
    const id = this.nextId;
    if (id >= 0xfffffffe) throw new YamuxError("closed", "yamux: stream IDs exhausted");
    this.nextId += 2;
    const s = new Stream(this, id);
    this.streams.set(id, s);
    this.sendFrame(T_WINDOW, SYN, id, this.window - INITIAL_WINDOW);
    return s;
  }

  // ping sends a ping and resolves with the round-trip time in milliseconds.
  ping() {
    if (this.closed) return Promise.reject(this.closeError || new YamuxError("closed", "yamux: session closed"));
    const id = this.nextPing;
    this.nextPing = (this.nextPing + 1) >>> 0 || 1;
    const start = performance.now();
    return new Promise((resolve, reject) => {
      this.pings.set(id, { resolve: () => resolve(performance.now() - start), reject });
      this.sendFrame(T_PING, SYN, 0, id);
    });
  }

  // close sends go-away and ends every stream and the transport.
  close() {
    if (this.closed) return;
    this.sendFrame(T_GOAWAY, 0, 0, GOAWAY_NORMAL);
    this.shutdown(null);
    try {
      this.t.close();
    } catch {
      // already closed
    }
  }

  transportClosed(err) {
    this.shutdown(new YamuxError("closed", "yamux: connection closed" + (err ? `: ${err.message || err}` : "")), err || null);
  }

  shutdown(streamErr, sessionErr = null) {
    if (this.closed) return;
    this.closed = true;
    this.closeError = streamErr || new YamuxError("closed", "yamux: session closed");
    for (const s of this.streams.values()) s.fail(this.closeError);
    this.streams.clear();
    for (const p of this.pings.values()) p.reject(this.closeError);
    this.pings.clear();
    if (this.onClose) this.onClose(sessionErr);
  }

  protocolError(msg) {
    this.sendFrame(T_GOAWAY, 0, 0, GOAWAY_PROTOCOL);
    const e = new YamuxError("protocol", "yamux: " + msg);
    this.shutdown(e, e);
    try {
      this.t.close();
    } catch {
      // already closed
    }
  }

  sendFrame(type, flags, id, length, body = null) {
    if (this.closed) return;
    const b = header(type, flags, id, length, body ? body.length : 0);
    if (body) b.set(body, HEADER);
    try {
      this.t.send(b);
    } catch (e) {
      this.transportClosed(e);
    }
  }

  // writable resolves when the transport can take more (bufferedAmount below its high mark).
  writable() {
    if (!this.t.full()) return null;
    if (!this.drainPromise) {
      this.drainPromise = this.t.waitDrain().then(() => {
        this.drainPromise = null;
      });
    }
    return this.drainPromise;
  }

  receive(chunk) {
    let off = 0;
    while (off < chunk.length && !this.closed) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - off);
        const s = this.bodyStream;
        if (s) s.push(chunk.subarray(off, off + n));
        off += n;
        this.bodyLeft -= n;
        if (this.bodyLeft === 0 && s && this.bodyFin) s.remoteFin();
        continue;
      }
      const n = Math.min(HEADER - this.hdrFill, chunk.length - off);
      this.hdr.set(chunk.subarray(off, off + n), this.hdrFill);
      this.hdrFill += n;
      off += n;
      if (this.hdrFill === HEADER) {
        this.hdrFill = 0;
        this.frame();
      }
    }
  }

  frame() {
    const d = new DataView(this.hdr.buffer);
    const version = d.getUint8(0);
    const type = d.getUint8(1);
    const flags = d.getUint16(2);
    const id = d.getUint32(4);
    const length = d.getUint32(8);
    if (version !== VERSION) return this.protocolError(`version ${version}`);
    switch (type) {
      case T_DATA:
      case T_WINDOW:
        return this.streamFrame(type, flags, id, length);
      case T_PING:
        if (flags & SYN) this.sendFrame(T_PING, ACK, 0, length);
        else if (flags & ACK) {
          const p = this.pings.get(length);
          this.pings.delete(length);
          if (p) p.resolve();
        }
        return;
      case T_GOAWAY:
        this.remoteGoAway = true;
        if (this.onGoAway) this.onGoAway(length);
        return;
      default:
        return this.protocolError(`unknown frame type ${type}`);
    }
  }

  streamFrame(type, flags, id, length) {
    if (id === 0) return this.protocolError("stream frame for stream 0");
    let s = this.streams.get(id);
    if (flags & SYN) {
      if (s || id % 2 === 1) return this.protocolError(`bad SYN for stream ${id}`);
      if (this.onStream && !this.remoteGoAway) {
        s = new Stream(this, id);
        this.streams.set(id, s);
        this.sendFrame(T_WINDOW, ACK, id, this.window - INITIAL_WINDOW);
        const cb = this.onStream;
        queueMicrotask(() => cb(s));
      } else {
        this.sendFrame(T_WINDOW, RST, id, 0);
      }
    }
    if (type === T_DATA) {
      this.bodyLeft = length;
      this.bodyStream = null;
      this.bodyFin = false;
    }
    if (!s) return; // a stream we reset or finished: drop what is still in flight
    if (flags & RST) {
      s.fail(new YamuxError("reset", "yamux: stream reset by the host"));
      this.streams.delete(id);
      return;
    }
    if (type === T_WINDOW) {
      s.grant(length);
      if (flags & FIN) s.remoteFin();
      return;
    }
    if (length > s.recvWindow) return this.protocolError(`stream ${id} exceeded its receive window (${length} > ${s.recvWindow})`);
    s.recvWindow -= length;
    this.bodyStream = s;
    this.bodyFin = (flags & FIN) !== 0;
    if (length === 0 && this.bodyFin) s.remoteFin();
  }
}

// A Stream is one yamux stream: read() resolves with the next chunk (null at the end), write()
// resolves once the bytes are handed to the transport within the peer's window, close()
// half-closes (FIN), reset() aborts (RST).
export class Stream {
  constructor(session, id) {
    this.session = session;
    this.id = id;
    this.sendWindow = INITIAL_WINDOW;
    this.recvWindow = session.window;
    this.chunks = [];
    this.queued = 0;
    this.consumed = 0; // read since the last window update
    this.localClosed = false;
    this.remoteClosed = false;
    this.error = null;
    this.readWaiter = null;
    this.windowWaiters = [];
    this.writeChain = Promise.resolve();
  }

  push(b) {
    if (this.error) return;
    this.chunks.push(b);
    this.queued += b.length;
    this.wakeReader();
  }

  remoteFin() {
    this.remoteClosed = true;
    this.wakeReader();
    if (this.localClosed) this.session.streams.delete(this.id);
  }

  grant(n) {
    this.sendWindow += n;
    for (const w of this.windowWaiters.splice(0)) w();
  }

  fail(err) {
    if (this.error) return;
    this.error = err;
    this.chunks = [];
    this.queued = 0;
    this.wakeReader();
    for (const w of this.windowWaiters.splice(0)) w();
  }

  wakeReader() {
    const w = this.readWaiter;
    this.readWaiter = null;
    if (w) w();
  }

  // read resolves with the next bytes (at most max), or null once the host has closed its side
  // and everything was read. It rejects with a YamuxError after a reset.
  async read(max = Infinity) {
    while (!this.chunks.length) {
      if (this.error) throw this.error;
      if (this.remoteClosed) return null;
      await new Promise((resolve) => (this.readWaiter = resolve));
    }
    let b = this.chunks[0];
    if (b.length > max) {
      this.chunks[0] = b.subarray(max);
      b = b.subarray(0, max);
    } else {
      this.chunks.shift();
    }
    this.queued -= b.length;
    this.consumed += b.length;
    // Give the credit back in quarter-window steps: fewer updates than per read, and the host
    // never stalls while a quarter of the window is still open.
    if (this.consumed >= this.session.window / 4 && !this.remoteClosed && !this.error) {
      this.recvWindow += this.consumed;
      this.session.sendFrame(T_WINDOW, 0, this.id, this.consumed);
      this.consumed = 0;
    }
    return b;
  }

  // readExactly resolves with exactly n bytes, or rejects if the stream ends first.
  async readExactly(n) {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const b = await this.read(n - got);
      if (b === null) throw new YamuxError("eof", `yamux: stream ended after ${got} of ${n} bytes`);
      out.set(b, got);
      got += b.length;
    }
    return out;
  }

  // readAll resolves with everything up to the end of the stream, refusing more than limit.
  async readAll(limit = Infinity) {
    const parts = [];
    let total = 0;
    for (;;) {
      const b = await this.read();
      if (b === null) break;
      total += b.length;
      if (total > limit) throw new YamuxError("too_long", `yamux: more than ${limit} bytes`);
      parts.push(b);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  // write sends data; concurrent writes on one stream are queued in call order.
  write(data) {
    const p = this.writeChain.then(() => this.writeNow(data));
    this.writeChain = p.catch(() => {});
    return p;
  }

  async writeNow(data) {
    let off = 0;
    while (off < data.length) {
      if (this.error) throw this.error;
      if (this.localClosed) throw new YamuxError("stream_closed", "yamux: write after close");
      if (this.sendWindow === 0) {
        await new Promise((resolve) => this.windowWaiters.push(resolve));
        continue;
      }
      const drained = this.session.writable();
      if (drained) {
        await drained;
        continue;
      }
      const n = Math.min(data.length - off, this.sendWindow, MAX_BODY);
      this.session.sendFrame(T_DATA, 0, this.id, n, data.subarray(off, off + n));
      this.sendWindow -= n;
      off += n;
    }
  }

  // close half-closes the stream once queued writes are out: the host reads EOF and may still
  // send.
  close() {
    const p = this.writeChain.then(() => {
      if (this.localClosed || this.error) return;
      this.localClosed = true;
      this.session.sendFrame(T_WINDOW, FIN, this.id, 0);
      if (this.remoteClosed) this.session.streams.delete(this.id);
    });
    this.writeChain = p.catch(() => {});
    return p;
  }

  // reset aborts the stream in both directions at once.
  reset() {
    if (this.error) return;
    this.session.sendFrame(T_WINDOW, RST, this.id, 0);
    this.session.streams.delete(this.id);
    this.fail(new YamuxError("reset", "yamux: stream reset"));
  }
}

// Data channels buffer in the browser; stop writing above HIGH_WATER and resume when
// `bufferedamountlow` says the buffer fell below LOW_WATER.
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

// overDataChannel runs a yamux client session on an open RTCDataChannel.
export function overDataChannel(dc, options = {}) {
  dc.binaryType = "arraybuffer";
  dc.bufferedAmountLowThreshold = LOW_WATER;
  const waiters = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  dc.addEventListener("bufferedamountlow", wake);
  const session = new Session(
    {
      send: (b) => dc.send(b),
      full: () => dc.bufferedAmount > HIGH_WATER,
      waitDrain: () => new Promise((resolve) => waiters.push(resolve)),
      close: () => {}, // the channel belongs to the peer connection
    },
    options,
  );
  dc.addEventListener("message", (ev) => {
    session.receive(typeof ev.data === "string" ? new TextEncoder().encode(ev.data) : new Uint8Array(ev.data));
  });
  dc.addEventListener("close", () => {
    wake();
    session.transportClosed(null);
  });
  return session;
}
