package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskport/deskport/auth"
	"github.com/deskport/deskport/auth/cpace"
	"github.com/deskport/deskport/identity"
	"github.com/deskport/deskport/internal/testenv"
)

// needNode skips the test when node or web/node_modules is missing. `make test` runs `npm ci`
// in web/ first, so there the JS interop tests always run.
func needNode(t *testing.T) string {
	t.Helper()
	node := testenv.LookPath(t, "node") // Node.js 20+ runs the JS side of the interop tests
	if _, err := os.Stat(filepath.Join("node_modules", "@noble", "curves")); err != nil {
		testenv.Missing(t, "web/node_modules is missing (`make node-deps` runs npm ci)")
	}
	return node
}

// nodeEvent is one line the node viewer prints.
type nodeEvent struct {
	T           string          `json:"t"`
	Data        string          `json:"data"`
	Key         []byte          `json:"key"`
	Line        string          `json:"line"`
	Fingerprint string          `json:"fingerprint"`
	OK          bool            `json:"ok"`
	Method      string          `json:"method"`
	HostKey     []byte          `json:"hostKey"`
	Options     json.RawMessage `json:"options"`
	Code        string          `json:"code"`
	Message     string          `json:"message"`
}

// nodeViewer runs web/test/auth-node.mjs and offers its message stream as the message-oriented
// io.ReadWriter auth.Host expects: one Write is one line to node's stdin, one Read one message
// node printed.
type nodeViewer struct {
	stdin io.WriteCloser
	msgs  chan []byte
	pub   chan nodeEvent
	done  chan nodeEvent
	wait  func() error
	once  sync.Once
}

type nodeConfig struct {
	HostID     string `json:"hostId"`
	HostCert   string `json:"hostCert"`
	ViewerCert string `json:"viewerCert"`
	Code       string `json:"code,omitempty"`
	Key        bool   `json:"key"`
	Comment    string `json:"comment,omitempty"`
}

func startNode(t *testing.T, node string, b auth.Binding, code string, key bool) *nodeViewer {
	t.Helper()
	cfg, _ := json.Marshal(nodeConfig{
		HostID: b.HostID, HostCert: hex.EncodeToString(b.HostCert[:]), ViewerCert: hex.EncodeToString(b.ViewerCert[:]),
		Code: code, Key: key, Comment: "browser@test",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "auth-node.mjs"), string(cfg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nv := &nodeViewer{stdin: stdin, msgs: make(chan []byte, 16), pub: make(chan nodeEvent, 1), done: make(chan nodeEvent, 1)}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(nv.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 64*1024)
		for sc.Scan() {
			var ev nodeEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("node printed %q: %v", sc.Text(), err)
				continue
			}
			switch ev.T {
			case "msg":
				nv.msgs <- []byte(ev.Data)
			case "pub":
				nv.pub <- ev
			case "done":
				nv.done <- ev
			}
		}
	}()
	nv.wait = func() error {
		<-readerDone
		err := cmd.Wait()
		cancel()
		return err
	}
	t.Cleanup(func() {
		nv.Close()
		if err := nv.wait(); err != nil {
			t.Errorf("node: %v", err)
		}
	})
	return nv
}

func (n *nodeViewer) Read(p []byte) (int, error) {
	m, ok := <-n.msgs
	if !ok {
		return 0, io.EOF
	}
	if len(m) > len(p) {
		return 0, io.ErrShortBuffer
	}
	return copy(p, m), nil
}

func (n *nodeViewer) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\n') >= 0 {
		return 0, errors.New("message contains a newline")
	}
	return n.stdin.Write(append(bytes.Clone(p), '\n'))
}

// Close ends node's input, as a closed data channel would.
func (n *nodeViewer) Close() { n.once.Do(func() { n.stdin.Close() }) }

func (n *nodeViewer) result(t *testing.T) nodeEvent {
	t.Helper()
	select {
	case ev := <-n.done:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("the node viewer did not finish")
		return nodeEvent{}
	}
}

type fixture struct {
	hostKey ed25519.PrivateKey
	b       auth.Binding
}

func newFixture() fixture {
	hk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	var b auth.Binding
	for i := range b.HostCert {
		b.HostCert[i], b.ViewerCert[i] = byte(i), byte(0xff-i)
	}
	b.HostID = identity.HostID(hk.Public().(ed25519.PublicKey))
	return fixture{hostKey: hk, b: b}
}

// runHost runs auth.Host against the node viewer and returns both outcomes.
func runHost(t *testing.T, nv *nodeViewer, b auth.Binding, hc auth.HostConfig) (*auth.Peer, nodeEvent, error) {
	t.Helper()
	peer, err := auth.Host(nv, b, hc)
	// Like the session layer, the host keeps the channel open until the viewer is done, so that
	// a refusal reaches it.
	ev := nv.result(t)
	nv.Close()
	return peer, ev, err
}

func TestInteropCode(t *testing.T) {
	node := needNode(t)
	for _, withKey := range []bool{true, false} {
		t.Run(map[bool]string{true: "with browser key", false: "without key"}[withKey], func(t *testing.T) {
			f := newFixture()
			store := auth.NewCodeStore(0, nil)
			code, _ := store.Generate()
			nv := startNode(t, node, f.b, strings.ToLower(code), withKey)
			var pub nodeEvent
			if withKey {
				pub = <-nv.pub
			}
			peer, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey, Codes: store})
			if err != nil || !ev.OK {
				t.Fatalf("host: %v; viewer: %+v", err, ev)
			}
			if peer.Method != auth.MethodCode || ev.Method != auth.MethodCode {
				t.Errorf("methods: host %q, viewer %q", peer.Method, ev.Method)
			}
			if withKey != (peer.ViewerKey != nil) || (withKey && !bytes.Equal(peer.ViewerKey, pub.Key)) {
				t.Errorf("host saw viewer key %x, node key %x", peer.ViewerKey, pub.Key)
			}
			if !bytes.Equal(ev.HostKey, f.hostKey.Public().(ed25519.PublicKey)) {
				t.Errorf("viewer saw host key %x", ev.HostKey)
			}
			if _, _, ok := store.Current(); ok {
				t.Error("the code is still current after use")
			}
		})
	}
}

func TestInteropWrongCode(t *testing.T) {
	node := needNode(t)
	f := newFixture()
	store := auth.NewCodeStore(0, nil)
	code, _ := store.Generate()
	wrong := []byte(auth.NormalizeCode(code))
	wrong[0] = auth.CodeAlphabet[(strings.IndexByte(auth.CodeAlphabet, wrong[0])+1)%len(auth.CodeAlphabet)]
	nv := startNode(t, node, f.b, string(wrong), true)
	<-nv.pub
	_, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey, Codes: store})
	if !errors.Is(err, auth.ErrBadCode) {
		t.Errorf("host err = %v, want ErrBadCode", err)
	}
	if ev.OK || ev.Code != "bad_code" || !strings.Contains(ev.Message, "used up") {
		t.Errorf("viewer = %+v, want bad_code saying the code is used up", ev)
	}
	if _, _, ok := store.Current(); ok {
		t.Error("a wrong guess left the code current")
	}
}

func TestInteropExpiredCode(t *testing.T) {
	node := needNode(t)
	f := newFixture()
	store := auth.NewCodeStore(time.Minute, nil)
	code, _ := store.Generate()
	nv := startNode(t, node, f.b, code, true)
	<-nv.pub
	later := func() time.Time { return time.Now().Add(time.Hour) }
	_, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey, Codes: store, Now: later})
	if !errors.Is(err, auth.ErrCodeExpired) {
		t.Errorf("host err = %v, want ErrCodeExpired", err)
	}
	if ev.OK || ev.Code != "code_expired" {
		t.Errorf("viewer = %+v, want code_expired", ev)
	}
}

func TestInteropCodeTypoIsLocal(t *testing.T) {
	node := needNode(t)
	f := newFixture()
	store := auth.NewCodeStore(0, nil)
	store.Generate()
	nv := startNode(t, node, f.b, "ABCD-EFG0", false) // 0 is not in the alphabet
	_, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey, Codes: store})
	if err == nil {
		t.Error("host succeeded without a hello")
	}
	if ev.OK || ev.Code != "bad_code_format" {
		t.Errorf("viewer = %+v, want bad_code_format", ev)
	}
	if _, _, ok := store.Current(); !ok {
		t.Error("a typo caught by the viewer used up the host's code")
	}
}

func TestInteropTrustedKey(t *testing.T) {
	node := needNode(t)
	f := newFixture()
	nv := startNode(t, node, f.b, "", true)
	pub := <-nv.pub
	// The line the page shows must be exactly what identity writes for the same key, so that a
	// host owner can paste it into authorized_viewers.
	if want := identity.AuthorizedLine(ed25519.PublicKey(pub.Key), "browser@test"); pub.Line != want {
		t.Errorf("authorized line = %q, want %q", pub.Line, want)
	}
	if want := identity.Fingerprint(ed25519.PublicKey(pub.Key)); pub.Fingerprint != want {
		t.Errorf("fingerprint = %q, want %q", pub.Fingerprint, want)
	}
	grant := auth.Options{PermitOpen: []string{"db:5432"}, ViewOnly: true}
	authorized := func(k ed25519.PublicKey) (auth.Options, bool) {
		if bytes.Equal(k, pub.Key) {
			return grant, true
		}
		return auth.Options{}, false
	}
	peer, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey, Authorized: authorized})
	if err != nil || !ev.OK {
		t.Fatalf("host: %v; viewer: %+v", err, ev)
	}
	if peer.Method != auth.MethodKey || !bytes.Equal(peer.ViewerKey, pub.Key) || !reflect.DeepEqual(peer.Options, grant) {
		t.Errorf("peer = %+v", peer)
	}
	var opts map[string]any
	if err := json.Unmarshal(ev.Options, &opts); err != nil || opts["view_only"] != true || !reflect.DeepEqual(opts["permit_open"], []any{"db:5432"}) {
		t.Errorf("viewer options = %s (%v)", ev.Options, err)
	}
}

func TestInteropUnauthorizedKey(t *testing.T) {
	node := needNode(t)
	f := newFixture()
	nv := startNode(t, node, f.b, "", true)
	pub := <-nv.pub
	_, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey})
	if !errors.Is(err, auth.ErrUnauthorized) {
		t.Errorf("host err = %v, want ErrUnauthorized", err)
	}
	if ev.OK || ev.Code != "unauthorized" || !strings.Contains(ev.Message, pub.Line) {
		t.Errorf("viewer = %+v, want unauthorized naming the line %q", ev, pub.Line)
	}
}

func TestInteropMITM(t *testing.T) {
	node := needNode(t)
	for _, method := range []string{auth.MethodKey, auth.MethodCode} {
		for _, what := range []string{"relayed DTLS", "other host ID"} {
			t.Run(method+"/"+what, func(t *testing.T) {
				f := newFixture()
				vb := f.b
				if what == "relayed DTLS" {
					vb.ViewerCert[0] ^= 1 // the relay presents its own certificate to the host
				} else {
					vb.HostID = identity.HostID(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey))
				}
				store := auth.NewCodeStore(0, nil)
				code, _ := store.Generate()
				if method == auth.MethodKey {
					code = ""
				}
				nv := startNode(t, node, vb, code, true)
				pub := <-nv.pub
				trustAll := func(k ed25519.PublicKey) (auth.Options, bool) { return auth.Options{}, bytes.Equal(k, pub.Key) }
				_, ev, err := runHost(t, nv, f.b, auth.HostConfig{Key: f.hostKey, Authorized: trustAll, Codes: store})
				if !errors.Is(err, auth.ErrAborted) {
					t.Errorf("host err = %v, want ErrAborted", err)
				}
				if ev.OK || ev.Code != "host_mismatch" || !strings.Contains(ev.Message, "man in the middle") {
					t.Errorf("viewer = %+v, want host_mismatch", ev)
				}
			})
		}
	}
}

// TestCPaceVectors runs web/test/cpace-vectors.mjs (the draft's vectors against src/cpace.js)
// after checking that the vector file agrees with the Go implementation.
func TestCPaceVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("test", "cpace-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ PRS, CI, SID, G string }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if g := hex.EncodeToString(cpace.CalculateGenerator(unhex(v.PRS), unhex(v.CI), unhex(v.SID)).Encode(nil)); g != v.G {
		t.Fatalf("test/cpace-vectors.json generator %s disagrees with auth/cpace (%s)", v.G, g)
	}
	node := needNode(t)
	out, err := exec.Command(node, filepath.Join("test", "cpace-vectors.mjs")).CombinedOutput()
	if err != nil {
		t.Fatalf("cpace-vectors.mjs: %v\n%s", err, out)
	}
}

// TestHostSigVerify runs web/test/hostsig.mjs: the page's check of the host's signature, with
// WebCrypto's Ed25519 and with noble (browsers without it), takes RFC 8032's vector and refuses
// a changed message or signature and a non-canonical S.
func TestHostSigVerify(t *testing.T) {
	node := needNode(t)
	out, err := exec.Command(node, filepath.Join("test", "hostsig.mjs")).CombinedOutput()
	if err != nil {
		t.Fatalf("hostsig.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "WebCrypto Ed25519: 6 cases ok") || !strings.Contains(string(out), "noble: 6 cases ok") {
		t.Fatalf("hostsig.mjs did not run both verifiers:\n%s", out)
	}
}
