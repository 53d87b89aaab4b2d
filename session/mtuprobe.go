package session

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"
	"github.com/deskport/deskport/tempfork/webrtc"
)

// The jumbo-frame probe. Two peers on one directly attached network that both advertise a link
// MTU above Ethernet's (mtu.go) start with Ethernet-sized packets and, before anything else is
// sent, each proves its own direction: it raises its packet size, sends one message that fills
// one SCTP packet of that size on a channel of its own, and keeps the size only if the peer says
// it arrived. A switch or NIC that drops jumbo frames says nothing (no ICMP, nothing to see on
// the socket), and SCTP has no path-MTU fallback: a DATA chunk cut to the big size can never be
// cut again (tempfork/sctp patch 0002), so once the forward's data were cut that way and lost,
// the association would stall for good. Hence a probe before any of them are cut, rather than a
// retreat after timeouts: the probe message is the only chunk ever cut to an unproven size, and
// its channel is unreliable (no retransmission) and unordered, so a lost probe is abandoned and
// costs nothing but the wait.
//
// On the wire each message starts with a kind byte, a sequence number and a length (big-endian
// uint32s): a probe is padded with zeros to its length; an ack is the header alone, with the
// length of the probe it acknowledges.
const (
	mtuProbeChannelID uint16 = 6
	probeKindProbe    byte   = 1
	probeKindAck      byte   = 2
	probeHeaderLen           = 1 + 4 + 4
	// probeOverhead is what SCTP adds around the probe's payload in its packet: the common
	// header and an I-DATA chunk header (4 bytes more than DATA's, so the message is one chunk
	// either way).
	probeOverhead = 12 + 20
	// probeAttempts and probeWait bound the probe: a lost probe or ack is tried again, and a
	// path that drops big packets costs probeAttempts×probeWait once, at set-up.
	probeAttempts = 3
	probeWait     = 200 * time.Millisecond
	// probeOpenWait bounds the wait for the probe channel, which opens with the association.
	probeOpenWait = 2 * time.Second
	// maxProbeReplies bounds the acks one end sends: each side probes at most probeAttempts
	// times per set-up (and an ack is smaller than the probe it answers).
	maxProbeReplies = 16
)

// ErrBadProbe is a probe channel message that is not a probe or an ack.
var ErrBadProbe = errors.New("session: malformed MTU probe message")

// probeMsg is one message on the probe channel.
type probeMsg struct {
	kind   byte
	seq    uint32
	length uint32 // a probe's own length; an ack's, the length of the probe that arrived
}

// parseProbe reads a probe channel message.
func parseProbe(b []byte) (probeMsg, error) {
	if len(b) < probeHeaderLen {
		return probeMsg{}, ErrBadProbe
	}
	m := probeMsg{kind: b[0], seq: binary.BigEndian.Uint32(b[1:]), length: binary.BigEndian.Uint32(b[5:])}
	switch {
	case m.kind == probeKindProbe && int(m.length) == len(b):
	case m.kind == probeKindAck && len(b) == probeHeaderLen:
	default:
		return probeMsg{}, ErrBadProbe
	}
	return m, nil
}

// encode returns the message: a probe padded to its length, an ack as its header.
func (m probeMsg) encode() []byte {
	n := probeHeaderLen
	if m.kind == probeKindProbe {
		n = max(n, int(m.length))
	}
	b := make([]byte, n)
	b[0] = m.kind
	binary.BigEndian.PutUint32(b[1:], m.seq)
	binary.BigEndian.PutUint32(b[5:], m.length)
	return b
}

// mtuProber is one connection's end of the probe channel.
type mtuProber struct {
	open chan struct{} // closed when rwc is set
	rwc  datachannel.ReadWriteCloser
	acks chan probeMsg
}

// openProbeChannel creates the probe channel; once it opens, a goroutine answers the peer's
// probes and passes on acks to ours.
func (c *Conn) openProbeChannel() error {
	negotiated, ordered, id := true, false, mtuProbeChannelID
	var retransmits uint16
	dc, err := c.pc.CreateDataChannel("mtu-probe", &webrtc.DataChannelInit{
		Negotiated: &negotiated, ID: &id, Ordered: &ordered, MaxRetransmits: &retransmits,
	})
	if err != nil {
		return err
	}
	pr := &mtuProber{open: make(chan struct{}), acks: make(chan probeMsg, probeAttempts)}
	c.prober = pr
	dc.OnOpen(func() {
		rwc, err := dc.Detach()
		if err != nil {
			c.log.Debug("cannot detach the MTU probe channel", "err", err)
			return
		}
		c.goRun(func() {
			pr.rwc = rwc
			close(pr.open)
			pr.serve(c)
		})
	})
	return nil
}

// serve answers probes and hands acks to probeMTU until the channel closes.
func (pr *mtuProber) serve(c *Conn) {
	buf := make([]byte, maxDatagram)
	replies := 0
	for {
		n, err := pr.rwc.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				c.log.Debug("MTU probe channel", "err", err)
			}
			return
		}
		m, err := parseProbe(buf[:n])
		if err != nil {
			c.log.Debug("ignoring an MTU probe message", "err", err, "bytes", n)
			continue
		}
		switch m.kind {
		case probeKindProbe:
			if replies++; replies > maxProbeReplies {
				continue
			}
			ack := probeMsg{kind: probeKindAck, seq: m.seq, length: uint32(n)}
			if _, err := pr.rwc.Write(ack.encode()); err != nil {
				c.log.Debug("MTU probe ack", "err", err)
			}
		case probeKindAck:
			select {
			case pr.acks <- m:
			default:
			}
		}
	}
}

// probeMTU raises the packet size to the one mtu.go found worth probing for, when it did, if a
// probe of that size gets through both ways; otherwise the Ethernet-sized one stays. Both ends
// call it once the association is up and before authentication sends anything, so no message
// but the probe is ever cut to an unproven size.
func (c *Conn) probeMTU(ctx context.Context) {
	target := c.mtu.probe.Load()
	pr := c.prober
	if target == 0 || pr == nil {
		return
	}
	t := time.NewTimer(probeOpenWait)
	defer t.Stop()
	select {
	case <-pr.open:
	case <-t.C:
		c.log.Debug("the MTU probe channel did not open")
		return
	case <-ctx.Done():
		return
	case <-c.done:
		return
	}
	from := c.mtu.chosen.Load()
	sctp := c.pc.SCTP()
	if ok, err := sctp.SetMTU(target); !ok || err != nil {
		c.log.Debug("cannot raise the SCTP packet size for a probe", "bytes", target, "err", err)
		return
	}
	began := time.Now()
	if pr.confirm(ctx, int(target)-probeOverhead) {
		c.mtu.chosen.Store(target)
		if pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
			key := pairKey(*pair.Local, *pair.Remote)
			c.mtu.proven.Store(&key)
		}
		c.log.Info("SCTP packet size raised: a probe crossed the jumbo-frame link",
			"from", from, "to", target, "after", time.Since(began).Round(time.Microsecond))
		return
	}
	if _, err := sctp.SetMTU(from); err != nil {
		c.log.Warn("cannot lower the SCTP packet size after a failed probe", "bytes", from, "err", err)
		return
	}
	c.log.Warn("both ends have jumbo frames, but big packets do not get through (a switch or NIC on the way drops them); keeping Ethernet-sized packets",
		"bytes", from, "probed", target)
}

// confirm sends probes of size bytes until one is acknowledged, probeAttempts at most.
func (pr *mtuProber) confirm(ctx context.Context, size int) bool {
	for seq := uint32(1); seq <= probeAttempts; seq++ {
		probe := probeMsg{kind: probeKindProbe, seq: seq, length: uint32(size)}
		if _, err := pr.rwc.Write(probe.encode()); err != nil {
			return false
		}
		t := time.NewTimer(probeWait)
	wait:
		for {
			select {
			case m := <-pr.acks:
				if m.seq >= 1 && m.seq <= seq && m.length == uint32(size) { // a late ack proves as much
					t.Stop()
					return true
				}
			case <-t.C:
				break wait
			case <-ctx.Done():
				t.Stop()
				return false
			}
		}
	}
	return false
}
