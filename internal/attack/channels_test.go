package attack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/datachannel"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/session"
)

// TestOnlyNegotiatedChannels: an authenticated viewer (its own pion peer, running the real
// auth.Viewer) also announces an in-band data channel and sends a video track. The host must
// close the channel without reading it and must not take the media: a port-forward session's
// answer rejects the video section, so no RTP is ever delivered.
func TestOnlyNegotiatedChannels(t *testing.T) {
	hostKey, viewerKey := newKey(t), newKey(t)
	hc := auth.HostConfig{Key: hostKey.priv, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
		return auth.Options{}, bytes.Equal(k, viewerKey.pub)
	}}
	var extraErr error
	var extraWrote int
	var neverOpened bool
	peer, herr := rawViewer(t, hostKey.id, hc, rawOptions{extra: []string{"evil"}}, func(ctx context.Context, p *rawPeer, ch datachannel.ReadWriteCloserDeadliner, b auth.Binding) {
		if _, err := auth.Viewer(ch, b, auth.ViewerConfig{Key: viewerKey.priv}); err != nil {
			t.Errorf("auth: %v", err)
			return
		}
		// The in-band channel: once open, write to it and wait for the host to reset it.
		select {
		case evil := <-p.extra[0]:
			for range 10 {
				if _, err := evil.Write([]byte("input for a handler that must not exist")); err == nil {
					extraWrote++
				}
			}
			evil.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, extraErr = readMsg(evil)
			evil.SetReadDeadline(time.Now())
			evil.Close()
		case <-time.After(5 * time.Second):
			// pion acknowledges an announced channel before the application sees it, so it
			// opens even when the host closes it at once; never opening leaves the reset
			// unchecked.
			neverOpened = true
		}
	})
	if herr != nil || peer == nil {
		t.Fatalf("host refused the authenticated viewer: %v", herr)
	}
	if neverOpened {
		t.Fatal("the in-band channel never opened within 5 s, so whether the host resets it went unchecked")
	}
	if extraErr == nil {
		t.Error("the host kept the in-band data channel open (no reset within 5 s)")
	}
	t.Logf("in-band channel: %d writes, then the read ended with %q", extraWrote, errString(extraErr))
}

// TestViewerMediaRefused: a viewer offers a video track of its own to a port-forward host. The
// host's MediaEngine is empty, so its answer rejects the section; the viewer's pion cannot even
// start sending ("codec is not supported by remote"), and the host never receives a track.
func TestViewerMediaRefused(t *testing.T) {
	hostKey := newKey(t)
	vs, hs := signalPair()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := newRawPeer(t, vs, rawOptions{media: true})
	herr := make(chan error, 1)
	go func() {
		conn, err := session.Accept(ctx, hs, hostKey.id, session.Config{LoopbackOnly: true, HandshakeTimeout: 3 * time.Second}, auth.HostConfig{Key: hostKey.priv})
		if conn != nil {
			conn.Close()
		}
		herr <- err
	}()
	_, err := p.offer(ctx)
	p.Close()
	if err := <-herr; err == nil {
		t.Error("the host accepted a session from an unauthenticated viewer")
	}
	video := mediaSection(p.answerSDP, "video")
	if video == "" {
		t.Fatalf("the host's answer has no video section:\n%s", p.answerSDP)
	}
	if !strings.HasPrefix(video, "m=video 0 ") && !strings.Contains(video, "a=inactive") {
		t.Errorf("the host accepted the viewer's video:\n%s", video)
	}
	t.Logf("the host answered the viewer's video with %q (viewer: %v)", strings.SplitN(video, "\r\n", 2)[0], err)
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// mediaSection returns the SDP media section of kind, or "".
func mediaSection(sdp, kind string) string {
	i := strings.Index(sdp, "m="+kind+" ")
	if i < 0 {
		return ""
	}
	rest := sdp[i:]
	if j := strings.Index(rest[2:], "\r\nm="); j >= 0 {
		rest = rest[:j+4]
	}
	return rest
}
