package session

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched writes. pion's SCTP sends a bulk transfer as one DTLS record per UDP datagram (1404
// bytes on a LAN), one sendto each, from its write loop. A batch writer takes a datagram from the
// writer into a queue and returns; one flusher goroutine per socket sends whatever has queued
// with one sendmmsg, and, where the kernel has UDP GSO, consecutive datagrams to the same address
// of equal size as one message that the kernel cuts into datagrams (UDP_SEGMENT), so that a run
// of them crosses the stack as one buffer. A datagram alone in the queue is sent at once: the
// flusher is woken without a timer, and it waits for nothing but the writer's next datagram to
// be queued while it is in the system call. A datagram that comes alone — nothing queued, none
// being sent, and the socket's previous write longer than udpWriteLoneGap ago — is sent by the
// writer itself, as a plain write is, so that a key press or a STUN check on an idle connection
// does not wait for the flusher to be scheduled.
// (docs/session.md, "The socket wrapper".)
const (
	// udpWriteQueue bounds the datagrams waiting for the flusher; a writer that finds it full
	// waits until the flusher takes them (back-pressure, as a full socket buffer blocks a
	// plain write).
	udpWriteQueue = 64
	// udpGSOSegments and udpGSOBytes bound one GSO message: the kernel takes at most 64
	// segments (UDP_MAX_SEGMENTS before Linux 6.9) and one UDP datagram's 64 KiB.
	udpGSOSegments = 64
	udpGSOBytes    = 65000
	// udpWriteCloseWait bounds how long Close waits for queued datagrams to leave.
	udpWriteCloseWait = 2 * time.Second
	// udpWriteLoneGap: a write this long after the socket's previous one is alone (a key press
	// on an idle connection, a STUN check) and is sent at once by its writer. At 100 µs, bursts
	// of a bulk transfer on a loaded machine started that way often enough to cost a third of
	// the batching's saving; at 1 ms they do not (docs/bench.md, "Batched UDP writes").
	udpWriteLoneGap = time.Millisecond
)

// udpWriteEnv selects the write path: "plain" (one sendto a datagram, as before), "mmsg"
// (batched, no GSO) or "gso" and unset (batched, GSO where the kernel has it); "mmsg-queued" and
// "gso-queued" send lone datagrams through the flusher too. It is read when a socket opens, for
// A/B measurements (docs/bench.md).
const udpWriteEnv = "DESKPORT_UDP_WRITE"

// batchWriter sends a UDP socket's datagrams in batches. write queues a copy of a datagram and
// returns; a failure of a queued datagram is returned by the socket's next write (pion's ICE
// logs a failed write and carries on, so nothing is lost by the delay), and a write after
// close fails at once.
type batchWriter struct {
	u      *net.UDPConn
	rc     syscall.RawConn
	net    string // for errors
	laddr  net.Addr
	family int // AF_INET or AF_INET6: how destinations are encoded

	mu      sync.Mutex
	cond    *sync.Cond // room in q, or a flush done
	q       []outDatagram
	free    [][]byte // buffers of sent datagrams, for reuse
	busy    bool     // the flusher is sending a batch
	inline  bool     // a writer is sending a lone datagram itself
	last    time.Time
	loneGap time.Duration // udpWriteLoneGap; tests set it to never
	err     error         // a failure of a queued datagram, for the next write
	closed  bool
	started bool
	wake    chan struct{} // capacity 1: something has queued
	done    chan struct{} // closed by close
	exited  chan struct{} // closed when the flusher returns

	// The flusher's own, reused from batch to batch.
	gso     bool // send runs as GSO messages; off after the kernel refuses one
	hdrs    []mmsghdr
	iovs    []unix.Iovec
	names   []unix.RawSockaddrInet6
	cmsgs   []byte
	segs    []int // datagrams in each message
	stats   writeStats
	statsMu sync.Mutex
}

// writeStats counts a writer's work, for tests and the benchmark's report.
type writeStats struct {
	datagrams, messages, syscalls int // what the flusher sent
	lone                          int // datagrams their writers sent alone
}

type outDatagram struct {
	b  []byte
	to netip.AddrPort
}

// newBatchWriter returns a batch writer of c, or nil where batched writes are off (the
// environment) or c's descriptor cannot be had.
func newBatchWriter(c *net.UDPConn, network string) *batchWriter {
	mode := os.Getenv(udpWriteEnv)
	loneGap := time.Duration(udpWriteLoneGap)
	if m, ok := strings.CutSuffix(mode, "-queued"); ok {
		mode, loneGap = m, math.MaxInt64
	}
	if mode == "plain" {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	family, gso := 0, false
	if err := rc.Control(func(fd uintptr) {
		family, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err == nil && mode != "mmsg" {
			_, gerr := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
			gso = gerr == nil
		}
	}); err != nil || (family != unix.AF_INET && family != unix.AF_INET6) {
		return nil
	}
	w := &batchWriter{
		u: c, rc: rc, net: network, laddr: c.LocalAddr(), family: family, gso: gso, loneGap: loneGap,
		wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{}),
	}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// queueable says whether to can be sent by the flusher; other destinations (an IPv6 address on
// an IPv4 socket, a zone) go the plain way, which reports them as it always has.
func (w *batchWriter) queueable(to netip.AddrPort) bool {
	a := to.Addr()
	if !to.IsValid() || a.Zone() != "" {
		return false
	}
	return w.family == unix.AF_INET6 || a.Unmap().Is4()
}

// write queues b for to, waiting while the queue is full.
func (w *batchWriter) write(b []byte, to netip.AddrPort) (int, error) {
	if !w.queueable(to) {
		w.drain()
		return w.u.WriteToUDPAddrPort(b, to)
	}
	w.mu.Lock()
	for len(w.q) >= udpWriteQueue && !w.closed && w.err == nil {
		w.cond.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		return 0, &net.OpError{Op: "write", Net: w.net, Source: w.laddr, Addr: net.UDPAddrFromAddrPort(to), Err: net.ErrClosed}
	}
	if err := w.err; err != nil {
		w.err = nil
		w.mu.Unlock()
		return 0, err
	}
	now := time.Now()
	lone := len(w.q) == 0 && !w.busy && !w.inline && now.Sub(w.last) > w.loneGap
	w.last = now
	if lone {
		w.inline = true
		w.mu.Unlock()
		n, err := w.u.WriteToUDPAddrPort(b, to)
		w.statsMu.Lock()
		w.stats.lone++
		w.statsMu.Unlock()
		w.mu.Lock()
		w.inline = false
		queued := len(w.q) > 0
		w.mu.Unlock()
		w.cond.Broadcast()
		if queued {
			w.kick()
		}
		return n, err
	}
	var buf []byte
	if n := len(w.free); n > 0 {
		buf = w.free[n-1]
		w.free = w.free[:n-1]
	}
	w.q = append(w.q, outDatagram{b: append(buf[:0], b...), to: to})
	if !w.started {
		w.started = true
		go w.run()
	}
	w.mu.Unlock()
	w.kick()
	return len(b), nil
}

// kick wakes the flusher.
func (w *batchWriter) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// drain waits until every queued datagram has been sent, so that a plain write after it keeps
// the order of the socket's datagrams.
func (w *batchWriter) drain() {
	w.mu.Lock()
	for (len(w.q) > 0 || w.busy || w.inline) && !w.closed {
		w.cond.Wait()
	}
	w.mu.Unlock()
}

// close refuses further writes and waits (at most udpWriteCloseWait) until the flusher has sent
// what had queued — a DTLS close_notify written just before Close, say — and returned.
func (w *batchWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	started := w.started
	w.mu.Unlock()
	w.cond.Broadcast()
	if started {
		_ = w.u.SetWriteDeadline(time.Now().Add(udpWriteCloseWait))
		close(w.done)
		<-w.exited
	}
}

// run is the flusher: it sends whatever has queued, batch after batch, until close.
func (w *batchWriter) run() {
	defer close(w.exited)
	var batch []outDatagram
	for {
		select {
		case <-w.wake:
		case <-w.done:
		}
		for {
			w.mu.Lock()
			for w.inline {
				w.cond.Wait() // a lone datagram is leaving ahead of what queued behind it
			}
			batch, w.q = w.q, batch[:0]
			closed := w.closed
			w.busy = len(batch) > 0
			w.mu.Unlock()
			w.cond.Broadcast()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			err := w.send(batch)
			w.mu.Lock()
			if err != nil && w.err == nil && !w.closed {
				w.err = err
			}
			for i := range batch {
				w.free = append(w.free, batch[i].b)
				batch[i].b = nil
			}
			w.busy = false
			w.mu.Unlock()
			w.cond.Broadcast()
		}
	}
}

// send sends a batch in as few messages and system calls as it can, and returns the error of
// the first datagram that failed; the others are still sent.
func (w *batchWriter) send(batch []outDatagram) error {
	var first error
	for len(batch) > 0 {
		nmsg := w.build(batch)
		sent, errno, err := w.sendmmsg(nmsg)
		if err != nil {
			// The socket closed or a deadline passed: nothing more leaves.
			if first == nil {
				first = w.opError(err, batch[0].to)
			}
			return first
		}
		done := 0
		for _, s := range w.segs[:sent] {
			done += s
		}
		if sent == nmsg {
			return first
		}
		if w.gso && w.segs[sent] > 1 && (errno == unix.EIO || errno == unix.EINVAL) {
			// The device cannot checksum for GSO (EIO), or the kernel refused the segment
			// size: send the rest one datagram a message from now on.
			w.gso = false
			batch = batch[done:]
			continue
		}
		if first == nil {
			first = w.opError(os.NewSyscallError("sendmmsg", errno), batch[done].to)
		}
		batch = batch[done+w.segs[sent]:]
	}
	return first
}

func (w *batchWriter) opError(err error, to netip.AddrPort) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err // RawConn.Write's "raw-write" error
	}
	return &net.OpError{Op: "write", Net: w.net, Source: w.laddr, Addr: net.UDPAddrFromAddrPort(to), Err: err}
}

// build lays batch out as messages in w.hdrs and returns how many: with GSO, a run of datagrams
// to one address whose sizes are equal (the last may be shorter) is one message.
func (w *batchWriter) build(batch []outDatagram) int {
	if cap(w.hdrs) < len(batch) {
		w.hdrs = make([]mmsghdr, len(batch))
		w.iovs = make([]unix.Iovec, len(batch))
		w.names = make([]unix.RawSockaddrInet6, len(batch))
		w.cmsgs = make([]byte, len(batch)*unix.CmsgSpace(2))
		w.segs = make([]int, len(batch))
	}
	nmsg := 0
	for i := 0; i < len(batch); {
		d := batch[i]
		j := i + 1
		if w.gso {
			size, total := len(d.b), len(d.b)
			for j < len(batch) && j-i < udpGSOSegments && batch[j].to == d.to &&
				len(batch[j].b) <= size && len(batch[j].b) > 0 && total+len(batch[j].b) <= udpGSOBytes {
				total += len(batch[j].b)
				j++
				if len(batch[j-1].b) < size {
					break // a shorter datagram ends the run
				}
			}
		}
		for k := i; k < j; k++ {
			iov := &w.iovs[k]
			if len(batch[k].b) > 0 {
				iov.Base = &batch[k].b[0]
			} else {
				iov.Base = nil
			}
			iov.SetLen(len(batch[k].b))
		}
		h := &w.hdrs[nmsg]
		h.n = 0
		h.hdr = unix.Msghdr{}
		h.hdr.Name, h.hdr.Namelen = w.sockaddr(nmsg, d.to)
		h.hdr.Iov = &w.iovs[i]
		h.hdr.SetIovlen(j - i)
		if j-i > 1 {
			c := w.cmsgs[nmsg*unix.CmsgSpace(2) : (nmsg+1)*unix.CmsgSpace(2)]
			clear(c)
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			ch.Level, ch.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			ch.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(len(d.b))
			h.hdr.Control = &c[0]
			h.hdr.SetControllen(len(c))
		}
		w.segs[nmsg] = j - i
		nmsg++
		i = j
	}
	return nmsg
}

// sockaddr writes to as the socket's family encodes it into name slot i.
func (w *batchWriter) sockaddr(i int, to netip.AddrPort) (*byte, uint32) {
	sa := &w.names[i]
	*sa = unix.RawSockaddrInet6{}
	if w.family == unix.AF_INET {
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		in.Family = unix.AF_INET
		putNetPort(&in.Port, to.Port())
		in.Addr = to.Addr().Unmap().As4()
		return (*byte)(unsafe.Pointer(in)), unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	putNetPort(&sa.Port, to.Port())
	sa.Addr = to.Addr().As16() // an IPv4 address as ::ffff:a.b.c.d, as the net package sends it
	return (*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet6
}

// putNetPort stores p in network byte order.
func putNetPort(dst *uint16, p uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(p>>8), byte(p)
}

// sendmmsg sends messages 0..n of w.hdrs, resuming after a partial send, and returns how many
// left and, if fewer than n, the error of the next one; err is a failure of the socket itself.
func (w *batchWriter) sendmmsg(n int) (sent int, errno syscall.Errno, err error) {
	calls := 0
	w.statsMu.Lock()
	dBefore := w.stats.datagrams
	w.statsMu.Unlock()
	err = w.rc.Write(func(fd uintptr) bool {
		for sent < n {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[sent])), uintptr(n-sent), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				calls++
				sent += int(r)
				continue
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until the socket is writable
			}
			errno = e
			return true
		}
		return true
	})
	w.statsMu.Lock()
	w.stats.syscalls += calls
	w.stats.messages += sent
	for _, s := range w.segs[:sent] {
		w.stats.datagrams += s
	}
	d := w.stats.datagrams
	w.statsMu.Unlock()
	writeTotals.syscalls.Add(int64(calls))
	writeTotals.datagrams.Add(int64(d - dBefore))
	return sent, errno, err
}

// writeTotals counts every batch writer's datagrams and system calls, for the benchmarks.
var writeTotals struct{ datagrams, syscalls atomic.Int64 }

// batchWriteTotals returns the datagrams and sendmmsg calls of every batch writer so far.
func batchWriteTotals() (datagrams, syscalls int64) {
	return writeTotals.datagrams.Load(), writeTotals.syscalls.Load()
}

// counts returns the writer's counts so far.
func (w *batchWriter) counts() writeStats {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	return w.stats
}
