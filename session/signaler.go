package session

import (
	"context"

	"github.com/deskport/deskport/tempfork/webrtc"

	"github.com/deskport/deskport/signal"
)

// Signaler carries signaling messages between the two ends of one session. A
// *rendezvous.Session is one; tests join two sessions with a pair of channels.
type Signaler interface {
	// Send delivers a message (offer, answer, candidate, bye) to the peer.
	Send(ctx context.Context, m *signal.Message) error
	// Recv yields the peer's messages; it is closed when signaling ends.
	Recv() <-chan *signal.Message
}

// ICEServers converts the rendezvous's ICE servers to pion's.
func ICEServers(in []signal.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

func toSignalCandidate(c *webrtc.ICECandidateInit) *signal.Candidate {
	if c == nil {
		return &signal.Candidate{}
	}
	return &signal.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}

func fromSignalCandidate(c *signal.Candidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}
