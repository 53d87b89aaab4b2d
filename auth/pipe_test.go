package auth

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/deskport/deskport/identity"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeEnd is one end of an in-memory message channel with data-channel semantics: one Write is
// one message, one Read returns one whole message, a too-small buffer is io.ErrShortBuffer, and
// closing one end makes the other end's reads return io.EOF once the queued messages are read.
type pipeEnd struct {
	in       <-chan []byte
	out      chan<- []byte
	done     chan struct{}
	peerDone <-chan struct{}
	once     sync.Once
}

func newMsgPipe() (*pipeEnd, *pipeEnd) {
	ab, ba := make(chan []byte, 16), make(chan []byte, 16)
	da, db := make(chan struct{}), make(chan struct{})
	return &pipeEnd{in: ba, out: ab, done: da, peerDone: db},
		&pipeEnd{in: ab, out: ba, done: db, peerDone: da}
}

func (p *pipeEnd) deliver(m, buf []byte) (int, error) {
	if len(m) > len(buf) {
		return 0, io.ErrShortBuffer
	}
	return copy(buf, m), nil
}

func (p *pipeEnd) Read(buf []byte) (int, error) {
	select {
	case m := <-p.in:
		return p.deliver(m, buf)
	default:
	}
	select {
	case m := <-p.in:
		return p.deliver(m, buf)
	case <-p.done:
		return 0, io.ErrClosedPipe
	case <-p.peerDone:
		select {
		case m := <-p.in:
			return p.deliver(m, buf)
		default:
			return 0, io.EOF
		}
	}
}

func (p *pipeEnd) Write(b []byte) (int, error) {
	select {
	case <-p.done:
		return 0, io.ErrClosedPipe
	case <-p.peerDone:
		return 0, io.ErrClosedPipe
	default:
	}
	select {
	case p.out <- bytes.Clone(b):
		return len(b), nil
	case <-p.done:
		return 0, io.ErrClosedPipe
	case <-p.peerDone:
		return 0, io.ErrClosedPipe
	}
}

func (p *pipeEnd) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// recorder keeps a copy of every message written through it.
type recorder struct {
	io.ReadWriter
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(b))
	r.mu.Unlock()
	return r.ReadWriter.Write(b)
}

// scripted is a fake peer: Read returns the queued messages, then io.EOF; Write records.
type scripted struct {
	reads  [][]byte
	writes [][]byte
}

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, io.EOF
	}
	m := s.reads[0]
	s.reads = s.reads[1:]
	if len(m) > len(p) {
		return 0, io.ErrShortBuffer
	}
	return copy(p, m), nil
}

func (s *scripted) Write(p []byte) (int, error) {
	s.writes = append(s.writes, bytes.Clone(p))
	return len(p), nil
}

// fixture is one host and one viewer identity and the binding of an honest connection.
type fixture struct {
	hostKey, viewerKey ed25519.PrivateKey
	b                  Binding
}

func newFixture() fixture {
	hk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	vk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	var b Binding
	b.HostCert[0], b.ViewerCert[0] = 0xaa, 0xbb
	b.HostID = identity.HostID(hk.Public().(ed25519.PublicKey))
	return fixture{hostKey: hk, viewerKey: vk, b: b}
}

func (f fixture) viewerPub() ed25519.PublicKey { return f.viewerKey.Public().(ed25519.PublicKey) }
func (f fixture) hostPub() ed25519.PublicKey   { return f.hostKey.Public().(ed25519.PublicKey) }

type outcome struct {
	peer    *Peer
	hostErr error
	res     *Result
	viewErr error
	// viewerMsgs are the messages the viewer wrote.
	viewerMsgs [][]byte
}

// run runs Host and Viewer against each other over a message pipe, each with its own binding.
func run(t testing.TB, hb, vb Binding, hc HostConfig, vc ViewerConfig) outcome {
	t.Helper()
	h, v := newMsgPipe()
	var o outcome
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer h.Close()
		o.peer, o.hostErr = Host(h, hb, hc)
	}()
	rec := &recorder{ReadWriter: v}
	o.res, o.viewErr = Viewer(rec, vb, vc)
	v.Close()
	wg.Wait()
	o.viewerMsgs = rec.writes
	return o
}
