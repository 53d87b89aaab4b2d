package session

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is how many datagrams one recvmmsg may return. Each slot holds a buffer of the
// reader's size (pion's 8192 bytes), so a socket's batch costs udpBatch × 8 KiB once it has read.
const udpBatch = 32

// batchReader reads a UDP socket's datagrams up to udpBatch at a time with recvmmsg and hands
// them out one per read, without a system call while the batch lasts (docs/session.md, "The
// socket wrapper"). pion's ICE reads each socket from one goroutine (candidateBase.recvLoop);
// the mutex keeps a second reader correct, not fast.
//
// A read behaves like a plain read of the caller's buffer: every slot is at least as large as
// the largest buffer a read has passed, so a datagram is cut where a plain read would cut it.
type batchReader struct {
	rc     syscall.RawConn
	net    string // "udp4", "udp6" or "udp", for errors
	laddr  net.Addr
	closed atomic.Bool

	mu          sync.Mutex
	slot        int
	bufs        [][]byte
	iovs        []unix.Iovec
	names       []unix.RawSockaddrAny
	hdrs        []mmsghdr
	next, count int
	zones       map[uint32]string
	syscalls    int // recvmmsg calls that returned datagrams, for tests
}

// mmsghdr is struct mmsghdr of <sys/socket.h>; Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// newBatchReader returns a batch reader of c, or nil if c's descriptor cannot be had.
func newBatchReader(c *net.UDPConn, network string) *batchReader {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	return &batchReader{rc: rc, net: network, laddr: c.LocalAddr()}
}

// close makes every later read fail as a read of a closed socket does, batch or not.
func (r *batchReader) close() { r.closed.Store(true) }

func (r *batchReader) read(b []byte) (int, netip.AddrPort, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return 0, netip.AddrPort{}, r.opError(net.ErrClosed)
	}
	if r.next == r.count {
		if err := r.fill(len(b)); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
	i := r.next
	r.next++
	n := copy(b, r.bufs[i][:r.hdrs[i].n])
	return n, r.addr(&r.names[i]), nil
}

// fill reads a new batch into slots of at least size bytes, waiting for the first datagram.
func (r *batchReader) fill(size int) error {
	if size > r.slot || r.bufs == nil {
		r.slot = max(size, r.slot)
		r.bufs = make([][]byte, udpBatch)
		r.iovs = make([]unix.Iovec, udpBatch)
		r.names = make([]unix.RawSockaddrAny, udpBatch)
		r.hdrs = make([]mmsghdr, udpBatch)
		for i := range r.bufs {
			r.bufs[i] = make([]byte, r.slot)
		}
	}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(r.slot)
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = uint32(unsafe.Sizeof(r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control, h.Flags = nil, 0
		h.SetControllen(0)
		r.hdrs[i].n = 0
	}
	var got int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until the socket is readable
			}
			got, errno = int(n), e
			return true
		}
	})
	r.next, r.count = 0, 0
	if err != nil {
		return r.opError(err)
	}
	if errno != 0 {
		return r.opError(os.NewSyscallError("recvmmsg", errno))
	}
	r.syscalls++
	r.count = got
	return nil
}

// opError is err as a plain read reports it.
func (r *batchReader) opError(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // RawConn.Read's "raw-read" error; say "read" as ReadFromUDP does
	}
	return &net.OpError{Op: "read", Net: r.net, Source: r.laddr, Err: err}
}

// addr decodes the source address the kernel wrote, as ReadFromUDPAddrPort would return it.
func (r *batchReader) addr(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), netPort(in.Port))
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).WithZone(r.zone(in.Scope_id)), netPort(in.Port))
	}
	return netip.AddrPort{}
}

// netPort is a port in network byte order as a number.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zone names an IPv6 scope as the net package does: the interface's name, or its index.
func (r *batchReader) zone(id uint32) string {
	if id == 0 {
		return ""
	}
	if z, ok := r.zones[id]; ok {
		return z
	}
	z := strconv.Itoa(int(id))
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	if r.zones == nil {
		r.zones = map[uint32]string{}
	}
	r.zones[id] = z
	return z
}
