// Package pipewire consumes a PipeWire video stream as a screen.Capturer: the way GNOME's Mutter
// (and the desktop portal) hand out the screen on Wayland. One thread loop, one connection and
// one stream live as long as the Capturer; the newest shared-memory frame is kept out of the
// pool until a newer one replaces it, and Capture hands over that buffer itself (a MemFd
// buffer, mapped a second time by the consumer: no copy), or copies only the part the stream's
// damage metadata says changed (a MemPtr buffer). The stream asks for at most Config.MaxFPS
// frames a second, and Frames announces each one. A producer like Mutter sends a buffer only
// when the screen changes, so a static screen costs nothing. See docs/wayland.md.
//
// It needs Linux, cgo and libpipewire-0.3; without them Open returns screen.ErrUnsupported, so
// the rest of deskport still builds with CGO_ENABLED=0.
package pipewire

import (
	"errors"
	"log/slog"
	"os"
	"time"
)

// Config names the stream to consume.
type Config struct {
	// Conn is a connection to the PipeWire daemon: a unix socket (see Dial) or the descriptor
	// the desktop portal's OpenPipeWireRemote returns. Open takes it over (it is closed with
	// the Capturer, or by Open on failure).
	Conn *os.File
	// Node is the stream's node id (Mutter's PipeWireStreamAdded signal, the portal's Start
	// reply).
	Node uint32
	// MaxFPS asks the producer for at most this many frames a second (the stream's
	// maxFramerate): the rate the host captures at. Mutter reads the whole screen back for
	// every frame it sends, so frames beyond it cost the compositor for nothing. Zero takes
	// what the producer offers (Mutter: the monitor's refresh rate).
	MaxFPS int
	// FirstFrame bounds how long Open waits for the first frame; zero means 10 s.
	FirstFrame time.Duration
	// Logger receives the negotiated format and failures; nil discards them.
	Logger *slog.Logger
}

var (
	// ErrClosed is returned by Capture after Close.
	ErrClosed = errors.New("pipewire: capturer is closed")
	// ErrStreamEnded means the producer stopped the stream or PipeWire went away; open a new
	// capture (a new screen-cast session) to go on.
	ErrStreamEnded = errors.New("pipewire: the screen stream ended")
	// ErrNoFrame means the stream was connected but no frame came in time. With Mutter that
	// happens when no session manager (WirePlumber) runs next to PipeWire: the stream is
	// announced but never linked. (WirePlumber exits at once, "Failed to connect to PipeWire",
	// when it starts before PipeWire's socket exists.)
	ErrNoFrame = errors.New("pipewire: no frame arrived; is a PipeWire session manager (wireplumber) running?")
)

// Timing is when a frame reached the consumer, for latency probes (Capturer.Timing).
type Timing struct {
	// Arrived is when PipeWire's loop thread dequeued the buffer (wall clock); zero before
	// the first frame. ArrivedMono is the same moment on CLOCK_MONOTONIC.
	Arrived     time.Time
	ArrivedMono time.Duration
	// PTS is the producer's timestamp in the buffer's SPA_META_Header (Mutter: CLOCK_MONOTONIC
	// when it recorded the frame), -1 without one.
	PTS time.Duration
	// Batch is how many whole frames the same process call dequeued: above 1, frames had
	// waited in the queue and all but the newest were skipped.
	Batch int
}
