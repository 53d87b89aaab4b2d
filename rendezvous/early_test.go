package rendezvous

import (
	"fmt"
	"testing"
	"time"

	"github.com/deskport/deskport/signaling"
)

// TestCandidatesBeforeOffer sends the viewer's candidates before its offer, so that they reach
// the host first (one WebSocket each way and one server keep the order), and checks that the
// host's session gets all of them after the offer instead of losing them.
func TestCandidatesBeforeOffer(t *testing.T) {
	leakCheck(t)
	ts := startServer(t, Config{})
	key, hostID := newKey(t)
	accepted, _ := startHost(t, &HostClient{URL: ts.URL, Key: key})
	<-ts.registered
	ctx := ctx10(t)
	v, err := Dial(ctx, ts.URL, hostID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var sent []string
	for i := range 3 {
		c := fmt.Sprintf("candidate:%d 1 udp 1 192.0.2.%d 5000 typ host", i, i+1)
		sent = append(sent, c)
		if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{Candidate: c}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	h := <-accepted
	if m := recv(t, h); m.Type != signaling.TypeOffer {
		t.Fatalf("first message on the host: %+v, want the offer", m)
	}
	for _, want := range sent {
		if m := recv(t, h); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != want {
			t.Fatalf("host got %+v, want candidate %q", m, want)
		}
	}
	// What follows the offer still arrives in order after the held ones.
	if err := v.Send(ctx, &signaling.Message{Type: signaling.TypeCandidate, Candidate: &signaling.Candidate{}}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, h); m.Type != signaling.TypeCandidate || m.Candidate.Candidate != "" {
		t.Fatalf("host got %+v, want the end of candidates", m)
	}
}

func TestEarlyCandidateLimits(t *testing.T) {
	t0 := time.Unix(1000, 0)
	id := func(i int) string { return fmt.Sprintf("%032x", i) }
	cand := func(s int) *signaling.Message {
		return &signaling.Message{Type: signaling.TypeCandidate, Session: id(s), Candidate: &signaling.Candidate{Candidate: "c"}}
	}
	var e earlyCandidates
	for i := range earlyPerSession {
		if !e.add(cand(0), t0) {
			t.Fatalf("candidate %d refused under the per-session limit", i)
		}
	}
	if e.add(cand(0), t0) {
		t.Fatal("candidate over the per-session limit held")
	}
	for s := 1; e.total < earlyTotal; s++ {
		if !e.add(cand(s), t0) {
			t.Fatalf("session %d refused with %d held", s, e.total)
		}
	}
	if e.add(cand(9999), t0) {
		t.Fatal("candidate over the total limit held")
	}
	if got := e.take(id(0), t0); len(got) != earlyPerSession {
		t.Fatalf("took %d, want %d", len(got), earlyPerSession)
	}
	if e.total != earlyTotal-earlyPerSession || e.take(id(0), t0) != nil {
		t.Fatalf("after take: total %d", e.total)
	}
	// Room again after the take; and everything held expires after earlyTTL.
	if !e.add(cand(9999), t0.Add(time.Second)) {
		t.Fatal("refused after a take made room")
	}
	later := t0.Add(earlyTTL + time.Millisecond)
	if got := e.take(id(1), later); got != nil {
		t.Fatalf("expired candidates handed out: %d", len(got))
	}
	if got := e.take(id(9999), later); len(got) != 1 {
		t.Fatalf("a younger session's candidate expired with the old ones: %d", len(got))
	}
	if e.total != 0 || len(e.sessions) != 0 {
		t.Fatalf("left %d candidates in %d sessions", e.total, len(e.sessions))
	}
	e.add(cand(5), later)
	e.drop(id(5))
	if e.total != 0 {
		t.Fatalf("drop left %d", e.total)
	}
}
