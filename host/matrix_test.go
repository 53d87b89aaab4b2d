//go:build linux && cgo

package host

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/clipboard"
	"github.com/deskport/deskport/files"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/internal/testenv"
	"github.com/deskport/deskport/mux"
	"github.com/deskport/deskport/screen/xvfb"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/viewer"
)

// TestPermissionMatrix observes every cell of {trusted key, one-time code} × {view, control,
// clipboard, files, forward, listen} × {granted, denied} through the real paths: the video
// track, XTest injection seen by xdotool, the X clipboard seen by xclip, a file in the root, a
// TCP forward and a reverse listener.
func TestPermissionMatrix(t *testing.T) {
	for _, tool := range []string{"Xvfb", "xdotool", "xclip"} {
		testenv.LookPath(t, tool)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := xvfb.Start(ctx, xvfb.Config{Width: 640, Height: 480})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	rvURL, stopRV := startRendezvous(t)
	defer stopRV()

	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()

	point := 0
	for _, method := range []string{"key", "code"} {
		for _, capability := range capNames {
			for _, granted := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/%v", method, capability, granted)
				t.Run(name, func(t *testing.T) {
					point++
					matrixCell(t, srv.Display(), rvURL, target.Addr().String(), method, capability, granted, point)
				})
			}
		}
	}
}

func matrixCell(t *testing.T, display, rvURL, target, method, capability string, granted bool, point int) {
	dir := t.TempDir()
	viewerKeyPath := filepath.Join(dir, "viewer.key")
	vk, _, err := identity.LoadOrCreateKey(viewerKeyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	line := identity.AuthorizedLine(vk.Public().(ed25519.PublicKey), "matrix")
	cfg := Config{
		Rendezvous: rvURL, KeyPath: filepath.Join(dir, "host.key"), AuthorizedViewersPath: filepath.Join(dir, "authorized_viewers"),
		Allow: []string{target}, AllowListen: []string{"127.0.0.1:0"}, FilesRoot: filepath.Join(dir, "root"),
		Desktop: DesktopConfig{Display: display, Monitor: -1}, Session: session.Config{LoopbackOnly: true},
		Logger: slog.New(slog.DiscardHandler),
	}
	var code string
	if method == "key" {
		if !granted {
			line = "no-" + capability + " " + line
		}
		os.WriteFile(cfg.AuthorizedViewersPath, []byte(line+"\n"), 0o600)
	} else {
		cfg.Code = true
		grants := capability
		if !granted {
			grants = "view"
			if capability == "view" {
				grants = "control"
			}
		}
		if cfg.CodeGrants, err = ParseCaps(grants); err != nil {
			t.Fatal(err)
		}
		cfg.Consent = func(_ context.Context, r ConsentRequest) (Caps, bool) { return r.Offered, true }
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The previous case's host may still count at the rendezvous (its connection's close is
	// handled there after its Run returned): wait until it is gone, so that "one host online"
	// below is this one.
	waitHosts(t, rvURL, 0)
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	waitOnline(t, rvURL, a.ID())
	if method == "code" {
		code, _, _ = a.codes.Current() // Run shows a fresh code before it registers
	}

	conn, err := viewer.Connect(ctx, viewer.Config{Rendezvous: rvURL, KeyPath: viewerKeyPath, HostID: a.ID(), Code: code,
		Session: session.Config{LoopbackOnly: true, Video: &session.VideoConfig{}}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	bulk := forward.NewClient(conn.Mux, nil)
	inter := mux.Opener(conn.Interactive)

	var got error // nil means the capability worked
	switch capability {
	case "view":
		got = checkView(conn, granted)
	case "control":
		got = checkControl(ctx, inter, display, point)
	case "clipboard":
		got = checkClipboard(ctx, inter, display, fmt.Sprintf("matrix clipboard %d", point))
	case "files":
		got = checkFiles(ctx, mux.Opener(conn.Mux), dir, cfg.FilesRoot)
	case "forward":
		got = checkForward(ctx, bulk, target)
	case "listen":
		got = checkListen(ctx, bulk, target)
	}
	switch {
	case granted && got != nil:
		t.Fatalf("%s granted but it failed: %v", capability, got)
	case !granted && got == nil:
		t.Fatalf("%s denied but it worked", capability)
	case !granted && capability != "view" && !strings.Contains(got.Error(), "not granted"):
		t.Errorf("denied %s said %q; want a message that it was not granted", capability, got)
	}
}

func waitOnline(t *testing.T, rvURL, id string) {
	t.Helper()
	if !pollHosts(rvURL, 1) {
		t.Fatalf("host %s did not come online", id)
	}
}

// waitHosts waits until the rendezvous counts n hosts online.
func waitHosts(t *testing.T, rvURL string, n int) {
	t.Helper()
	if !pollHosts(rvURL, n) {
		t.Fatalf("the rendezvous did not come to %d hosts online in 10 s", n)
	}
}

func pollHosts(rvURL string, n int) bool {
	want := []byte(fmt.Sprintf(`"hosts":%d`, n))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(rvURL + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, want) && !bytes.Contains(body, append(want, '0')) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkView waits for one RTP packet of the screen. A denied session must get none; that is the
// one negative here that needs a bounded wait (1.5 s).
func checkView(conn *session.ViewerConn, granted bool) error {
	select {
	case t := <-conn.Tracks:
		wait := 1500 * time.Millisecond
		if granted {
			wait = 15 * time.Second
		}
		t.SetReadDeadline(time.Now().Add(wait))
		if _, _, err := t.ReadRTP(); err != nil {
			return fmt.Errorf("no video: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no video track")
	}
}

func checkControl(ctx context.Context, open mux.OpenFunc, display string, point int) error {
	s, err := open(ctx, mux.Request{Kind: mux.KindInput, Payload: input.AppendHello(nil, 0, 0)})
	if err != nil {
		return err
	}
	defer s.Close()
	fx := float64(point%10+1) / 12
	b, _ := input.Encode(input.PointerTo(fx, 0.5))
	if _, err := s.Write(b); err != nil {
		return err
	}
	wantX := int(fx * 640)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cmd := exec.Command("xdotool", "getmouselocation", "--shell")
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		out, _ := cmd.Output()
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "X="); ok {
				if x, _ := strconv.Atoi(v); x >= wantX-2 && x <= wantX+2 {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the pointer never reached x=%d", wantX)
}

func checkClipboard(ctx context.Context, open mux.OpenFunc, display, text string) error {
	cl, err := clipboard.Dial(ctx, open)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Set(ctx, text); err != nil {
		return err
	}
	cmd := exec.Command("xclip", "-o", "-selection", "clipboard")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil || string(out) != text {
		return fmt.Errorf("xclip read %q (%v), want %q", out, err, text)
	}
	return nil
}

func checkFiles(ctx context.Context, open mux.OpenFunc, dir, root string) error {
	local := filepath.Join(dir, "up.txt")
	os.WriteFile(local, []byte("matrix file"), 0o600)
	if err := files.Put(ctx, open, local, "up.txt", nil); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(root, "up.txt")); err != nil || string(b) != "matrix file" {
		return fmt.Errorf("the file did not arrive: %q %v", b, err)
	}
	return nil
}

func checkForward(ctx context.Context, c *forward.Client, target string) error {
	s, err := c.Dial(ctx, target)
	if err != nil {
		return err
	}
	defer s.Close()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "hello" {
		return fmt.Errorf("forward read %q (%v)", b, err)
	}
	return nil
}

func checkListen(ctx context.Context, c *forward.Client, target string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- c.Remote(ctx, "127.0.0.1:0", target, func(b string) { ready <- b }) }()
	select {
	case <-ready:
		return nil
	case err := <-errc:
		if err == nil {
			err = fmt.Errorf("remote ended without listening")
		}
		return err
	case <-time.After(15 * time.Second):
		return fmt.Errorf("no answer to the listen request")
	}
}
