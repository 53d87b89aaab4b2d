//go:build linux && cgo

package host

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen"
	"github.com/deskport/deskport/screen/xvfb"
)

// warmOf waits until the desktop's warm encoder is made and returns it (nil if none comes).
func warmOf(t *testing.T, d *desktop) *warmEncoder {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d.warm.mu.Lock()
		we, warming := d.warm.enc, d.warm.warming
		d.warm.mu.Unlock()
		if we != nil {
			<-we.ready
			return we
		}
		if !warming {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the warm encoder was not made in 20 s")
	return nil
}

// TestWarmEncoderGoesToTheStream: an encoder made while a viewer authenticates is the one the
// stream of that size gets, once; a stream of another size does not take it; one nobody claims
// is closed after warmFor; none is made while the default stream runs.
func TestWarmEncoderGoesToTheStream(t *testing.T) {
	testenv.LookPath(t, "Xvfb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d, err := startDesktop(ctx, DesktopConfig{Display: srv.Display(), Monitor: -1, Codec: screen.CodecVP8, FPS: 30}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()

	d.prewarm()
	d.prewarm() // a second viewer meanwhile: still one encoder
	we := warmOf(t, d)
	if we == nil || we.err != nil || we.enc == nil {
		t.Fatalf("no warm encoder: %+v", we)
	}
	if we.w != 640 || we.h != 480 {
		t.Fatalf("warm encoder is %dx%d, want the screen's 640x480", we.w, we.h)
	}
	if enc, err := d.newEncoder(320, 240, 500_000); err != nil {
		t.Fatal(err)
	} else {
		if enc == we.enc {
			t.Fatal("a 320x240 stream got the 640x480 warm encoder")
		}
		enc.Close()
	}
	enc, err := d.newEncoder(640, 480, 500_000)
	if err != nil {
		t.Fatal(err)
	}
	if enc != we.enc {
		t.Fatal("the stream made a new encoder instead of taking the warm one")
	}
	// The warm encoder's first frame for the stream is a keyframe of the real picture.
	pix := make([]byte, 4*640*480)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	data, key, err := enc.Encode(&screen.Frame{Width: 640, Height: 480, Stride: 4 * 640, Pix: pix, Changed: true}, true)
	if err != nil || !key || len(data) == 0 {
		t.Fatalf("first encode with the warm encoder: %d bytes, key %v, err %v", len(data), key, err)
	}
	enc.Close()
	if again, err := d.newEncoder(640, 480, 500_000); err != nil {
		t.Fatal(err)
	} else {
		if again == we.enc {
			t.Fatal("the warm encoder was handed out twice")
		}
		again.Close()
	}

	// Nobody claims it: closed after warmFor.
	old := warmFor
	warmFor = 50 * time.Millisecond
	defer func() { warmFor = old }()
	d.prewarm()
	if warmOf(t, d) == nil {
		t.Fatal("no second warm encoder")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.warm.mu.Lock()
		gone := d.warm.enc == nil
		d.warm.mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unclaimed warm encoder was not closed after warmFor")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// While the default stream runs, a new viewer joins it: nothing to warm.
	d.mu.Lock()
	d.streams = map[shareKey]*sharedStream{d.defaultKey(): {}}
	d.mu.Unlock()
	d.prewarm()
	if we := warmOf(t, d); we != nil {
		t.Fatal("an encoder was made while the default stream runs")
	}
}
