package web

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/tempfork/yamux"
	"go.uber.org/goleak"

	fileproto "github.com/deskport/deskport/files"
	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/mux"
)

// TestFeaturesInterop runs web/test/features-node.mjs: the page's input encoder against
// input.ParseHello and input.Decoder, and its file client against files.Server (put, list,
// get, a path outside the root, a missing file), all over src/yamux.js.
func TestFeaturesInterop(t *testing.T) {
	node := needNode(t)
	defer goleak.VerifyNone(t)

	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "seed.txt"), []byte("hello files"), 0o644)
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	os.WriteFile(filepath.Join(filepath.Dir(root), "outside.txt"), []byte("secret"), 0o644)
	fsrv, err := fileproto.NewServer(fileproto.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "features-node.mjs"))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sess, err := mux.NewServerSession(procConn{r: stdout, w: stdin}, nil)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		hello  input.Hello
		events []input.Event
		wg     sync.WaitGroup
	)
	serve := func(st *yamux.Stream) {
		defer wg.Done()
		req, err := mux.ReadRequest(st)
		if err != nil {
			t.Errorf("read request: %v", err)
			st.Close()
			return
		}
		switch req.Kind {
		case mux.KindInput:
			defer st.Close()
			h, err := input.ParseHello(req.Payload)
			if err != nil {
				t.Errorf("hello: %v", err)
			}
			mux.WriteReply(st, mux.Reply{Status: mux.StatusOK})
			d := input.NewDecoder(st)
			var evs []input.Event
			for {
				e, err := d.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						t.Errorf("decode: %v", err)
					}
					break
				}
				evs = append(evs, e)
			}
			if d.Dropped() != 0 {
				t.Errorf("the decoder dropped %d events", d.Dropped())
			}
			mu.Lock()
			hello, events = h, evs
			mu.Unlock()
		case mux.KindFilePut, mux.KindFileGet:
			mux.WriteReply(st, mux.Reply{Status: mux.StatusOK})
			fsrv.Handle(ctx, st, req)
		default:
			mux.WriteReply(st, mux.Reply{Status: mux.StatusUnsupported})
			st.Close()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go serve(st)
		}
	}()
	select {
	case <-sess.CloseChan():
	case <-ctx.Done():
		t.Error("the session did not end")
	}
	sess.Close()
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("features-node.mjs: %v", err)
	}

	if hello.Width != 1280 || hello.Height != 720 {
		t.Errorf("hello = %+v", hello)
	}
	code := func(name string) input.Code {
		c, ok := input.ParseCode(name)
		if !ok {
			t.Fatalf("no key %s", name)
		}
		return c
	}
	want := []input.Event{
		input.PointerTo(0, 0),
		input.PointerTo(1, 1),
		input.PointerTo(640.0/1279, 360.0/719), // the centre of a letterboxed 1280x720 picture
		input.PointerBy(-5, 7),
		input.ButtonEvent(input.ButtonLeft, true),
		input.ButtonEvent(input.ButtonLeft, false),
		input.ButtonEvent(input.ButtonRight, true),
		input.WheelBy(0, input.WheelNotch),     // 100 px: one notch
		input.WheelBy(-40, 3*input.WheelNotch), // -1 line: a third of a notch; 1 page: 3 notches
		input.KeyEvent(code("ShiftLeft"), true),
		input.KeyEvent(code("KeyA"), true),
		input.KeyEvent(code("KeyA"), false),
		input.KeyEvent(code("ShiftLeft"), false),
		input.TextEvent("héllo ✓"),
		input.HeartbeatEvent(2, 0b101),
		input.ReleaseAllEvent(),
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events:\n got %+v\nwant %+v", events, want)
	}
	up, err := os.ReadFile(filepath.Join(root, "up.bin"))
	if err != nil || len(up) != 3<<20+17 {
		t.Fatalf("uploaded file: %d bytes, %v", len(up), err)
	}
	for i := range up {
		if up[i] != byte(i*31+(i>>11)) {
			t.Fatalf("uploaded byte %d = %d", i, up[i])
		}
	}
}
