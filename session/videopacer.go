package session

import (
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/rtp"
)

// videoPacerGain and videoPacerTick are pion's LeakyBucketPacer's: the bucket drains at 1.5 ×
// GCC's target bitrate, and a queue that the budget did not empty waits 5 ms for more.
const (
	videoPacerGain = 1.5
	videoPacerTick = 5 * time.Millisecond
)

var _ gcc.Pacer = (*videoPacer)(nil)

// videoPacer is GCC's pacer for the video track. It paces as pion's LeakyBucketPacer does (a
// packet may leave when the time since the last one sent, at 1.5 × the target bitrate, buys a
// byte, so a frame after a pause leaves at once and only a backlog is spread; FIFO across
// streams), but its goroutine sleeps while nothing is queued instead of
// ticking every 5 ms for the life of the connection: on a static screen that ticker was half of
// the host's wake-ups (docs/bench.md, "Static screen"). A packet that arrives with budget to
// spare leaves at once rather than at the next tick.
type videoPacer struct {
	mu      sync.Mutex
	rate    float64 // bits per second the bucket drains at
	queue   []pacedPacket
	free    [][]byte // payload buffers to reuse
	writers map[uint32]interceptor.RTPWriter
	// budget is what the current round may still send, in bytes, until windowEnd: a round's
	// budget is the time since the previous round began, at the rate (a tick's worth while a
	// backlog drains; a pause's worth for the first packets after it), the same for every
	// packet that arrives within a tick, as if they had waited for pion's next tick together.
	// A round that overshot carries the excess into the next; a surplus is not kept.
	budget    int
	lastRound time.Time
	windowEnd time.Time
	closed    bool

	wake   chan struct{} // one pending wake-up: the queue was empty and got a packet
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when run has returned

	// runs counts the goroutine's wake-ups, for tests.
	runs atomic.Int64
}

type pacedPacket struct {
	header  rtp.Header
	payload []byte
	attrs   interceptor.Attributes
	resend  resendTracker
}

// resendTracker is what pion's NACK responder puts in a retransmission's attributes (an
// internal type of pion/interceptor): a writer that holds the packet for later retains it, and
// releases it once written, so the responder knows when (and whether) the resend went out.
type resendTracker interface {
	Retain()
	Release(sent bool)
}

func newVideoPacer(initialBitrate int) *videoPacer {
	p := &videoPacer{
		rate:    videoPacerGain * float64(initialBitrate),
		writers: map[uint32]interceptor.RTPWriter{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	go p.run()
	return p
}

// AddStream registers the writer of one SSRC.
func (p *videoPacer) AddStream(ssrc uint32, writer interceptor.RTPWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writers[ssrc] = writer
}

// SetTargetBitrate sets GCC's target; the bucket drains at 1.5 × it.
func (p *videoPacer) SetTargetBitrate(bps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = videoPacerGain * float64(bps)
}

// Write queues a copy of the packet and wakes the pacer if it sleeps.
func (p *videoPacer) Write(header *rtp.Header, payload []byte, attributes interceptor.Attributes) (int, error) {
	var resend resendTracker
	for _, v := range attributes {
		if r, ok := v.(resendTracker); ok {
			resend = r
			break
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, io.ErrClosedPipe
	}
	var buf []byte
	if n := len(p.free); n > 0 {
		buf, p.free = p.free[n-1][:0], p.free[:n-1]
	}
	if resend != nil {
		resend.Retain()
	}
	p.queue = append(p.queue, pacedPacket{
		header: header.Clone(), payload: append(buf, payload...), attrs: maps.Clone(attributes), resend: resend,
	})
	first := len(p.queue) == 1
	p.mu.Unlock()
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return header.MarshalSize() + len(payload), nil
}

// run sends the queue within the budget, waits a tick while packets remain, and sleeps while
// none do.
func (p *videoPacer) run() {
	defer close(p.exited)
	t := time.NewTimer(videoPacerTick)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-t.C:
		}
		p.runs.Add(1)
		if p.send() {
			p.mu.Lock()
			t.Reset(time.Until(p.windowEnd))
			p.mu.Unlock()
		}
	}
}

// send writes queued packets while the round's budget lasts and reports whether any remain;
// run then waits until the round ends.
func (p *videoPacer) send() (more bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if !now.Before(p.windowEnd) {
		p.budget = min(p.budget, 0) + int(now.Sub(p.lastRound).Seconds()*p.rate/8)
		p.lastRound, p.windowEnd = now, now.Add(videoPacerTick)
	}
	for len(p.queue) > 0 && p.budget > 0 && !p.closed {
		pkt := p.queue[0]
		p.queue[0] = pacedPacket{}
		p.queue = p.queue[1:]
		w := p.writers[pkt.header.SSRC]
		p.mu.Unlock()
		var err error
		if w != nil {
			_, err = w.Write(&pkt.header, pkt.payload, pkt.attrs)
		}
		if pkt.resend != nil {
			pkt.resend.Release(w != nil && err == nil)
		}
		p.mu.Lock()
		if w != nil {
			p.budget -= pkt.header.MarshalSize() + len(pkt.payload)
		}
		if len(p.free) < 64 {
			p.free = append(p.free, pkt.payload)
		}
	}
	if len(p.queue) == 0 {
		p.queue = nil // the sliced-off array goes; a frame's packets make a new one
		return false
	}
	return true
}

// Close stops the pacer; queued packets are dropped (their resends released as not sent).
func (p *videoPacer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.exited
		return nil
	}
	p.closed = true
	queue := p.queue
	p.queue = nil
	close(p.done)
	p.mu.Unlock()
	for _, pkt := range queue {
		if pkt.resend != nil {
			pkt.resend.Release(false)
		}
	}
	<-p.exited
	return nil
}
