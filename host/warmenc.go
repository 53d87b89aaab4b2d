package host

import (
	"sync"
	"time"

	"github.com/deskport/deskport/screen"
)

// warmFor is how long an encoder made ahead of need waits for its stream before it is closed.
var warmFor = 30 * time.Second

// warmEncoder is one encoder made while a viewer connects and authenticates, for the stream
// that viewer will most likely start: the default monitor at its present size. Making a VP8
// encoder clears tens of MiB (libvpx's frame and token buffers: 90–130 ms at 720p and
// 200–420 ms at 1080p on a machine whose page faults are costly, docs/bench.md), and its
// first encode touches them again (120 ms at 1080p); done after authentication, both stand
// in front of the first frame. It holds no pixels: the capturer opens
// only for an authenticated viewer. Only one exists at a time and it is closed when nobody
// claims it within warmFor, so a stranger opening sessions costs the host at most one
// encoder's set-up per warmFor.
type warmEncoder struct {
	w, h  int
	ready chan struct{} // closed once enc and err are set
	enc   screen.Encoder
	err   error
	timer *time.Timer
}

// warmSlot is the desktop's one warm encoder.
type warmSlot struct {
	mu      sync.Mutex
	enc     *warmEncoder
	warming bool // a prewarm is finding the size
	closed  bool
}

// prewarm starts making an encoder for the default stream, unless that stream runs already (a
// second viewer joins it; an ICE restart keeps it), an encoder is warm or being made, or the
// backend knows the size only from its first frame (Mutter, the portal).
func (d *desktop) prewarm() {
	if d.backend != BackendX11 {
		return
	}
	key := d.defaultKey()
	d.mu.Lock()
	_, running := d.streams[key]
	d.mu.Unlock()
	if running {
		return
	}
	ws := &d.warm
	ws.mu.Lock()
	if ws.closed || ws.enc != nil || ws.warming {
		ws.mu.Unlock()
		return
	}
	ws.warming = true
	ws.mu.Unlock()
	go func() {
		_, _, w, h := d.newAreaFor(key.monitor).get()
		ws.mu.Lock()
		ws.warming = false
		if ws.closed || ws.enc != nil || w <= 0 || h <= 0 {
			ws.mu.Unlock()
			return
		}
		we := &warmEncoder{w: w, h: h, ready: make(chan struct{})}
		ws.enc = we
		ws.mu.Unlock()
		start := time.Now()
		we.enc, we.err = d.makeEncoder(w, h, key.maxBitrate)
		if we.err == nil {
			// One black frame, thrown away: the first encode touches the encoder's
			// buffers for the first time (121 ms of 135 at 1080p VP8, against 12 for the
			// next frames). The stream's first frame is a keyframe, so nothing of it stays.
			if _, _, err := we.enc.Encode(&screen.Frame{Width: w, Height: h, Stride: 4 * w, Pix: make([]byte, 4*w*h), Changed: true}, true); err != nil {
				we.enc.Close()
				we.enc, we.err = nil, err
			}
		}
		close(we.ready)
		if we.err != nil {
			d.log.Debug("no warm encoder", "err", we.err)
			ws.drop(we)
			return
		}
		d.log.Debug("encoder made ahead of the stream", "width", w, "height", h, "took", time.Since(start).Round(time.Millisecond))
		ws.mu.Lock()
		if ws.enc == we {
			we.timer = time.AfterFunc(warmFor, func() { ws.drop(we) })
		}
		ws.mu.Unlock()
	}()
}

// take returns the warm encoder if it is for w×h (waiting for it if it is still being made),
// else nil.
func (ws *warmSlot) take(w, h int) screen.Encoder {
	ws.mu.Lock()
	we := ws.enc
	if we == nil || we.w != w || we.h != h {
		ws.mu.Unlock()
		return nil
	}
	ws.enc = nil
	if we.timer != nil {
		we.timer.Stop()
	}
	ws.mu.Unlock()
	<-we.ready
	if we.err != nil {
		return nil
	}
	return we.enc
}

// drop closes we if it is still the slot's.
func (ws *warmSlot) drop(we *warmEncoder) {
	ws.mu.Lock()
	if ws.enc != we {
		ws.mu.Unlock()
		return
	}
	ws.enc = nil
	ws.mu.Unlock()
	if we.enc != nil {
		we.enc.Close()
	}
}

// close closes the warm encoder and makes no more.
func (ws *warmSlot) close() {
	ws.mu.Lock()
	ws.closed = true
	we := ws.enc
	ws.enc = nil
	ws.mu.Unlock()
	if we != nil {
		if we.timer != nil {
			we.timer.Stop()
		}
		<-we.ready
		if we.enc != nil {
			we.enc.Close()
		}
	}
}
