package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// batchPair returns a socket as a session opens it (batched reads) and a plain socket, both
// bound on loopback of network ("udp4" or "udp6"), and a sender.
func batchPair(t *testing.T, network, ip string) (batched *pacedUDPConn, plain *net.UDPConn, send *net.UDPConn) {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	laddr := &net.UDPAddr{IP: net.ParseIP(ip)}
	c, err := pacedNet{Net: n, p: newPacer()}.ListenUDP(network, laddr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	batched = c.(*pacedUDPConn)
	if batched.batch == nil {
		t.Fatal("a real UDP socket on Linux has no batch reader")
	}
	t.Cleanup(func() { batched.Close() })
	plain, err = net.ListenUDP(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	send, err = net.ListenUDP(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { send.Close() })
	// Room for what a test queues (a default buffer holds about 200 KiB of loopback skbs), and
	// a deadline so that a lost datagram fails the test instead of hanging it.
	for _, c := range []interface {
		SetReadBuffer(int) error
		SetReadDeadline(time.Time) error
	}{batched, plain} {
		_ = c.SetReadBuffer(udpSocketBuffer)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	}
	return batched, plain, send
}

func addrPort(c net.PacketConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// sendBoth sends p from send to both sockets.
func sendBoth(t *testing.T, send *net.UDPConn, p []byte, to ...net.PacketConn) {
	t.Helper()
	for _, c := range to {
		if _, err := send.WriteToUDPAddrPort(p, addrPort(c)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchReadMatchesPlainRead sends the same datagrams (of sizes up to 9000 bytes, from two
// senders, more than one batch) to a batched and a plain socket and reads both with the same
// buffers: each read must return the same bytes, length, source address and error, and the
// batched socket must have needed fewer system calls than datagrams.
func TestBatchReadMatchesPlainRead(t *testing.T) {
	for _, fam := range []struct{ network, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(fam.network, func(t *testing.T) {
			batched, plain, send := batchPair(t, fam.network, fam.ip)
			send2, err := net.ListenUDP(fam.network, &net.UDPAddr{IP: net.ParseIP(fam.ip)})
			if err != nil {
				t.Fatal(err)
			}
			defer send2.Close()
			// Rounds of a batch and then some, each sent before it is read: what one round
			// queues fits a default socket buffer, so nothing is dropped.
			const round, rounds = udpBatch + 5, 3
			const count = round * rounds
			sizes := []int{1, 1191, 1404, 9000, 0, 100, 1191, 8192, 1404}
			for r := range rounds {
				var from []netip.AddrPort
				for i := range round {
					p := bytes.Repeat([]byte{byte(i)}, sizes[(r+i)%len(sizes)])
					s := send
					if i%3 == 0 {
						s = send2
					}
					sendBoth(t, s, p, batched, plain)
					from = append(from, addrPort(s))
				}
				// Buffers of pion's size, with a smaller one on the way: 9000-byte datagrams
				// are cut at 8192, and at 1000 where that buffer is used, as a plain read cuts.
				for i := range round {
					size := 8192
					if i == 4 {
						size = 1000
					}
					bb, pb := make([]byte, size), make([]byte, size)
					bn, ba, berr := batched.ReadFromAddrPort(bb)
					pn, pa, perr := plain.ReadFromUDPAddrPort(pb)
					if berr != nil || perr != nil {
						t.Fatalf("round %d datagram %d: batched error %v, plain %v", r, i, berr, perr)
					}
					if bn != pn || ba != pa || !bytes.Equal(bb[:bn], pb[:pn]) {
						t.Fatalf("round %d datagram %d: batched read %d bytes from %v, plain %d from %v", r, i, bn, ba, pn, pa)
					}
					if ba != from[i] {
						t.Fatalf("round %d datagram %d from %v, sent from %v", r, i, ba, from[i])
					}
				}
			}
			if calls := batched.batch.syscalls; calls >= count/2 {
				t.Errorf("%d datagrams took %d recvmmsg calls: not batched", count, calls)
			}
		})
	}
}

// TestBatchReadGrowsSlots reads with a small buffer first, then with a larger one: the larger
// read must not be cut at the first buffer's size once a new batch is read.
func TestBatchReadGrowsSlots(t *testing.T) {
	batched, _, send := batchPair(t, "udp4", "127.0.0.1")
	big := bytes.Repeat([]byte{7}, 5000)
	sendBoth(t, send, []byte("small"), batched)
	if n, _, err := batched.ReadFromAddrPort(make([]byte, 100)); err != nil || n != 5 {
		t.Fatalf("small read: %d, %v", n, err)
	}
	sendBoth(t, send, big, batched)
	b := make([]byte, 8192)
	if n, _, err := batched.ReadFromAddrPort(b); err != nil || !bytes.Equal(b[:n], big) {
		t.Fatalf("large read after a small one: %d bytes, %v; want 5000", n, err)
	}
}

// TestBatchReadErrors: a read past its deadline fails as a plain read does (a timeout), and
// both sockets still read what comes after it.
func TestBatchReadErrors(t *testing.T) {
	batched, plain, send := batchPair(t, "udp4", "127.0.0.1")
	past := time.Now().Add(-time.Second)
	batched.SetReadDeadline(past)
	plain.SetReadDeadline(past)
	_, _, berr := batched.ReadFromAddrPort(make([]byte, 100))
	_, _, perr := plain.ReadFromUDPAddrPort(make([]byte, 100))
	var bne, pne net.Error
	if !errors.As(berr, &bne) || !bne.Timeout() || !errors.Is(berr, os.ErrDeadlineExceeded) {
		t.Errorf("batched read past its deadline: %v, want a timeout", berr)
	}
	if !errors.As(perr, &pne) || !pne.Timeout() {
		t.Fatalf("plain read past its deadline: %v", perr)
	}
	if b, p := strings.Replace(berr.Error(), batched.LocalAddr().String(), "ADDR", 1), strings.Replace(perr.Error(), plain.LocalAddr().String(), "ADDR", 1); b != p {
		t.Errorf("batched read error %q, plain %q", berr, perr)
	}
	batched.SetReadDeadline(time.Now().Add(20 * time.Second))
	sendBoth(t, send, []byte("after"), batched)
	if n, _, err := batched.ReadFromAddrPort(make([]byte, 100)); err != nil || n != 5 {
		t.Errorf("read after a timeout: %d, %v", n, err)
	}
}

// TestBatchReadClose: a read blocked on an empty socket returns net.ErrClosed when the socket
// is closed, and so does a read after Close while datagrams of a batch remain.
func TestBatchReadClose(t *testing.T) {
	batched, _, send := batchPair(t, "udp4", "127.0.0.1")
	errc := make(chan error, 1)
	go func() {
		_, _, err := batched.ReadFromAddrPort(make([]byte, 100))
		errc <- err
	}()
	// Close whether or not the goroutine has reached recvmmsg yet: either way it must end.
	batched.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read while closing: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read blocked on a socket did not return when it was closed")
	}

	batched2, _, _ := batchPair(t, "udp4", "127.0.0.1")
	for range 3 {
		sendBoth(t, send, []byte("x"), batched2)
	}
	if _, _, err := batched2.ReadFromAddrPort(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	batched2.Close()
	if _, _, err := batched2.ReadFromAddrPort(make([]byte, 100)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
}

// TestBatchReadConcurrent: two goroutines reading one socket get every datagram exactly once
// (pion reads from one; the reader must stay correct with two). Run it with -race.
func TestBatchReadConcurrent(t *testing.T) {
	batched, _, send := batchPair(t, "udp4", "127.0.0.1")
	const count = 150 // their queued skbs fit a default socket buffer
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 100)
			for {
				n, _, err := batched.ReadFromAddrPort(b)
				if err != nil {
					return
				}
				mu.Lock()
				seen[string(b[:n])]++
				done := len(seen) == count
				mu.Unlock()
				if done {
					batched.Close() // ends the other reader too
					return
				}
			}
		}()
	}
	for i := range count {
		sendBoth(t, send, fmt.Appendf(nil, "%d", i), batched)
	}
	wg.Wait()
	if len(seen) != count {
		t.Fatalf("%d of %d datagrams read", len(seen), count)
	}
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("datagram %q read %d times", k, v)
		}
	}
}

// FuzzBatchReaderAddr decodes arbitrary bytes as the source address the kernel writes and
// compares the result with a decoding by field offsets of <netinet/in.h>: the family in host
// order, the port big-endian, then the address (after a 4-byte flow label for IPv6) and the
// scope. Other families decode to the zero address.
func FuzzBatchReaderAddr(f *testing.F) {
	f.Add([]byte{2, 0, 0x1f, 0x90, 127, 0, 0, 1})
	f.Add(append([]byte{10, 0, 0x01, 0xbb, 0, 0, 0, 0}, net.ParseIP("fe80::1")...))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var sa unix.RawSockaddrAny
		b := (*[unsafe.Sizeof(sa)]byte)(unsafe.Pointer(&sa))
		copy(b[:], raw)
		r := &batchReader{zones: map[uint32]string{}}
		got := r.addr(&sa)
		family := binary.NativeEndian.Uint16(b[0:2])
		port := binary.BigEndian.Uint16(b[2:4])
		var want netip.AddrPort
		switch family {
		case unix.AF_INET:
			want = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
		case unix.AF_INET6:
			ip := netip.AddrFrom16([16]byte(b[8:24]))
			if scope := binary.NativeEndian.Uint32(b[24:28]); scope != 0 {
				ip = ip.WithZone(r.zone(scope))
			}
			want = netip.AddrPortFrom(ip, port)
		}
		if got != want {
			t.Fatalf("% x decoded as %v, want %v", raw, got, want)
		}
	})
}
