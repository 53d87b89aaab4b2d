package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/lane"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/tempfork/yamux"
)

// laneHost serves a host the way host.Agent does: the tunnel channel's dispatcher with the
// forward handlers, and the lane handler on the interactive channel, which serves the lane
// with the tunnel's handlers. It returns the target's policy-allowed address once serving.
type laneHost struct {
	target string
	served chan struct{}
	errs   chan error
}

func serveLaneHost(t *testing.T, target string) (*laneHost, func(*HostConn)) {
	lh := &laneHost{target: target, served: make(chan struct{}), errs: make(chan error, 4)}
	return lh, func(host *HostConn) {
		policy, err := forward.NewPolicy([]string{target}, nil)
		if err != nil {
			lh.errs <- err
			return
		}
		lp, err := forward.NewListenPolicy([]string{"127.0.0.1:0"})
		if err != nil {
			lh.errs <- err
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		tunnelCh := mux.NewDispatcher(host.Mux, mux.Config{Side: "host"})
		forward.NewServer(forward.ServerConfig{Policy: policy, ListenPolicy: lp}).Register(tunnelCh)
		interCh := mux.NewDispatcher(host.Interactive, mux.Config{Side: "host"})
		interCh.Handle(mux.KindLane, func(ctx context.Context, stream net.Conn, req mux.Request) {
			err := host.ServeLane(ctx, stream, req, func(ctx context.Context, ls *yamux.Session) {
				tunnelCh.Also(ls).Serve(ctx)
			})
			if err != nil {
				lh.errs <- err
			}
		})
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); tunnelCh.Serve(ctx) }()
		go func() { defer wg.Done(); interCh.Serve(ctx) }()
		close(lh.served)
		t.Cleanup(func() { cancel(); host.Close(); wg.Wait() })
	}
}

// TestLaneCarriesForwards: on a direct path (loopback) the viewer's bulk streams take the lane,
// byte-exact, and the tunnel channel carries none of them.
func TestLaneCarriesForwards(t *testing.T) {
	data := payload(8 << 20)
	target := servePayload(t, data)
	_, onHost := serveLaneHost(t, target.Addr().String())
	viewer, host, verr, herr := connectPair(t, pairConfig{authorize: true, lane: true, onHost: onHost})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	if viewer.Lane() == nil {
		t.Fatal("Dial returned without the lane on a loopback path")
	}
	client := forward.NewClient(viewer.Mux, nil)
	client.Pick = viewer.Bulk
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := viewer.Lane().NumStreams(); n != 1 {
		t.Errorf("the lane carries %d streams, want the forward's one", n)
	}
	if n := viewer.Mux.NumStreams(); n != 0 {
		t.Errorf("the tunnel channel carries %d streams, want none", n)
	}
	checkPayload(t, c, data)
	// The host sets its lane before it serves it (the viewer's end may be up a moment sooner),
	// so once a stream went through, the host has it.
	if host.Lane() == nil {
		t.Fatal("the host has no lane after serving a stream on it")
	}
	// Closing the session closes the lane.
	viewer.Close()
	select {
	case <-host.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the host's session outlived the viewer's close")
	}
}

// TestLaneRefusesOtherAddresses: the host dials only the viewer's end of the ICE path, so a
// viewer cannot make it connect anywhere else; a malformed offer is refused too.
func TestLaneRefusesOtherAddresses(t *testing.T) {
	lh, onHost := serveLaneHost(t, "127.0.0.1:9")
	viewer, _, verr, herr := connectPair(t, pairConfig{authorize: true, onHost: onHost})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	<-lh.served
	id, err := lane.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, payload := range map[string][]byte{
		"another address": lane.Offer{Addr: netip.MustParseAddrPort("127.0.0.2:4242"), Hash: id.Hash}.Encode(),
		"malformed":       {1, 200},
	} {
		_, _, err := mux.Open(ctx, viewer.Interactive, mux.Request{Kind: mux.KindLane, Payload: payload})
		if err == nil {
			t.Errorf("%s: the host accepted the offer", name)
			continue
		}
		if herr := <-lh.errs; herr == nil {
			t.Errorf("%s: refused (%v) but the host reported no error", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if !errors.Is(func() error {
		_, _, err := mux.Open(ctx, viewer.Interactive, mux.Request{Kind: mux.KindLane,
			Payload: lane.Offer{Addr: netip.MustParseAddrPort("127.0.0.2:4242"), Hash: id.Hash}.Encode()})
		<-lh.errs
		return err
	}(), mux.ErrNotAllowed) {
		t.Error("an offer for another address is not refused as not allowed")
	}
}

// checkPayload reads c to its end and compares it with want by SHA-256.
func checkPayload(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	sum := sha256.Sum256(want)
	if n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("got %d bytes with a different SHA-256, want %d bytes byte-exact", n, len(want))
	}
}

// TestLaneAfterICERestart: an ICE restart that lands on the same direct path keeps the lane
// (its streams go on); a viewer that has lost its lane (as after a move to another network)
// offers a new one after the restart, the host replaces the lane it still holds with it, and
// new forwards take the new lane, byte-exact.
func TestLaneAfterICERestart(t *testing.T) {
	data := payload(4 << 20)
	target := servePayload(t, data)
	_, onHost := serveLaneHost(t, target.Addr().String())
	l := newRestartLabWith(t, nil, onHost)
	relaned := make(chan struct{}, 4)
	l.viewer.relaned = func() { relaned <- struct{}{} }
	waitLane := func(c *Conn, not *yamux.Session) *yamux.Session {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if ls := c.Lane(); ls != nil && ls != not {
				return ls
			}
			if time.Now().After(deadline) {
				t.Fatal("no (new) lane in 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	restart := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := l.viewer.restartICE(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-l.accepts; !errors.Is(err, ErrRestarted) {
			t.Fatalf("host Accept returned %v, want ErrRestarted", err)
		}
		select {
		case <-relaned:
		case <-time.After(20 * time.Second):
			t.Fatal("the viewer did not look at its lane after the restart")
		}
	}
	old := waitLane(l.viewer.Conn, nil)
	hostOld := waitLane(l.host.Conn, nil)

	// The same path (loopback both times): the lane stays.
	restart()
	if l.viewer.Lane() != old || old.IsClosed() {
		t.Fatal("a restart on the same path replaced or closed the lane")
	}

	// The viewer forgets its lane without closing it, as when its address went away: after
	// the restart it offers a new one and the host, which still holds the old, takes it.
	l.viewer.lane.mu.Lock()
	l.viewer.lane.sess = nil
	l.viewer.lane.mu.Unlock()
	restart()
	fresh := waitLane(l.viewer.Conn, old)
	if hostNew := waitLane(l.host.Conn, hostOld); hostNew == hostOld {
		t.Fatal("the host kept its old lane")
	}
	select {
	case <-hostOld.CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("the host did not close the lane the new one replaced")
	}
	client := forward.NewClient(l.viewer.Mux, nil)
	client.Pick = l.viewer.Bulk
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := fresh.NumStreams(); n != 1 {
		t.Errorf("the new lane carries %d streams, want the forward's one", n)
	}
	checkPayload(t, c, data)
}

// TestRemoteForwardOutlivesTheLane: with the lane up, a remote (-R) listener's control stream
// and its connections stay on the tunnel channel, so the listener keeps working when the lane
// ends (as when the viewer changes networks).
func TestRemoteForwardOutlivesTheLane(t *testing.T) {
	local, err := net.Listen("tcp", "127.0.0.1:0") // the viewer's side target: echoes one line
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	go func() {
		for {
			c, err := local.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	_, onHost := serveLaneHost(t, "127.0.0.1:9")
	viewer, _, verr, herr := connectPair(t, pairConfig{authorize: true, lane: true, onHost: onHost})
	if verr != nil || herr != nil {
		t.Fatalf("connect: viewer %v, host %v", verr, herr)
	}
	ls := viewer.Lane()
	if ls == nil {
		t.Fatal("no lane on a loopback path")
	}
	client := forward.NewClient(viewer.Mux, nil)
	client.Pick = viewer.Bulk
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- client.Serve(ctx) }()
	bound := make(chan string, 1)
	remote := make(chan error, 1)
	go func() {
		remote <- client.Remote(ctx, "127.0.0.1:0", local.Addr().String(), func(b string) { bound <- b })
	}()
	var addr string
	select {
	case addr = <-bound:
	case err := <-remote:
		t.Fatalf("remote listen: %v", err)
	}
	if n := ls.NumStreams(); n != 0 {
		t.Errorf("the lane carries %d streams; the listener's control stream belongs on the tunnel channel", n)
	}
	roundTrip := func(what string) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: dial the host's listener: %v", what, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping\n" {
			t.Fatalf("%s: read %q, %v", what, got, err)
		}
	}
	roundTrip("with the lane up")
	ls.Close()
	roundTrip("after the lane closed")
	select {
	case err := <-remote:
		t.Fatalf("the remote forward ended with the lane: %v", err)
	default:
	}
	cancel()
	if err := <-remote; err != nil {
		t.Errorf("Remote after cancel: %v", err)
	}
	<-served
}
