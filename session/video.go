package session

import (
	"fmt"
	"strings"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
)

// VideoConfig turns on the video track. On the host it describes the screen stream it sends;
// on the viewer it asks for one (a receive-only transceiver) in the offer.
type VideoConfig struct {
	// Codec is "vp8" or "h264" (the host's choice; the viewer accepts either).
	Codec string
	// InitialBitrate, MinBitrate and MaxBitrate bound the congestion controller (GCC over
	// transport-wide congestion control feedback), in bits per second.
	InitialBitrate, MinBitrate, MaxBitrate int
}

func (v *VideoConfig) capability() (webrtc.RTPCodecCapability, error) {
	switch strings.ToLower(v.Codec) {
	case "", "vp8":
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, nil
	case "h264":
		// Constrained baseline, packetization mode 1: what every browser decodes.
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, nil
	default:
		return webrtc.RTPCodecCapability{}, fmt.Errorf("session: unknown codec %q (use vp8 or h264)", v.Codec)
	}
}

// mediaAPI builds the MediaEngine and interceptors for a session with video: the default codecs,
// NACK, RTCP reports, and on the sending side transport-wide congestion control with GCC, whose
// estimate drives the encoder's bitrate.
func (c *Config) mediaAPI(se *webrtc.SettingEngine) (*webrtc.API, <-chan cc.BandwidthEstimator, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, nil, err
	}
	ir := &interceptor.Registry{}
	estimators := make(chan cc.BandwidthEstimator, 1)
	v := c.Video
	if v.MaxBitrate > 0 {
		initial := v.InitialBitrate
		if initial <= 0 {
			initial = min(v.MaxBitrate, 2_000_000)
		}
		minRate := v.MinBitrate
		if minRate <= 0 {
			minRate = min(150_000, v.MaxBitrate)
		}
		ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
			// pion's own pacer ticks every 5 ms for the whole connection; ours sleeps while
			// nothing is queued (videopacer.go).
			return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(initial),
				gcc.SendSideBWEMinBitrate(minRate), gcc.SendSideBWEMaxBitrate(v.MaxBitrate),
				gcc.SendSideBWEPacer(newVideoPacer(initial)))
		})
		if err != nil {
			return nil, nil, err
		}
		ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) {
			select {
			case estimators <- e:
			default:
			}
		})
		ir.Add(ccf)
		if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, ir); err != nil {
			return nil, nil, err
		}
	}
	register := webrtc.RegisterDefaultInterceptors
	if v.MaxBitrate > 0 {
		register = registerSenderInterceptors
	}
	if err := register(m, ir); err != nil {
		return nil, nil, err
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(*se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), estimators, nil
}

// registerSenderInterceptors registers pion's default interceptors for a peer that only sends
// video (the host): all but the NACK generator, which asks for the retransmission of received
// RTP, of which the host has none; its loop woke the host 10 times a second for nothing.
func registerSenderInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	ir.Add(responder)
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return err
	}
	if err := webrtc.ConfigureStatsInterceptor(ir); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSender(m, ir)
}

// Keyframes reports the viewer's picture-loss and full-intra-request feedback, read from the
// sender's RTCP: each is a request for a keyframe.
func readKeyframeRequests(sender *webrtc.RTPSender, out chan<- struct{}, done <-chan struct{}) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				select {
				case out <- struct{}{}:
				case <-done:
					return
				default: // one pending request is enough
				}
			}
		}
	}
}

// RequestKeyframe asks the host for a keyframe on a received track (a picture loss indication).
func (c *ViewerConn) RequestKeyframe(t *webrtc.TrackRemote) error {
	return c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
}
