package xvfb_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/screen/xvfb"
)

func start(t *testing.T, cfg xvfb.Config) *xvfb.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := xvfb.Start(ctx, cfg)
	if errors.Is(err, xvfb.ErrNotInstalled) {
		testenv.Missing(t, "Xvfb is not installed")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func socket(s *xvfb.Server) string {
	return filepath.Join("/tmp/.X11-unix", "X"+strings.TrimPrefix(s.Display(), ":"))
}

func TestStartPicksFreeDisplays(t *testing.T) {
	a := start(t, xvfb.Config{})
	b := start(t, xvfb.Config{Width: 640, Height: 480})
	if a.Display() == b.Display() {
		t.Fatalf("two servers on %s", a.Display())
	}
	for _, s := range []*xvfb.Server{a, b} {
		// Ready means accepting connections right now, with no sleep.
		c, err := net.Dial("unix", socket(s))
		if err != nil {
			t.Fatalf("%s not accepting connections: %v", s.Display(), err)
		}
		c.Close()
	}
	if w, h := b.Size(); w != 640 || h != 480 {
		t.Errorf("size %dx%d", w, h)
	}
}

func TestCloseStopsServerAndPrograms(t *testing.T) {
	ctx := context.Background()
	s := start(t, xvfb.Config{})
	p, err := s.Run(ctx, `test "$DISPLAY" = "`+s.Display()+`" || exit 3; sleep 300 & wait`)
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.Run(ctx, `echo "$DISPLAY"`)
	if err != nil {
		t.Fatal(err)
	}
	<-done.Done()
	if done.Err() != nil {
		t.Fatal(done.Err())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("program still running after Close")
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Xvfb still running after Close")
	}
	if _, err := os.Stat(socket(s)); !os.IsNotExist(err) {
		t.Errorf("Xvfb socket left behind: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Run(ctx, "true"); err == nil {
		t.Error("Run after Close succeeded")
	}
}

func TestTakenDisplay(t *testing.T) {
	a := start(t, xvfb.Config{})
	if a.Number() == 0 {
		a = start(t, xvfb.Config{}) // 0 means "pick one"; use the next
	}
	b, err := xvfb.Start(context.Background(), xvfb.Config{Display: a.Number()})
	if err == nil {
		b.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("starting on a taken display: %v", err)
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := xvfb.Start(context.Background(), xvfb.Config{})
	if !errors.Is(err, xvfb.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install xvfb") {
		t.Fatalf("got %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []xvfb.Config{{Width: 10}, {Width: -1, Height: 5}, {Depth: 7}, {Display: -2}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if w, h, err := xvfb.ParseSize("1920X1080"); err != nil || w != 1920 || h != 1080 {
		t.Errorf("ParseSize: %d %d %v", w, h, err)
	}
	for _, s := range []string{"", "1280", "0x5", "axb", "12x-3"} {
		if _, _, err := xvfb.ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) accepted", s)
		}
	}
}
