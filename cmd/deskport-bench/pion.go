package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// bareDataChannel measures pion's own baseline: two peer connections in this process with the
// library's default settings (only loopback candidates allowed, so the path stays on
// 127.0.0.1), one reliable ordered data channel, 64 KiB messages paced by the documented
// bufferedAmount/OnBufferedAmountLow pattern, and OnMessage on the receiver. It returns MB/s.
func bareDataChannel(ctx context.Context, total int64) (float64, error) {
	newPC := func() (*webrtc.PeerConnection, error) {
		var se webrtc.SettingEngine
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		return webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	}
	a, err := newPC()
	if err != nil {
		return 0, err
	}
	defer a.Close()
	b, err := newPC()
	if err != nil {
		return 0, err
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
	var got atomic.Int64
	done := make(chan struct{})
	b.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			if got.Add(int64(len(m.Data))) >= total {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		})
	})
	dc, err := a.CreateDataChannel("bulk", nil)
	if err != nil {
		return 0, err
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
		return 0, err
	}
	a.SetLocalDescription(offer)
	b.SetRemoteDescription(offer)
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		return 0, err
	}
	b.SetLocalDescription(answer)
	a.SetRemoteDescription(answer)
	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		return 0, errors.New("the bare data channel never opened")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	buf := make([]byte, msg)
	start := time.Now()
	for sent := int64(0); sent < total; sent += msg {
		for dc.BufferedAmount() > high {
			select {
			case <-drained:
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if err := dc.Send(buf); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("the bare data channel delivered %d of %d bytes", got.Load(), total)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
}
