package session

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

type sentPacket struct {
	seq uint16
	at  time.Time
	n   int
}

// recordingWriter is the RTP writer below the pacer (in a session, the SRTP stream).
type recordingWriter struct {
	mu   sync.Mutex
	sent []sentPacket
}

func (w *recordingWriter) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, sentPacket{seq: h.SequenceNumber, at: time.Now(), n: h.MarshalSize() + len(payload)})
	return h.MarshalSize() + len(payload), nil
}

func (w *recordingWriter) packets() []sentPacket {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sentPacket(nil), w.sent...)
}

// fakeResend stands for pion's NACK responder's resend tracker.
type fakeResend struct {
	owners atomic.Int32
	sent   chan bool
}

func (r *fakeResend) Retain() { r.owners.Add(1) }
func (r *fakeResend) Release(sent bool) {
	if r.owners.Add(-1) == 0 {
		r.sent <- sent
	}
}

type resendKey struct{}

// TestVideoPacerSleepsWhenIdle counts the pacer goroutine's wake-ups in a synctest bubble: none
// while nothing is written (a static screen), and a frame's packets paced at 1.5 × the target
// in order, after which it sleeps again.
func TestVideoPacerSleepsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bitrate = 1_000_000
		p := newVideoPacer(bitrate)
		w := &recordingWriter{}
		p.AddStream(1, w)

		time.Sleep(time.Minute)
		if got := p.runs.Load(); got != 0 {
			t.Errorf("a minute with nothing to send: %d wake-ups, want 0", got)
		}

		// A 60 kB frame (a keyframe) after the pause leaves at once, as with pion's pacer (the
		// pause is its budget); a second one 10 ms later goes at 1.5 Mbit/s, in order.
		payload := make([]byte, 1200)
		for i := range 50 {
			if _, err := p.Write(&rtp.Header{SSRC: 1, SequenceNumber: uint16(i)}, payload, nil); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if n := len(w.packets()); n != 50 {
			t.Errorf("a frame after a minute's pause: %d of 50 packets left at once", n)
		}
		time.Sleep(10 * time.Millisecond)
		start := time.Now()
		for i := 50; i < 100; i++ {
			if _, err := p.Write(&rtp.Header{SSRC: 1, SequenceNumber: uint16(i)}, payload, nil); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		sent := w.packets()
		if len(sent) != 100 {
			t.Fatalf("%d of 100 packets sent", len(sent))
		}
		total := 0
		for i, s := range sent {
			if s.seq != uint16(i) {
				t.Fatalf("packet %d sent as number %d: not in order", s.seq, i)
			}
			if i >= 50 {
				total += s.n
			}
		}
		// 10 ms of budget to start with; each round may overshoot by a packet.
		minSpread := time.Duration(float64(total-2*sent[0].n)*8/(videoPacerGain*bitrate)*float64(time.Second)) - 10*time.Millisecond
		if d := sent[len(sent)-1].at.Sub(start); d < minSpread-videoPacerTick || d > minSpread+2*videoPacerTick {
			t.Errorf("%d bytes at %v bit/s went out over %v, want about %v", total, videoPacerGain*bitrate, d, minSpread)
		}
		runs := p.runs.Load()
		time.Sleep(time.Minute)
		if got := p.runs.Load() - runs; got != 0 {
			t.Errorf("a minute after the frame: %d wake-ups, want 0", got)
		}

		// A retransmission is retained while queued and released as sent once written.
		r := &fakeResend{sent: make(chan bool, 1)}
		r.owners.Store(1)
		if _, err := p.Write(&rtp.Header{SSRC: 1, SequenceNumber: 99}, payload, interceptor.Attributes{resendKey{}: r}); err != nil {
			t.Fatal(err)
		}
		r.Release(true) // the responder's own reference, as pion's does after Write
		synctest.Wait()
		select {
		case ok := <-r.sent:
			if !ok {
				t.Errorf("a written retransmission was released as not sent")
			}
		default:
			t.Errorf("a written retransmission was not released")
		}

		// Close drops what is queued (released as not sent) and ends the goroutine.
		p.SetTargetBitrate(8_000) // 1.5 kB/s: after the first packet the others wait
		time.Sleep(10 * time.Millisecond)
		for i := range 2 {
			if _, err := p.Write(&rtp.Header{SSRC: 1, SequenceNumber: uint16(100 + i)}, payload, nil); err != nil {
				t.Fatal(err)
			}
		}
		r = &fakeResend{sent: make(chan bool, 1)}
		r.owners.Store(1)
		if _, err := p.Write(&rtp.Header{SSRC: 1, SequenceNumber: 102}, payload, interceptor.Attributes{resendKey{}: r}); err != nil {
			t.Fatal(err)
		}
		r.Release(true)
		synctest.Wait()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if ok := <-r.sent; ok {
			t.Errorf("a retransmission dropped by Close was released as sent")
		}
		if _, err := p.Write(&rtp.Header{SSRC: 1}, payload, nil); err == nil {
			t.Errorf("Write after Close succeeded")
		}
	})
}
