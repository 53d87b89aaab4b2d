package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/forward"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/session"
	"github.com/deskport/deskport/signaling"
)

// A host in a process of its own, so that an attack test measures the host's memory and
// goroutines and not the attackers'. The child is this test binary run with
// DESKPORT_ATTACK_HOST set: TestHostProcess then plays a real host (session.Accept with the
// host's gate, a forward.Server on every authenticated session), signalling with the parent
// over stdin and stdout, one JSON frame a line.

// frame is one line between the parent and the host process.
type frame struct {
	S     int                `json:"s,omitempty"`    // session number, from 1
	Addr  string             `json:"addr,omitempty"` // new session: the viewer address the rendezvous would report
	M     *signaling.Message `json:"m,omitempty"`
	End   string             `json:"end,omitempty"`   // host → parent: the session ended (or was refused) with this
	Stats bool               `json:"stats,omitempty"` // parent → host: report goroutines
	G     int                `json:"g,omitempty"`     // host → parent: goroutines
}

// hostProc is the parent's handle on a host process.
type hostProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	wmu sync.Mutex

	mu    sync.Mutex
	sess  map[int]chan *signaling.Message
	ends  map[int]chan string
	stats chan int
	next  int
	done  chan struct{}
}

// startHostProc starts a host process for key that trusts viewer and forwards to target.
func startHostProc(t *testing.T, key, viewer keyPair, target string) *hostProc {
	t.Helper()
	cmd := exec.Command(hostBinary(t), "-test.run=^TestHostProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), "DESKPORT_ATTACK_HOST=1",
		"DESKPORT_ATTACK_KEY="+hex.EncodeToString(key.priv.Seed()),
		"DESKPORT_ATTACK_VIEWER="+hex.EncodeToString(viewer.pub),
		"DESKPORT_ATTACK_TARGET="+target)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostProc{cmd: cmd, in: in, sess: map[int]chan *signaling.Message{}, ends: map[int]chan string{},
		stats: make(chan int, 1), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var f frame
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				continue // the test framework's own output
			}
			h.mu.Lock()
			switch {
			case f.Stats:
				h.stats <- f.G
			case f.End != "":
				if c := h.ends[f.S]; c != nil {
					c <- f.End
				}
			case f.M != nil:
				if c := h.sess[f.S]; c != nil {
					select {
					case c <- f.M:
					default:
					}
				}
			}
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		in.Close()
		<-h.done
		if err := cmd.Wait(); err != nil {
			t.Errorf("host process: %v", err)
		}
	})
	return h
}

// hostBinary is the test binary the host process runs: this one, or under the race detector
// (make test) a plain build of this package, so that the host's RSS is the product's and not
// the race detector's (which multiplied it by about five).
func hostBinary(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return os.Args[0]
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building the host process needs the go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "attack-host.test")
	if b, err := exec.Command(gobin, "test", "-c", "-o", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the host process without -race: %v\n%s", err, b)
	}
	return out
}

func (h *hostProc) send(f frame) error {
	b, _ := json.Marshal(f)
	h.wmu.Lock()
	defer h.wmu.Unlock()
	_, err := h.in.Write(append(b, '\n'))
	return err
}

// procSignaler is the viewer's end of one session with the host process.
type procSignaler struct {
	h  *hostProc
	s  int
	in chan *signaling.Message
}

func (p procSignaler) Send(ctx context.Context, m *signaling.Message) error {
	return p.h.send(frame{S: p.s, M: m})
}
func (p procSignaler) Recv() <-chan *signaling.Message { return p.in }

// session starts a session from addr; ended receives how the host ended it.
func (h *hostProc) session(addr string) (sig procSignaler, ended <-chan string) {
	h.mu.Lock()
	h.next++
	s := h.next
	in, end := make(chan *signaling.Message, 256), make(chan string, 1)
	h.sess[s], h.ends[s] = in, end
	h.mu.Unlock()
	_ = h.send(frame{S: s, Addr: addr})
	return procSignaler{h: h, s: s, in: in}, end
}

func (h *hostProc) rss(t testing.TB) int64 { return rssOf(t, h.cmd.Process.Pid) }

func (h *hostProc) goroutines() int {
	if h.send(frame{Stats: true}) != nil {
		return -1
	}
	return <-h.stats
}

// rssOf is the resident set size of process pid.
func rssOf(t testing.TB, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestHostProcess is the host process's body; it skips unless started by startHostProc.
func TestHostProcess(t *testing.T) {
	if os.Getenv("DESKPORT_ATTACK_HOST") == "" {
		t.Skip("runs only as the host process of an attack test")
	}
	seed, _ := hex.DecodeString(os.Getenv("DESKPORT_ATTACK_KEY"))
	trusted, _ := hex.DecodeString(os.Getenv("DESKPORT_ATTACK_VIEWER"))
	key := ed25519.NewKeyFromSeed(seed)
	hostID := identity.HostID(key.Public().(ed25519.PublicKey))
	policy, err := forward.NewPolicy([]string{os.Getenv("DESKPORT_ATTACK_TARGET")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := auth.HostConfig{Key: key, Authorized: func(k ed25519.PublicKey) (auth.Options, bool) {
		return auth.Options{}, bytes.Equal(k, trusted)
	}}
	gate := session.NewGate(0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wmu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	write := func(f frame) {
		wmu.Lock()
		defer wmu.Unlock()
		_ = enc.Encode(f)
	}
	sessions := map[int]chan *signaling.Message{}
	var wg sync.WaitGroup
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f frame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("bad frame: %v", err)
		}
		if f.Stats {
			write(frame{Stats: true, G: runtime.NumGoroutine()})
			continue
		}
		if f.Addr != "" {
			in := make(chan *signaling.Message, 256)
			sessions[f.S] = in
			s := f.S
			sig := childSignaler{s: s, in: in, write: write}
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := session.Accept(ctx, sig, hostID, session.Config{LoopbackOnly: true, Gate: gate, Source: f.Addr}, hc)
				if err != nil {
					write(frame{S: s, End: err.Error()})
					return
				}
				defer conn.Close()
				_ = forward.NewServer(forward.ServerConfig{Policy: policy}).Serve(ctx, conn.Mux)
				write(frame{S: s, End: "closed"})
			}()
			continue
		}
		if in := sessions[f.S]; in != nil && f.M != nil {
			select {
			case in <- f.M:
			default:
			}
		}
	}
	cancel()
	wg.Wait()
}

type childSignaler struct {
	s     int
	in    chan *signaling.Message
	write func(frame)
}

func (c childSignaler) Send(ctx context.Context, m *signaling.Message) error {
	c.write(frame{S: c.s, M: m})
	return nil
}
func (c childSignaler) Recv() <-chan *signaling.Message { return c.in }

var _ session.Signaler = childSignaler{}
var _ session.Signaler = procSignaler{}
