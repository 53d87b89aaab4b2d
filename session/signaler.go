package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/stun/v4"

	"github.com/deskport/deskport/signaling"
)

// Signaler carries signaling messages between the two ends of one session. A
// *rendezvous.Session is one; tests join two sessions with a pair of channels.
type Signaler interface {
	// Send delivers a message (offer, answer, candidate, bye) to the peer.
	Send(ctx context.Context, m *signaling.Message) error
	// Recv yields the peer's messages; it is closed when signaling ends.
	Recv() <-chan *signaling.Message
}

// ICEServers converts the rendezvous's ICE servers to pion's.
func ICEServers(in []signaling.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// ParseICEServer reads a --ice-server value: a stun:, stuns:, turn: or turns: URL, optionally
// followed by ",username,credential" for a TURN server with static credentials.
func ParseICEServer(v string) (webrtc.ICEServer, error) {
	parts := strings.Split(v, ",")
	if len(parts) != 1 && len(parts) != 3 {
		return webrtc.ICEServer{}, fmt.Errorf("ICE server %q: want URL or URL,username,credential", v)
	}
	s := webrtc.ICEServer{URLs: parts[:1]}
	if len(parts) == 3 {
		s.Username, s.Credential = parts[1], parts[2]
	}
	scheme, _, _ := strings.Cut(parts[0], ":")
	switch scheme {
	case "stun", "stuns":
	case "turn", "turns":
		if s.Username == "" {
			return s, fmt.Errorf("ICE server %q: a TURN server needs credentials, given as URL,username,credential; the rendezvous hands out its own TURN servers with credentials", parts[0])
		}
	default:
		return s, fmt.Errorf("ICE server %q: the URL must start with one of stun:, stuns:, turn:, turns", parts[0])
	}
	if _, err := stun.ParseURI(parts[0]); err != nil {
		return s, fmt.Errorf("ICE server %q: %w", parts[0], err)
	}
	return s, nil
}

func toSignalCandidate(c *webrtc.ICECandidateInit) *signaling.Candidate {
	if c == nil {
		return &signaling.Candidate{}
	}
	return &signaling.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}

func fromSignalCandidate(c *signaling.Candidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}
