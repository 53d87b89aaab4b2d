package session

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// writeModes are the batched write paths DESKPORT_UDP_WRITE selects.
var writeModes = []string{"mmsg", "gso"}

// batchedSender returns a socket as a session opens it with write mode mode, bound on loopback
// of network, and two plain receivers with large buffers and a read deadline.
func batchedSender(t *testing.T, mode, network, ip string) (*pacedUDPConn, []*net.UDPConn) {
	t.Helper()
	t.Setenv(udpWriteEnv, mode)
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	laddr := &net.UDPAddr{IP: net.ParseIP(ip)}
	c, err := pacedNet{Net: bufferedNet{Net: n, log: slog.New(slog.DiscardHandler)}, p: newPacer()}.ListenUDP(network, laddr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	s := c.(*pacedUDPConn)
	if s.wbatch == nil {
		t.Fatal("a real UDP socket on Linux has no batch writer")
	}
	if mode == "gso" && !s.wbatch.gso {
		t.Log("this kernel has no UDP GSO: the gso mode sends as mmsg does")
	}
	t.Cleanup(func() { s.Close() })
	var rs []*net.UDPConn
	for range 2 {
		r, err := net.ListenUDP(network, laddr)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.SetReadBuffer(udpSocketBuffer)
		_ = r.SetReadDeadline(time.Now().Add(20 * time.Second))
		t.Cleanup(func() { r.Close() })
		rs = append(rs, r)
	}
	return s, rs
}

// datagram i of a test: its size cycles through sizes, its bytes say i.
func testDatagram(i int, sizes []int) []byte {
	b := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, sizes[i%len(sizes)]/2+1)[:sizes[i%len(sizes)]]
	return b
}

// expectDatagrams reads want from r in order.
func expectDatagrams(t *testing.T, r *net.UDPConn, from netip.AddrPort, want [][]byte) {
	t.Helper()
	buf := make([]byte, 70000)
	for i, w := range want {
		n, a, err := r.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) || a.Port() != from.Port() {
			t.Fatalf("datagram %d: %d bytes from %v, want %d from %v", i, n, a, len(w), from)
		}
	}
}

// TestBatchWriteDelivers writes runs of datagrams of many sizes (equal runs, a shorter one
// ending a run, an empty one, 9000 bytes) to two receivers, IPv4 and IPv6 and in both batched
// modes, one writer after another as pion's SCTP writes: every datagram arrives whole, in order.
func TestBatchWriteDelivers(t *testing.T) {
	for _, mode := range writeModes {
		for _, fam := range []struct{ network, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}, {"udp", "127.0.0.1"}, {"udp", ""}} {
			t.Run(mode+"/"+fam.network, func(t *testing.T) {
				s, rs := batchedSender(t, mode, fam.network, fam.ip)
				sizes := []int{1404, 1404, 1404, 1404, 1000, 1404, 0, 9000, 9000, 1, 1404, 1404}
				want := make([][][]byte, 2)
				const count = 600 // several queues' worth
				for i := range count {
					p := testDatagram(i, sizes)
					k := 0
					if i%7 == 6 {
						k = 1
					}
					if _, err := s.WriteToAddrPort(p, addrPort(rs[k])); err != nil {
						t.Fatalf("write %d: %v", i, err)
					}
					want[k] = append(want[k], p)
				}
				for k, r := range rs {
					expectDatagrams(t, r, addrPort(s), want[k])
				}
				s.wbatch.drain() // the flusher counts after the datagrams have left
				st := s.wbatch.counts()
				if st.datagrams+st.lone != count || st.syscalls > count {
					t.Errorf("stats %+v for %d datagrams", st, count)
				}
				t.Logf("%d datagrams in %d messages, %d sendmmsg calls; %d alone", st.datagrams, st.messages, st.syscalls, st.lone)
			})
		}
	}
}

// newUnstartedWriter returns the batch writer of a fresh socket (mode mode) whose flusher has
// not started, so that a test can call send with a batch of its choosing.
func newUnstartedWriter(t *testing.T, mode string) (*batchWriter, []*net.UDPConn) {
	s, rs := batchedSender(t, mode, "udp4", "127.0.0.1")
	return s.wbatch, rs
}

// TestBatchWriteOneCall sends a queue's worth of datagrams as the flusher does: one sendmmsg
// for all, and with GSO one message for each run of equal sizes to one address.
func TestBatchWriteOneCall(t *testing.T) {
	for _, mode := range writeModes {
		t.Run(mode, func(t *testing.T) {
			w, rs := newUnstartedWriter(t, mode)
			var batch []outDatagram
			var want [2][][]byte
			for i := range udpWriteQueue {
				k := 0
				if i >= 40 && i < 44 {
					k = 1
				}
				p := testDatagram(i, []int{1404})
				batch = append(batch, outDatagram{b: p, to: addrPort(rs[k])})
				want[k] = append(want[k], p)
			}
			if err := w.send(batch); err != nil {
				t.Fatal(err)
			}
			for k, r := range rs {
				expectDatagrams(t, r, addrPort(w.u), want[k])
			}
			st := w.counts()
			if st.syscalls != 1 || st.datagrams != udpWriteQueue {
				t.Errorf("%+v: want one sendmmsg of %d datagrams", st, udpWriteQueue)
			}
			if wantMsgs := udpWriteQueue; w.gso {
				wantMsgs = 3 // 40 to one receiver, 4 to the other, 20 to the first
				if st.messages != wantMsgs {
					t.Errorf("GSO: %d messages, want %d", st.messages, wantMsgs)
				}
			} else if st.messages != wantMsgs {
				t.Errorf("%d messages, want %d", st.messages, wantMsgs)
			}
		})
	}
}

// TestBatchWriteErrors: a datagram the kernel refuses (too large, or to port 0) fails as a
// plain write fails, the datagrams around it still leave, and the failure is returned by the
// socket's next write; the write after that succeeds again.
func TestBatchWriteErrors(t *testing.T) {
	for _, mode := range writeModes {
		t.Run(mode, func(t *testing.T) {
			w, rs := newUnstartedWriter(t, mode)
			to := addrPort(rs[0])
			huge := make([]byte, 70000)
			_, plainErr := rs[1].WriteToUDPAddrPort(huge, to)
			if plainErr == nil {
				t.Fatal("a plain write of 70000 bytes succeeded")
			}
			a, b := []byte("before"), []byte("after")
			err := w.send([]outDatagram{{b: a, to: to}, {b: a, to: to}, {b: huge, to: to}, {b: b, to: to}, {b: b, to: to}})
			if !errors.Is(err, syscall.EMSGSIZE) || !errors.Is(plainErr, syscall.EMSGSIZE) {
				t.Fatalf("batched error %v, plain %v: want EMSGSIZE", err, plainErr)
			}
			if be, pe := strings.Replace(err.Error(), "sendmmsg", "sendto", 1), strings.Replace(plainErr.Error(), rs[1].LocalAddr().String(), w.laddr.String(), 1); be != pe {
				t.Errorf("batched error %q, plain %q", be, pe)
			}
			expectDatagrams(t, rs[0], addrPort(w.u), [][]byte{a, a, b, b})
		})
	}
	for _, mode := range writeModes {
		t.Run(mode+"/next-write", func(t *testing.T) {
			s, rs := batchedSender(t, mode, "udp4", "127.0.0.1")
			s.wbatch.loneGap = math.MaxInt64 // every datagram through the queue
			to := addrPort(rs[0])
			if _, err := s.WriteToAddrPort(make([]byte, 70000), to); err != nil {
				t.Fatalf("queueing: %v", err)
			}
			s.wbatch.drain()
			if _, err := s.WriteToAddrPort([]byte("x"), to); !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("write after a failed one: %v, want its EMSGSIZE", err)
			}
			if _, err := s.WriteToAddrPort([]byte("y"), to); err != nil {
				t.Fatalf("the write after that: %v", err)
			}
			expectDatagrams(t, rs[0], addrPort(s), [][]byte{[]byte("y")})
		})
	}
}

// TestBatchWriteClose: what was queued before Close arrives, a write after Close fails as a
// plain write on a closed socket does, and the flusher has returned (goleak checks the package).
func TestBatchWriteClose(t *testing.T) {
	for _, mode := range writeModes {
		t.Run(mode, func(t *testing.T) {
			s, rs := batchedSender(t, mode, "udp4", "127.0.0.1")
			var want [][]byte
			for i := range 3 * udpWriteQueue {
				p := testDatagram(i, []int{1404, 200})
				if _, err := s.WriteToAddrPort(p, addrPort(rs[0])); err != nil {
					t.Fatal(err)
				}
				want = append(want, p)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.wbatch.exited:
			default:
				t.Fatal("the flusher runs after Close")
			}
			expectDatagrams(t, rs[0], addrPort(s), want)
			_, err := s.WriteToAddrPort([]byte("late"), addrPort(rs[0]))
			plain, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			plain.Close()
			_, perr := plain.WriteToUDPAddrPort([]byte("late"), addrPort(rs[0]))
			if !errors.Is(err, net.ErrClosed) || !errors.Is(perr, net.ErrClosed) {
				t.Fatalf("write after Close: %v; plain: %v", err, perr)
			}
		})
	}
}

// TestBatchWriteConcurrent: writers on several goroutines (pion's SCTP, DTLS and ICE keepalives
// share a socket) through every write method, more than the queue holds: each writer's
// datagrams arrive, in its order.
func TestBatchWriteConcurrent(t *testing.T) {
	for _, mode := range writeModes {
		t.Run(mode, func(t *testing.T) {
			s, rs := batchedSender(t, mode, "udp4", "127.0.0.1")
			to := addrPort(rs[0])
			const writers, each = 4, 300
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						p := []byte(fmt.Sprintf("%d %d %s", g, i, strings.Repeat("x", 1300)))
						var err error
						switch i % 4 {
						case 0:
							_, err = s.WriteToAddrPort(p, to)
						case 1:
							_, err = s.WriteTo(p, net.UDPAddrFromAddrPort(to))
						case 2:
							_, err = s.WriteToUDP(p, net.UDPAddrFromAddrPort(to))
						case 3:
							_, _, err = s.WriteMsgUDP(p, nil, net.UDPAddrFromAddrPort(to))
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			next := make([]int, writers)
			buf := make([]byte, 2000)
			for range writers * each {
				n, _, err := rs[0].ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("after %v: %v", next, err)
				}
				var g, i int
				fmt.Sscan(string(buf[:n]), &g, &i)
				if i != next[g] {
					t.Fatalf("writer %d: datagram %d arrived, want %d", g, i, next[g])
				}
				next[g]++
			}
		})
	}
}

// TestBatchWriteLone: a datagram that comes alone (the socket idle for longer than
// udpWriteLoneGap) is sent by its writer, and a refusal fails that write as a plain write
// fails; one through the queue with nothing after it leaves without another write or a timer.
func TestBatchWriteLone(t *testing.T) {
	s, rs := batchedSender(t, "gso", "udp4", "127.0.0.1")
	w := s.wbatch
	idle := func() {
		w.drain()
		w.mu.Lock()
		w.last = time.Time{}
		w.mu.Unlock()
	}
	for i := range 20 {
		idle()
		p := testDatagram(i, []int{60})
		if _, err := s.WriteToAddrPort(p, addrPort(rs[0])); err != nil {
			t.Fatal(err)
		}
		expectDatagrams(t, rs[0], addrPort(s), [][]byte{p})
	}
	if st := w.counts(); st.lone != 20 || st.datagrams != 0 {
		t.Errorf("%+v: want 20 datagrams sent alone by their writers", st)
	}
	idle()
	if _, err := s.WriteToAddrPort(make([]byte, 70000), addrPort(rs[0])); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("a lone write of 70000 bytes: %v, want EMSGSIZE", err)
	}
	w.loneGap = math.MaxInt64
	for i := range 20 {
		p := testDatagram(i, []int{60})
		if _, err := s.WriteToAddrPort(p, addrPort(rs[0])); err != nil {
			t.Fatal(err)
		}
		expectDatagrams(t, rs[0], addrPort(s), [][]byte{p})
	}
	w.drain() // the flusher counts after the datagram has left
	if st := w.counts(); st.datagrams != 20 {
		t.Errorf("%+v: want 20 datagrams through the flusher", st)
	}
}

// TestBatchWritePlainWhereNeeded: a destination the flusher cannot encode (IPv6 on an IPv4
// socket) goes the plain way and fails as a plain write does.
func TestBatchWritePlainWhereNeeded(t *testing.T) {
	s, _ := batchedSender(t, "gso", "udp4", "127.0.0.1")
	_, err := s.WriteToAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:9"))
	u, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer u.Close()
	_, perr := u.WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("[2001:db8::1]:9"))
	if err == nil || perr == nil || strings.Replace(err.Error(), s.LocalAddr().String(), "A", 1) != strings.Replace(perr.Error(), u.LocalAddr().String(), "A", 1) {
		t.Fatalf("IPv6 destination on an IPv4 socket: %v, plain %v", err, perr)
	}
}

// TestBatchWriteOff: DESKPORT_UDP_WRITE=plain leaves writes plain.
func TestBatchWriteOff(t *testing.T) {
	t.Setenv(udpWriteEnv, "plain")
	n, _ := stdnet.NewNet()
	c, err := pacedNet{Net: n, p: newPacer()}.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.(*pacedUDPConn).wbatch != nil {
		t.Fatal("plain mode has a batch writer")
	}
}

// FuzzBatchWriteBuild lays out arbitrary batches (sizes and destinations from the fuzzer) and
// checks the messages: every datagram once and in order, a GSO message's datagrams to one
// address, of its segment size but the last (which may be shorter), within the kernel's limits.
func FuzzBatchWriteBuild(f *testing.F) {
	f.Add([]byte{0, 5, 0, 5, 0, 5, 1, 5, 0, 3, 0, 5})
	f.Add(bytes.Repeat([]byte{0, 255}, 64))
	f.Add([]byte{2, 0, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, spec []byte) {
		for _, gso := range []bool{false, true} {
			w := &batchWriter{family: unix.AF_INET6, gso: gso}
			dsts := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:5"), netip.MustParseAddrPort("[2001:db8::1]:6"), netip.MustParseAddrPort("10.0.0.1:6")}
			var batch []outDatagram
			for i := 0; i+1 < len(spec) && len(batch) < udpWriteQueue; i += 2 {
				batch = append(batch, outDatagram{b: make([]byte, int(spec[i+1])*40), to: dsts[int(spec[i])%len(dsts)]})
			}
			if len(batch) == 0 {
				return
			}
			nmsg := w.build(batch)
			k := 0
			for m := range nmsg {
				h := &w.hdrs[m].hdr
				segs := w.segs[m]
				if segs < 1 || int(h.Iovlen) != segs || segs > udpGSOSegments || (!gso && segs != 1) {
					t.Fatalf("message %d: %d segments, %d iovecs", m, segs, h.Iovlen)
				}
				sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(h.Name))
				to := batch[k].to
				if sa.Addr != to.Addr().As16() || sa.Port != uint16(to.Port()>>8)|uint16(to.Port()&0xff)<<8 {
					t.Fatalf("message %d to %v, datagram %d to %v", m, sa.Addr, k, to)
				}
				iovs := unsafe.Slice(h.Iov, segs)
				total, size := 0, len(batch[k].b)
				for s := range segs {
					d := batch[k+s]
					if d.to != to || int(iovs[s].Len) != len(d.b) || (len(d.b) > 0 && iovs[s].Base != &d.b[0]) {
						t.Fatalf("message %d segment %d is not datagram %d", m, s, k+s)
					}
					if segs > 1 && (len(d.b) == 0 || len(d.b) > size || (len(d.b) < size && s != segs-1)) {
						t.Fatalf("message %d: segment %d of %d bytes in a run of %d", m, s, len(d.b), size)
					}
					total += len(d.b)
				}
				if segs > 1 {
					if total > udpGSOBytes || h.Control == nil {
						t.Fatalf("message %d: %d bytes, control %v", m, total, h.Control)
					}
					c := unsafe.Slice(h.Control, h.Controllen)
					if got := *(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])); int(got) != size {
						t.Fatalf("message %d: segment size %d, want %d", m, got, size)
					}
				} else if h.Control != nil {
					t.Fatalf("message %d of one datagram has a control message", m)
				}
				k += segs
			}
			if k != len(batch) {
				t.Fatalf("%d messages carry %d of %d datagrams", nmsg, k, len(batch))
			}
		}
	})
}

// BenchmarkLoneDatagram is the round of one datagram written and read back on loopback, with
// nothing else queued — the latency a batched write adds to a key press or a STUN check
// (docs/bench.md, "Batched UDP writes").
func BenchmarkLoneDatagram(b *testing.B) {
	// gso: the socket idle before each datagram, as between key presses (the writer sends it);
	// gso-queued: every datagram through the flusher, the hand-off's cost.
	for _, mode := range []string{"plain", "gso", "gso-queued"} {
		b.Run(mode, func(b *testing.B) {
			b.Setenv(udpWriteEnv, strings.TrimSuffix(mode, "-queued"))
			n, _ := stdnet.NewNet()
			lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
			c, err := pacedNet{Net: n, p: newPacer()}.ListenUDP("udp4", lo)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r, err := net.ListenUDP("udp4", lo)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			s := c.(*pacedUDPConn)
			if mode == "gso-queued" {
				s.wbatch.loneGap = math.MaxInt64
			}
			to, p, buf := addrPort(r), make([]byte, 100), make([]byte, 200)
			b.ResetTimer()
			for range b.N {
				if mode == "gso" {
					s.wbatch.mu.Lock()
					s.wbatch.last = time.Time{}
					s.wbatch.mu.Unlock()
				}
				if _, err := s.WriteToAddrPort(p, to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := r.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
