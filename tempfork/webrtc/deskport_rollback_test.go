// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package webrtc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc/pkg/rtcerr"
)

func TestSignalingStateLocalRollback(t *testing.T) {
	for _, tc := range []struct {
		cur, next SignalingState
		op        stateChangeOp
		ok        bool
	}{
		{SignalingStateHaveLocalOffer, SignalingStateStable, stateChangeOpSetLocal, true},
		{SignalingStateStable, SignalingStateStable, stateChangeOpSetLocal, false},
		{SignalingStateHaveRemoteOffer, SignalingStateStable, stateChangeOpSetLocal, false},
		{SignalingStateHaveLocalOffer, SignalingStateHaveLocalOffer, stateChangeOpSetLocal, false},
	} {
		got, err := checkNextSignalingState(tc.cur, tc.next, tc.op, SDPTypeRollback)
		if tc.ok && (err != nil || got != tc.next) {
			t.Errorf("%s->%s(rollback)->%s: %s, %v; want allowed", tc.cur, tc.op, tc.next, got, err)
		}
		var mod *rtcerr.InvalidModificationError
		if !tc.ok && (got != tc.cur || !errors.As(err, &mod)) {
			t.Errorf("%s->%s(rollback)->%s: %s, %v; want refused", tc.cur, tc.op, tc.next, got, err)
		}
	}
}

// loopbackAPI gathers host candidates on loopback only, so the test needs no network.
func loopbackAPI() *API {
	s := SettingEngine{}
	s.SetNetworkTypes([]NetworkType{NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	s.SetICEMulticastDNSMode(0)

	return NewAPI(WithSettingEngine(s))
}

// negotiate runs offer/answer between the two, with every candidate in the descriptions.
func negotiate(t *testing.T, offerer, answerer *PeerConnection, options *OfferOptions) {
	t.Helper()
	offer, err := offerer.CreateOffer(options)
	if err != nil {
		t.Fatal(err)
	}
	gathered := GatheringCompletePromise(offerer)
	if err = offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err = answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = GatheringCompletePromise(answerer)
	if err = answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err = offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

// iceStates reports every ICE connection state change of pc after it is called.
func iceStates(pc *PeerConnection) <-chan ICEConnectionState {
	states := make(chan ICEConnectionState, 64)
	pc.OnICEConnectionStateChange(func(s ICEConnectionState) {
		select {
		case states <- s:
		default:
		}
	})

	return states
}

func waitICE(t *testing.T, states <-chan ICEConnectionState, want ICEConnectionState) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-states:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("ICE never became %s", want)
		}
	}
}

// TestSetLocalDescriptionRollback: an offer the remote end never answered is rolled back with
// SetLocalDescription({Type: rollback}), which carries no SDP; the connection is stable again,
// its pending local description gone, and an ICE restart offer made after it connects.
func TestSetLocalDescriptionRollback(t *testing.T) {
	api := loopbackAPI()
	offerer, err := api.NewPeerConnection(Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = offerer.Close() }()
	answerer, err := api.NewPeerConnection(Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = answerer.Close() }()
	if _, err = offerer.CreateDataChannel("data", nil); err != nil {
		t.Fatal(err)
	}
	states := iceStates(offerer)

	rollback := SessionDescription{Type: SDPTypeRollback}
	if err = offerer.SetLocalDescription(rollback); err == nil {
		t.Fatal("rolled back in stable state")
	}

	negotiate(t, offerer, answerer, nil)
	waitICE(t, states, ICEConnectionStateConnected)
	current := offerer.CurrentLocalDescription()

	unanswered, err := offerer.CreateOffer(&OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err = offerer.SetLocalDescription(unanswered); err != nil {
		t.Fatal(err)
	}
	if s := offerer.SignalingState(); s != SignalingStateHaveLocalOffer {
		t.Fatalf("signaling state %s after the offer, want have-local-offer", s)
	}
	if err = offerer.SetLocalDescription(rollback); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if s := offerer.SignalingState(); s != SignalingStateStable {
		t.Fatalf("signaling state %s after the rollback, want stable", s)
	}
	if offerer.PendingLocalDescription() != nil {
		t.Error("the rolled-back offer is still the pending local description")
	}
	if got, want := ufrag(offerer.LocalDescription()), ufrag(current); got != want {
		t.Errorf("local description after the rollback has ICE username fragment %q, want the one before the offer, %q", got, want)
	}

	// The next restart is answered and connects again, with new credentials.
	negotiate(t, offerer, answerer, &OfferOptions{ICERestart: true})
	waitICE(t, states, ICEConnectionStateConnected)
	if before, after := ufrag(current), ufrag(offerer.CurrentLocalDescription()); after == before || after == ufrag(&unanswered) {
		t.Errorf("ICE username fragment %q after the restart, %q before it and %q in the rolled-back offer; want a new one", after, before, ufrag(&unanswered))
	}
}

func ufrag(d *SessionDescription) string {
	_, rest, _ := strings.Cut(d.SDP, "a=ice-ufrag:")
	v, _, _ := strings.Cut(rest, "\r\n")

	return v
}
