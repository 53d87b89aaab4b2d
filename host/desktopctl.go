package host

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/deskport/deskport/desktopctl"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen"
)

// watch starts the session's screen: it joins the stream for key (desktop.join). ctx bounds
// the opening of capturers for this session (a GNOME screen cast waits for its first frame).
func (it *interactive) watch(ctx context.Context, key shareKey, write func([]byte, time.Duration) error) error {
	it.mu.Lock()
	it.openCtx = ctx
	it.mu.Unlock()
	s, v, err := it.a.desk.join(key, it.opener(ctx), write)
	if err != nil {
		return err
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	it.shared, it.view, it.write = s, v, write
	it.area.follow(s.area)
	it.streamReady.Do(func() { close(it.ready) })
	return nil
}

// viewer is the session's place in its current stream, nil once it stopped watching.
func (it *interactive) viewer() *screen.Viewer {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.view
}

// current is the stream the session watches, nil before it starts and after it stops.
func (it *interactive) current() *sharedStream {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.view == nil {
		return nil
	}
	return it.shared
}

// stopWatching leaves the stream (the last viewer out stops it and closes its capturer).
func (it *interactive) stopWatching() {
	it.mu.Lock()
	v := it.view
	it.view = nil
	it.mu.Unlock()
	if v != nil {
		v.Leave()
	}
}

// moveTo moves the session to the stream for the settings change makes of its current ones:
// the new stream is opened first (so a bad monitor index is an error and the session keeps its
// picture), then the session leaves the old one and joins the new, which starts it with a
// keyframe.
func (it *interactive) moveTo(change func(shareKey) shareKey) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.view == nil {
		return errNoStream
	}
	key := change(it.shared.key)
	if key == it.shared.key {
		return nil
	}
	open := it.opener(it.openCtx)
	if it.a.desk.backend == BackendMutter {
		return it.moveGNOMELocked(key, open) // desktop_mutter.go
	}
	if _, err := it.a.desk.shared(key, open); err != nil {
		return err
	}
	it.view.Leave()
	s, v, err := it.a.desk.join(key, open, it.write)
	if err != nil {
		it.view = nil
		return err
	}
	it.shared, it.view = s, v
	it.area.follow(s.area)
	select {
	case it.moved <- struct{}{}:
	default:
	}
	return nil
}

// switchMonitor moves the session's stream to another monitor (-1: the whole display).
func (it *interactive) switchMonitor(index int) error {
	if it.a.desk.backend == BackendPortal {
		return errPortalMonitors
	}
	return it.moveTo(func(k shareKey) shareKey { k.monitor = index; return k })
}

// opener opens the capturers of this session's streams: of the X display, or of the session's
// own GNOME screen cast (which its input shares).
func (it *interactive) opener(ctx context.Context) opener {
	return func(monitor int) (rectCapturer, error) {
		d := it.a.desk
		if d.backend == BackendPortal {
			return d.portal.capturer(ctx)
		}
		if d.backend != BackendMutter {
			return d.x11Capturer(monitor)
		}
		s, err := it.gnome.get(ctx, d)
		if err != nil {
			return nil, err
		}
		return s.CapturerFor(ctx, monitor) // its absolute pointer follows
	}
}

type streamError string

func (e streamError) Error() string { return string(e) }

const errNoStream = streamError("the screen is not being streamed to this session")

// handleDesktopControl serves the session's control stream: requests in, a hello and then stats once
// a second out.
func (it *interactive) handleDesktopControl(ctx context.Context, stream net.Conn, req mux.Request) {
	defer stream.Close()
	if len(req.Payload) != 1 || req.Payload[0] != desktopctl.Version {
		desktopctl.Write(stream, &desktopctl.Message{Type: desktopctl.TypeError, Error: "unsupported control protocol version"})
		return
	}
	select {
	case <-it.ready:
	case <-ctx.Done():
		return
	case <-time.After(10 * time.Second):
		desktopctl.Write(stream, &desktopctl.Message{Type: desktopctl.TypeError, Error: string(errNoStream)})
		return
	}
	var wmu sync.Mutex
	send := func(m *desktopctl.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = stream.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return desktopctl.Write(stream, m)
	}
	hello := &desktopctl.Message{Type: desktopctl.TypeHello}
	if mons, err := it.a.desk.monitors(); err == nil {
		for _, m := range mons {
			hello.Monitors = append(hello.Monitors, desktopctl.Monitor{Index: m.Index, Name: m.Name, Width: m.Width, Height: m.Height})
		}
	}
	if err := send(hello); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		it.reportStats(ctx, send)
	}()
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = stream.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		m, err := desktopctl.Read(stream)
		if err != nil {
			return
		}
		v := it.viewer()
		if v == nil {
			send(&desktopctl.Message{Type: desktopctl.TypeError, Error: string(errNoStream)})
			continue
		}
		switch m.Type {
		case desktopctl.TypeKeyframe:
			v.RequestKeyframe()
		case desktopctl.TypeQuality:
			fps, rate := m.FPS, m.MaxBitrate
			if p, ok := desktopctl.Presets[m.Preset]; ok {
				fps, rate = p.FPS, p.MaxBitrate
			}
			// Other viewers keep their settings: the session moves to the stream for its new
			// ones (shared with viewers that chose the same).
			hostMax := it.a.desk.maxBitrate()
			err := it.moveTo(func(k shareKey) shareKey {
				if fps > 0 {
					k.fps = min(max(fps, 1), 120)
				}
				if rate > 0 {
					k.maxBitrate = min(max(rate, 100_000), hostMax)
				}
				return k
			})
			if err != nil {
				send(&desktopctl.Message{Type: desktopctl.TypeError, Error: err.Error()})
				continue
			}
			it.log.Info("viewer changed the quality", "preset", m.Preset, "fps", fps, "max_bitrate", rate)
		case desktopctl.TypeMonitor:
			if err := it.switchMonitor(*m.Monitor); err != nil {
				send(&desktopctl.Message{Type: desktopctl.TypeError, Error: err.Error()})
			} else {
				it.log.Info("viewer switched monitor", "monitor", *m.Monitor)
			}
		case desktopctl.TypeStats:
			if m.Stats != nil {
				it.log.Debug("viewer stats", "fps", m.Stats.FPS, "bitrate", m.Stats.BitrateBps, "rtt_ms", m.Stats.RTTMillis)
			}
		}
	}
}

// reportStats sends the stream's figures once a second.
func (it *interactive) reportStats(ctx context.Context, send func(*desktopctl.Message) error) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastEnc, lastBytes int64
	var lastStream *screen.Stream
	if cur := it.current(); cur != nil {
		// A shared stream's counters started with its first viewer.
		lastStream = cur.fan.Stream()
		lastEnc, lastBytes = lastStream.Encoded.Load(), lastStream.Bytes.Load()
	}
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur := it.current()
			if cur == nil {
				continue
			}
			st := cur.fan.Stream()
			if st != lastStream {
				// Moved to another stream: its counters start elsewhere.
				lastStream, lastEnc, lastBytes, last = st, st.Encoded.Load(), st.Bytes.Load(), now
				continue
			}
			enc, bytes := st.Encoded.Load(), st.Bytes.Load()
			dt := now.Sub(last).Seconds()
			_, _, w, h := it.area.get()
			stats := &desktopctl.Stats{FPS: float64(enc-lastEnc) / dt, BitrateBps: int64(float64(bytes-lastBytes) * 8 / dt),
				Width: w, Height: h, Keyframes: st.Keyframes.Load()}
			lastEnc, lastBytes, last = enc, bytes, now
			if err := send(&desktopctl.Message{Type: desktopctl.TypeStats, Stats: stats}); err != nil {
				return
			}
		}
	}
}
