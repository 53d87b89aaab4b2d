package session

import (
	"net"
	"testing"
	"time"

	"github.com/deskport/deskport/relay"
	"github.com/deskport/deskport/tempfork/webrtc"
)

// TestRedundantSrflxIsNotSent: with a STUN server on loopback (as a rendezvous's on the same
// machine, or any STUN server seen from a machine with a public address) pion gathers a
// server-reflexive candidate whose address is its own host candidate's; that one is redundant
// and is not sent, while the host candidate is.
func TestRedundantSrflxIsNotSent(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stun, err := relay.New(relay.Config{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	defer stun.Close()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{
		ICEServers: []webrtc.ICEServer{{URLs: []string{"stun:" + udp.LocalAddr().String()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cands := make(chan *webrtc.ICECandidate, 16)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { cands <- c })
	if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	var hosts, srflx, dropped int
	timeout := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case c := <-cands:
			if c == nil {
				done = true
				break
			}
			switch c.Typ {
			case webrtc.ICECandidateTypeHost:
				hosts++
				if redundant(c) {
					t.Errorf("host candidate %s would not be sent", c)
				}
			case webrtc.ICECandidateTypeSrflx:
				srflx++
				if redundant(c) {
					dropped++
				} else {
					t.Errorf("srflx candidate %s (base %s:%d) would be sent", c, c.RelatedAddress, c.RelatedPort)
				}
			}
		case <-timeout:
			t.Fatal("gathering did not end in 20 s")
		}
	}
	if hosts == 0 || srflx == 0 || dropped != srflx {
		t.Fatalf("gathered %d host and %d srflx candidates, %d of them redundant; want at least one of each, every srflx redundant", hosts, srflx, dropped)
	}
}
