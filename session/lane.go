package session

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/deskport/deskport/lane"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/tempfork/yamux"
)

// The direct TCP lane (package lane; docs/decisions.md, "The direct TCP lane"). When ICE
// selected a direct path — the viewer's own address, seen unchanged by the host — the viewer
// listens on that address and the host dials it; bulk streams (forwards, files) then open on a
// yamux session over that TLS connection instead of the tunnel channel. Everything else stays
// on the peer connection, and so does every check: the host serves the lane with the tunnel
// channel's handlers.

// laneWait is how long Dial waits for the lane before it returns without it (the attempt
// goes on in the background): on a direct path the lane is up in a few milliseconds; when a
// firewall drops the host's connection, the attempt takes lane.DialTimeout.
const laneWait = 500 * time.Millisecond

// errNotDirect: the viewer offers no lane because the path is not direct.
var errNotDirect = errors.New("the path is not direct")

// ErrLaneRefused is why the host turns a lane offer down.
var ErrLaneRefused = errors.New("session: direct TCP lane refused")

// laneState is a Conn's lane, once it is up.
type laneState struct {
	mu   sync.Mutex
	sess *yamux.Session
}

func (l *laneState) set(s *yamux.Session) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess != nil && !l.sess.IsClosed() {
		return false
	}
	l.sess = s
	return true
}

func (l *laneState) get() *yamux.Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sess == nil || l.sess.IsClosed() {
		return nil
	}
	return l.sess
}

// Lane is the yamux session over the direct TCP lane, or nil while there is none (not a direct
// path, refused, or closed).
func (c *Conn) Lane() *yamux.Session { return c.lane.get() }

// Bulk is where a new bulk stream (a forward, a file) opens: the lane when it is up, else the
// tunnel channel's Mux.
func (c *Conn) Bulk() *yamux.Session {
	if s := c.lane.get(); s != nil {
		return s
	}
	return c.Mux
}

// BulkStreams counts the streams open on the tunnel channel and the lane.
func (c *Conn) BulkStreams() int {
	n := 0
	if c.Mux != nil {
		n = c.Mux.NumStreams()
	}
	if s := c.lane.get(); s != nil {
		n += s.NumStreams()
	}
	return n
}

// directPair returns the selected pair's two addresses when the path is direct: our host
// candidate and the peer's host (or peer-reflexive, when its checks arrived before its
// candidate) one. Anything through a relay or a NAT this end knows of is not.
func (c *Conn) directPair() (local, remote netip.Addr, ok bool) {
	if !c.ownNet {
		return local, remote, false // the lane's sockets would not be on the session's network
	}
	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || !direct(*pair.Local, *pair.Remote) {
		return local, remote, false
	}
	l, err1 := netip.ParseAddr(pair.Local.Address)
	r, err2 := netip.ParseAddr(pair.Remote.Address)
	if err1 != nil || err2 != nil {
		return local, remote, false
	}
	l, r = withLinkZone(l, r, interfaceOf)
	return l, r, true
}

// withLinkZone gives the IPv6 link-local addresses of a direct pair the zone a socket needs.
// ICE's candidates carry no zone, so listening on the viewer's link-local address failed
// ("bind: invalid argument") and the host could not dial one: such a pair — the viewer's
// link-local address towards the host's global one on the same link, or two processes on
// one machine whose checks crossed its link-local address — lost the lane. Both addresses are
// on the link of the interface that holds local (the path is direct), so that interface names
// the zone for both. zoneOf finds the interface holding an address ("" when none does).
func withLinkZone(local, remote netip.Addr, zoneOf func(netip.Addr) string) (netip.Addr, netip.Addr) {
	needs := func(a netip.Addr) bool { return a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" }
	if !needs(local) && !needs(remote) {
		return local, remote
	}
	zone := local.Zone()
	if zone == "" {
		zone = zoneOf(local)
	}
	if zone == "" {
		return local, remote
	}
	if needs(local) {
		local = local.WithZone(zone)
	}
	if needs(remote) {
		remote = remote.WithZone(zone)
	}
	return local, remote
}

// interfaceOf names the interface of this machine that holds a, or "" when none does.
func interfaceOf(a netip.Addr) string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return ""
	}
	a = a.WithZone("").Unmap()
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok {
				if x, ok := netip.AddrFromSlice(ipn.IP); ok && x.Unmap() == a {
					return ifc.Name
				}
			}
		}
	}
	return ""
}

// offerLane is the viewer's attempt: listen on our end of the direct path, offer it to the host
// on the interactive channel, accept the host's connection and start the lane's yamux client.
func (c *Conn) offerLane(ctx context.Context) error {
	local, _, ok := c.directPair()
	if !ok {
		return errNotDirect
	}
	id, err := lane.NewIdentity()
	if err != nil {
		return err
	}
	ln, err := lane.Listen(local, id)
	if err != nil {
		return err
	}
	defer ln.Close()
	stream, rep, err := mux.Open(ctx, c.Interactive, mux.Request{Kind: mux.KindLane, Payload: ln.Offer().Encode()})
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	var hostHash lane.Hash
	if b, err := hex.DecodeString(rep.Message); err != nil || len(b) != len(hostHash) {
		mux.Abort(stream)
		return fmt.Errorf("the host answered %q, not a certificate hash", rep.Message)
	} else {
		copy(hostHash[:], b)
	}
	conn, err := ln.Accept(ctx, hostHash)
	if err != nil {
		mux.Abort(stream)
		return err
	}
	ls, err := mux.NewClientSession(conn, c.log)
	if err != nil {
		conn.Close()
		mux.Abort(stream)
		return err
	}
	c.lane.set(ls)
	c.goRun(func() { holdLane(c.done, stream, ls) })
	return nil
}

// relaneTimeout bounds a lane offer after an ICE restart (the listener's own limit,
// lane.AcceptTimeout, applies too).
const relaneTimeout = 10 * time.Second

// relane runs after an ICE restart (viewer): a lane that still joins the two ends of the new
// path stays (a restart on the same network keeps its streams); one on another path is closed
// (its streams were on addresses the session left; new ones go to the tunnel channel), and a
// new lane is offered when the new path is direct.
func (c *Conn) relane() {
	if c.relaned != nil {
		defer c.relaned()
	}
	local, remote, direct := c.directPair()
	if old := c.lane.get(); old != nil {
		if direct && laneJoins(old, local, remote) {
			return
		}
		c.log.Info("the direct TCP lane was on the old path: closing it", "lane", old.LocalAddr())
		old.Close()
	}
	if !direct {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), relaneTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := c.offerLane(ctx); err != nil {
		c.log.Info("no direct TCP lane on the new path: forwards and files stay on the peer connection", "err", err)
		return
	}
	c.log.Info("forwards and files take the direct TCP lane on the new path")
}

// laneJoins says whether ls's connection runs between local and remote.
func laneJoins(ls *yamux.Session, local, remote netip.Addr) bool {
	ip := func(a net.Addr) netip.Addr {
		if t, ok := a.(*net.TCPAddr); ok {
			if ap := t.AddrPort(); ap.IsValid() {
				return ap.Addr().WithZone("").Unmap()
			}
		}
		return netip.Addr{}
	}
	return ip(ls.LocalAddr()) == local.WithZone("").Unmap() && ip(ls.RemoteAddr()) == remote.WithZone("").Unmap()
}

// holdLane keeps the lane's offer stream open for the lane's life: either end closing it, or
// the session ending, closes the lane.
func holdLane(done <-chan struct{}, stream net.Conn, ls *yamux.Session) {
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var b [1]byte
		_, _ = stream.Read(b[:])
	}()
	select {
	case <-done:
	case <-ls.CloseChan():
	case <-ended:
	}
	ls.Close()
	mux.Abort(stream)
	<-ended
}

// ServeLane answers a viewer's lane offer (a mux.KindLane stream on the interactive channel):
// it checks that the offered address is the viewer's end of the direct path ICE selected,
// answers with its own certificate's hash, dials, and runs serve (which should serve the
// tunnel channel's handlers on the lane's session) until the lane or ctx ends. A refusal is
// written to the stream.
func (c *HostConn) ServeLane(ctx context.Context, stream net.Conn, req mux.Request, serve func(context.Context, *yamux.Session)) error {
	offer, err := lane.DecodeOffer(req.Payload)
	if err != nil {
		mux.Refuse(stream, mux.StatusBadRequest, err.Error())
		return err
	}
	_, remote, ok := c.directPair()
	if !ok {
		mux.Refuse(stream, mux.StatusNotAllowed, "the host takes a direct TCP lane only on a direct path")
		return fmt.Errorf("%w: the path is not direct", ErrLaneRefused)
	}
	// The host connects only to the address it already exchanges packets with: the viewer
	// cannot point it anywhere else, and an address translated on the way does not match.
	if offer.Addr.Addr().WithZone("").Unmap() != remote.WithZone("").Unmap() {
		mux.Refuse(stream, mux.StatusNotAllowed, "the lane's address is not the viewer's end of the path")
		return fmt.Errorf("%w: offered %s, the path's end is %s", ErrLaneRefused, offer.Addr, remote)
	}
	if old := c.lane.get(); old != nil {
		// The viewer offers only when it has no lane: after an ICE restart to another path
		// its old lane is gone (closed there, or its address with it), though this end may
		// not have seen that yet. The new one replaces it.
		c.log.Info("the viewer offers a new direct TCP lane: closing the old one", "old", old.RemoteAddr())
		old.Close()
	}
	id, err := lane.NewIdentity()
	if err != nil {
		mux.Refuse(stream, mux.StatusUnreachable, "the host cannot make a certificate")
		return err
	}
	if err := mux.Accept(stream, hex.EncodeToString(id.Hash[:])); err != nil {
		mux.Abort(stream)
		return err
	}
	// Dial the address as this end knows it (an IPv6 link-local zone is this machine's
	// interface, not the viewer's name for its own).
	offer.Addr = netip.AddrPortFrom(remote, offer.Addr.Port())
	conn, err := lane.Dial(ctx, offer, id)
	if err != nil {
		mux.Abort(stream)
		return err
	}
	ls, err := mux.NewServerSession(conn, c.log)
	if err != nil {
		conn.Close()
		mux.Abort(stream)
		return err
	}
	if !c.lane.set(ls) {
		ls.Close()
		mux.Abort(stream)
		return fmt.Errorf("%w: a lane is already up", ErrLaneRefused)
	}
	c.log.Info("bulk streams take the direct TCP lane", "viewer", offer.Addr)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan struct{})
	go func() {
		defer close(served)
		serve(lctx, ls)
	}()
	holdLane(lctx.Done(), stream, ls)
	cancel()
	<-served
	return nil
}
