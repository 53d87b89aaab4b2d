package host

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/deskport/deskport/control"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/tunnel"
)

// setStream records the session's running screen stream and its capturer, for the control
// stream (monitor switch, quality, stats).
func (it *interactive) setStream(st *screen.Stream, c trackingCapturer) {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.stream, it.capt = st, c
	it.streamReady.Do(func() { close(it.ready) })
}

// closeStream closes the capturer in use when the stream ends.
func (it *interactive) closeStream() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.capt.rectCapturer != nil {
		it.capt.Close()
	}
	it.stream = nil
}

// switchMonitor moves the session's stream to another monitor (-1: the whole display).
func (it *interactive) switchMonitor(index int) error {
	if it.a.desk.backend == BackendMutter {
		return errMutterMonitors
	}
	c, err := it.a.desk.x11Capturer(index)
	if err != nil {
		return err
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.stream == nil {
		c.Close()
		return errNoStream
	}
	next := trackingCapturer{rectCapturer: c, area: it.area}
	it.capt = next
	it.stream.SetCapturer(next, func(old screen.Capturer) { old.Close() })
	return nil
}

type streamError string

func (e streamError) Error() string { return string(e) }

const errNoStream = streamError("the screen is not being streamed to this session")

// handleControl serves the session's control stream: requests in, a hello and then stats once
// a second out.
func (it *interactive) handleControl(ctx context.Context, stream net.Conn, req tunnel.Request) {
	defer stream.Close()
	if len(req.Payload) != 1 || req.Payload[0] != control.Version {
		control.Write(stream, &control.Message{Type: control.TypeError, Error: "unsupported control protocol version"})
		return
	}
	select {
	case <-it.ready:
	case <-ctx.Done():
		return
	case <-time.After(10 * time.Second):
		control.Write(stream, &control.Message{Type: control.TypeError, Error: string(errNoStream)})
		return
	}
	var wmu sync.Mutex
	send := func(m *control.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = stream.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return control.Write(stream, m)
	}
	hello := &control.Message{Type: control.TypeHello}
	if mons, err := it.a.desk.monitors(); err == nil {
		for _, m := range mons {
			hello.Monitors = append(hello.Monitors, control.Monitor{Index: m.Index, Name: m.Name, Width: m.Width, Height: m.Height})
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
		m, err := control.Read(stream)
		if err != nil {
			return
		}
		it.mu.Lock()
		st := it.stream
		it.mu.Unlock()
		if st == nil {
			send(&control.Message{Type: control.TypeError, Error: string(errNoStream)})
			continue
		}
		switch m.Type {
		case control.TypeKeyframe:
			st.RequestKeyframe()
		case control.TypeQuality:
			fps, rate := m.FPS, m.MaxBitrate
			if p, ok := control.Presets[m.Preset]; ok {
				fps, rate = p.FPS, p.MaxBitrate
			}
			if fps > 0 {
				st.SetFPS(fps)
			}
			if rate > 0 {
				st.SetMaxBitrate(rate)
			}
			it.log.Info("viewer changed the quality", "preset", m.Preset, "fps", fps, "max_bitrate", rate)
		case control.TypeMonitor:
			if err := it.switchMonitor(*m.Monitor); err != nil {
				send(&control.Message{Type: control.TypeError, Error: err.Error()})
			} else {
				it.log.Info("viewer switched monitor", "monitor", *m.Monitor)
			}
		case control.TypeStats:
			if m.Stats != nil {
				it.log.Debug("viewer stats", "fps", m.Stats.FPS, "bitrate", m.Stats.BitrateBps, "rtt_ms", m.Stats.RTTMillis)
			}
		}
	}
}

// reportStats sends the stream's figures once a second.
func (it *interactive) reportStats(ctx context.Context, send func(*control.Message) error) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastEnc, lastBytes int64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			it.mu.Lock()
			st := it.stream
			it.mu.Unlock()
			if st == nil {
				continue
			}
			enc, bytes := st.Encoded.Load(), st.Bytes.Load()
			dt := now.Sub(last).Seconds()
			_, _, w, h := it.area.get()
			stats := &control.Stats{FPS: float64(enc-lastEnc) / dt, BitrateBps: int64(float64(bytes-lastBytes) * 8 / dt),
				Width: w, Height: h, Keyframes: st.Keyframes.Load()}
			lastEnc, lastBytes, last = enc, bytes, now
			if err := send(&control.Message{Type: control.TypeStats, Stats: stats}); err != nil {
				return
			}
		}
	}
}
