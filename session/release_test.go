package session

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/deskport/deskport/forward"
)

// TestForwardReleasedOverDataChannel is issue 16's item 0 over a real WebRTC data channel:
// five clients of each kind of forward (-L, -D, -R) read 64 KiB and close while the target is
// still sending. Every target connection must close, and neither side may keep a stream or a
// goroutine of those forwards. (tunnel's release tests cover stdio and the other direction.)
func TestForwardReleasedOverDataChannel(t *testing.T) {
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	var open atomic.Int64
	ended := make(chan struct{}, 64)
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			go func() {
				defer func() { c.Close(); open.Add(-1); ended <- struct{}{} }()
				buf := make([]byte, 32<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	policy, err := forward.NewPolicy([]string{target.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := forward.NewListenPolicy([]string{"127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvDone := make(chan error, 1)
	go func() {
		srvDone <- forward.NewServer(forward.ServerConfig{Policy: policy, ListenPolicy: lp}).Serve(ctx, host.Mux)
	}()
	defer func() { cancel(); host.Close(); <-srvDone }()
	client := forward.NewClient(viewer.Mux, nil)
	cliDone := make(chan error, 1)
	go func() { cliDone <- client.Serve(ctx) }()
	defer func() { cancel(); viewer.Close(); <-cliDone }()

	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	lnL, lnD := listen(), listen()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(3)
	go func() { defer wg.Done(); client.ServeLocal(ctx, lnL, target.Addr().String()) }()
	go func() { defer wg.Done(); client.ServeSOCKS(ctx, lnD) }()
	bound := make(chan string, 1)
	go func() {
		defer wg.Done()
		client.Remote(ctx, "127.0.0.1:0", target.Addr().String(), func(b string) { bound <- b })
	}()
	var rAddr string
	select {
	case rAddr = <-bound:
	case <-time.After(10 * time.Second):
		t.Fatal("the host did not open the -R listener")
	}
	socks, err := proxy.SOCKS5("tcp", lnD.Addr().String(), nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []struct {
		name    string
		dial    func() (net.Conn, error)
		streams int // streams that stay open: the -R listener's control stream
	}{
		{"L", func() (net.Conn, error) { return net.Dial("tcp", lnL.Addr().String()) }, 1},
		{"D", func() (net.Conn, error) { return socks.Dial("tcp", target.Addr().String()) }, 1},
		{"R", func() (net.Conn, error) { return net.Dial("tcp", rAddr) }, 1},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			const clients = 5
			for range clients {
				c, err := k.dial()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
					t.Fatalf("read 64 KiB: %v", err)
				}
				c.Close()
			}
			timeout := time.After(10 * time.Second)
			for i := range clients {
				select {
				case <-ended:
				case <-timeout:
					t.Fatalf("%d of %d target connections still open 10 s after their clients closed", clients-i, clients)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				h, v, g := host.Mux.NumStreams(), viewer.Mux.NumStreams(), forwardGoroutines()
				if h <= k.streams && v <= k.streams && g == 0 && open.Load() == 0 {
					t.Logf("released: target connections %d, host streams %d, viewer streams %d, forward goroutines %d, all goroutines %d",
						open.Load(), h, v, g, runtime.NumGoroutine())
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("10 s after: target connections %d, host streams %d, viewer streams %d, forward goroutines %d", open.Load(), h, v, g)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// forwardGoroutines counts the goroutines carrying a forward (forward's pipe and copy loops).
func forwardGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "forward.pipe") || strings.Contains(g, "forward.copyHalf") {
			n++
		}
	}
	return n
}

// TestReceiveBufferGrowsAfterAuth: a session starts with the small pre-authentication SCTP
// receive buffer (api.go) and both ends raise it to the full size once authenticated, so the
// limit on strangers does not cap an authenticated forward's window.
func TestReceiveBufferGrowsAfterAuth(t *testing.T) {
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	for name, c := range map[string]*Conn{"viewer": viewer.Conn, "host": host.Conn} {
		if local, _ := c.pc.SCTP().ReceiveWindows(); local != sctpReceiveBuffer {
			t.Errorf("%s: receive buffer %d after authentication, want %d", name, local, sctpReceiveBuffer)
		}
	}
	// Traffic both ways: each end's SACKs carry its grown window.
	target := servePayload(t, payload(1<<20))
	policy, err := forward.NewPolicy([]string{target.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(ctx, host.Mux) }()
	defer func() { cancel(); host.Close(); <-srvDone }()
	c, err := forward.NewClient(viewer.Mux, nil).Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The viewer learns the host's window from the SACKs of what it sends. Its last DATA (the
	// stream open) may have reached the host a moment before the host grew its buffer, and a
	// download sends nothing more the host must acknowledge: each further open is more DATA
	// from the viewer, so a SACK with the grown window must follow. Bounded, not timed.
	deadline := time.Now().Add(10 * time.Second)
	for opens := 0; ; opens++ {
		var low []string
		for name, c := range map[string]*Conn{"viewer": viewer.Conn, "host": host.Conn} {
			if _, peer := c.pc.SCTP().ReceiveWindows(); peer <= sctpPreauthReceiveBuffer {
				low = append(low, fmt.Sprintf("%s sees its peer's window at %d, not above the pre-authentication %d", name, peer, sctpPreauthReceiveBuffer))
			}
		}
		if len(low) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d more opens: %s", opens, strings.Join(low, "; "))
		}
		c, err := forward.NewClient(viewer.Mux, nil).Dial(ctx, target.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		<-time.After(50 * time.Millisecond) // a delayed SACK's chance, between opens
	}
}
