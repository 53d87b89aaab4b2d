package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// The bare pion baseline is pion/webrtc as released (go.mod pins the release the fork in
// tempfork/webrtc is made from), not deskport's carried copy: issue 15 compares deskport with the
// library it is built on, so what the forks save must show, and the forks' changes to defaults
// (a larger mux buffer, the loss response) must not move the baseline.

// barePion names the baseline's rows.
var barePion = "bare pion data channel (" + pionRelease() + ", defaults)"

// pionRelease is the pion/webrtc release the baseline runs, from the binary's build information.
func pionRelease() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/pion/webrtc/v4" {
				return d.Version
			}
		}
	}
	return "release unknown"
}

// bareDataChannel measures pion's own baseline: two peer connections in this process with the
// library's default settings (only loopback candidates allowed, so the path stays on
// 127.0.0.1), one reliable ordered data channel, 64 KiB messages paced by the documented
// bufferedAmount/OnBufferedAmountLow pattern, and OnMessage on the receiver. It returns MB/s,
// from the first Send to the last byte received.
func bareDataChannel(ctx context.Context, total int64) (float64, error) {
	t, start, err := bareDataChannelOn(ctx, total, nil, nil, nil, 5*time.Minute)
	if err != nil {
		return 0, err
	}
	if t.bytes < total {
		return 0, fmt.Errorf("the bare data channel delivered %d of %d bytes", t.bytes, total)
	}
	return float64(total) / t.last.Sub(start).Seconds() / 1e6, nil
}

// pionOverPath is the same bare data channel over a simulated path (see newPathNets).
func pionOverPath(ctx context.Context, p longPath, seed uint64, total int64, limit time.Duration) (transfer, error) {
	a, b, stop, err := newPathNets(p, seed, nil)
	if err != nil {
		return transfer{}, err
	}
	defer stop()
	t, _, err := bareDataChannelOn(ctx, total, a, b, nil, limit)
	return t, err
}

// bareDataChannelOn sends total bytes from one default peer connection to another over the
// given nets (nil: the real network, loopback only) for at most limit after the channel opens.
// With ips, each end offers only the candidates of its address (ips[0] for netA's end, ips[1]
// for netB's) on the real network of its net. It returns what the receiver got and when the
// first Send happened.
func bareDataChannelOn(ctx context.Context, total int64, netA, netB transport.Net, ips []string, limit time.Duration) (transfer, time.Time, error) {
	var t transfer
	var start time.Time
	newPC := func(n transport.Net) (*webrtc.PeerConnection, error) {
		var se webrtc.SettingEngine
		if ips != nil {
			ip := ips[0]
			if n == netB {
				ip = ips[1]
			}
			se.SetNet(n)
			se.SetIPFilter(func(a net.IP) bool { return a.String() == ip })
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		} else if n == nil {
			se.SetIncludeLoopbackCandidate(true)
			se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		} else {
			se.SetNet(n)
			// vnet has no multicast, so ice reports at Error that it cannot start mDNS (which
			// these candidates never need): ice logs nothing in these runs.
			lf := logging.NewDefaultLoggerFactory()
			lf.ScopeLevels["ice"] = logging.LogLevelDisabled
			se.LoggerFactory = lf
		}
		return webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	}
	a, err := newPC(netA)
	if err != nil {
		return t, start, err
	}
	defer a.Close()
	b, err := newPC(netB)
	if err != nil {
		return t, start, err
	}
	defer b.Close()
	a.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			b.AddICECandidate(c.ToJSON())
		}
	})
	b.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			a.AddICECandidate(c.ToJSON())
		}
	})
	var mu sync.Mutex // guards rx
	rx := transfer{half: total / 2}
	done := make(chan struct{})
	b.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			mu.Lock()
			defer mu.Unlock()
			rx.add(len(m.Data))
			if rx.bytes >= total {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		})
	})
	snapshot := func() transfer {
		mu.Lock()
		defer mu.Unlock()
		return rx
	}
	dc, err := a.CreateDataChannel("bulk", nil)
	if err != nil {
		return t, start, err
	}
	const msg = 64 << 10
	const high, low = 1 << 20, 512 << 10
	drained := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(low)
	dc.OnBufferedAmountLow(func() {
		select {
		case drained <- struct{}{}:
		default:
		}
	})
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	offer, err := a.CreateOffer(nil)
	if err != nil {
		return t, start, err
	}
	a.SetLocalDescription(offer)
	b.SetRemoteDescription(offer)
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		return t, start, err
	}
	b.SetLocalDescription(answer)
	a.SetRemoteDescription(answer)
	select {
	case <-opened:
	case <-time.After(60 * time.Second):
		return t, start, errors.New("the bare data channel never opened")
	case <-ctx.Done():
		return t, start, ctx.Err()
	}
	buf := make([]byte, msg)
	start = time.Now()
	lctx, lcancel := context.WithTimeout(ctx, limit)
	defer lcancel()
send:
	for sent := int64(0); sent < total; sent += msg {
		for dc.BufferedAmount() > high {
			select {
			case <-drained:
			case <-time.After(50 * time.Millisecond):
			case <-lctx.Done():
				if ctx.Err() != nil {
					return snapshot(), start, ctx.Err()
				}
				break send
			}
		}
		if err := dc.Send(buf[:min(msg, total-sent)]); err != nil {
			return snapshot(), start, err
		}
	}
	select {
	case <-done:
	case <-lctx.Done():
	}
	return snapshot(), start, ctx.Err()
}
