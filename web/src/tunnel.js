// The browser does not open streams yet, but the host runs a yamux server on the `tunnel`
// channel as soon as authentication succeeds, and yamux closes a session whose keepalive pings go
// unanswered (tunnel.KeepAliveInterval, 15 s). keepYamuxAlive answers those pings and refuses any
// stream the host tries to open, so the connection (and the video) stays up.

const HEADER = 12;
const TYPE_DATA = 0;
const TYPE_WINDOW = 1;
const TYPE_PING = 2;
const FLAG_SYN = 1;
const FLAG_ACK = 2;
const FLAG_RST = 8;

function frame(type, flags, stream, length) {
  const b = new Uint8Array(HEADER);
  const d = new DataView(b.buffer);
  d.setUint8(0, 0); // version
  d.setUint8(1, type);
  d.setUint16(2, flags);
  d.setUint32(4, stream);
  d.setUint32(8, length);
  return b;
}

export function keepYamuxAlive(channel) {
  channel.binaryType = "arraybuffer";
  let buf = new Uint8Array(0);
  let skip = 0; // bytes of a data frame body still to drop
  channel.addEventListener("message", (ev) => {
    let data = typeof ev.data === "string" ? new TextEncoder().encode(ev.data) : new Uint8Array(ev.data);
    if (skip > 0) {
      const n = Math.min(skip, data.length);
      skip -= n;
      data = data.subarray(n);
    }
    const merged = new Uint8Array(buf.length + data.length);
    merged.set(buf);
    merged.set(data, buf.length);
    buf = merged;
    while (skip === 0 && buf.length >= HEADER) {
      const d = new DataView(buf.buffer, buf.byteOffset, HEADER);
      const type = d.getUint8(1);
      const flags = d.getUint16(2);
      const stream = d.getUint32(4);
      const length = d.getUint32(8);
      buf = buf.subarray(HEADER);
      if (type === TYPE_PING && flags & FLAG_SYN) {
        channel.send(frame(TYPE_PING, FLAG_ACK, 0, length));
      } else if ((type === TYPE_DATA || type === TYPE_WINDOW) && flags & FLAG_SYN && stream !== 0) {
        channel.send(frame(TYPE_WINDOW, FLAG_RST, stream, 0));
      }
      if (type === TYPE_DATA) {
        const n = Math.min(length, buf.length);
        buf = buf.subarray(n);
        skip = length - n;
      }
    }
    buf = buf.slice();
  });
}
