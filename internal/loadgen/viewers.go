package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/deskport/deskport/signaling"
)

// Session is what one viewer session measured.
type Session struct {
	// Host is the index of the host asked for, URL the index of the rendezvous used.
	Host, URL int
	// Connect is from dialling the WebSocket to the session message.
	Connect time.Duration
	// OfferAnswer is from sending the offer to receiving the host's answer: two relays through
	// the rendezvous (viewer → host, host → viewer) and the host's turn-around.
	OfferAnswer time.Duration
	// Err is why the session failed, nil if it completed: answer and a host candidate
	// received, bye sent.
	Err error
}

// Viewers opens viewer sessions.
type Viewers struct {
	// URLs are the rendezvous instances, http(s)://host:port.
	URLs []string
	// Source is the local address of viewer connection j; nil or the zero Addr lets the
	// system choose.
	Source func(j int) netip.Addr
	// Timeout bounds one session. Default 10 s.
	Timeout time.Duration

	d    dialer
	next atomic.Int64 // connections opened, for Source
}

// Open runs one session with hostID through URL u on a new connection: connect, offer and two
// candidates, then wait for the answer and a candidate from the host, then bye.
func (v *Viewers) Open(ctx context.Context, u int, hostID string) Session {
	j := int(v.next.Add(1) - 1)
	res := Session{URL: u}
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var src netip.Addr
	if v.Source != nil {
		src = v.Source(j)
	}
	start := time.Now()
	ws, _, err := v.d.dial(ctx, v.URLs[u], "/v1/viewer", src)
	if err != nil {
		res.Err = err
		return res
	}
	defer ws.CloseNow()
	if err := write(ctx, ws, &signaling.Message{Type: signaling.TypeConnect, HostID: hostID, Version: Version}); err != nil {
		res.Err = err
		return res
	}
	m, err := read(ctx, ws)
	if err == nil && m.Type != signaling.TypeSession {
		err = fmt.Errorf("loadgen: got %q, want session", m.Type)
	}
	if err != nil {
		res.Err = err
		return res
	}
	res.Connect = time.Since(start)
	id := m.Session
	sent := time.Now()
	if err := write(ctx, ws, &signaling.Message{Type: signaling.TypeOffer, Session: id, SDP: fakeSDP("offer", id)}); err != nil {
		res.Err = err
		return res
	}
	for k := range 2 {
		if err := write(ctx, ws, &signaling.Message{Type: signaling.TypeCandidate, Session: id, Candidate: fakeCandidate(k + 2)}); err != nil {
			res.Err = err
			return res
		}
	}
	answered, candidate := false, false
	for !answered || !candidate {
		m, err := read(ctx, ws)
		if err != nil {
			res.Err = err
			return res
		}
		switch m.Type {
		case signaling.TypeAnswer:
			if !answered {
				res.OfferAnswer = time.Since(sent)
			}
			answered = true
		case signaling.TypeCandidate:
			candidate = true
		case signaling.TypeBye:
			res.Err = fmt.Errorf("loadgen: bye before the answer: %s %s", m.Code, m.Reason)
			return res
		case signaling.TypeError:
			res.Err = &RefusedError{Code: m.Code, Message: m.Message}
			return res
		}
	}
	res.Err = write(ctx, ws, &signaling.Message{Type: signaling.TypeBye, Session: id, Reason: "done"})
	ws.Close(1000, "")
	return res
}

// RunConfig is a run of viewer sessions at a fixed rate.
type RunConfig struct {
	// Rate is new sessions per second; Count how many in all.
	Rate  float64
	Count int
	// Target picks session j's rendezvous (index in Viewers.URLs) and host.
	Target func(j int) (url, host int, hostID string)
}

// Run starts cfg.Count sessions, cfg.Rate a second (each in its own goroutine, so that a slow
// one does not hold back the schedule), and returns their results in start order once all
// have ended. Sessions not started when ctx ends are reported with ctx's error.
func (v *Viewers) Run(ctx context.Context, cfg RunConfig) []Session {
	out := make([]Session, cfg.Count)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for j := range cfg.Count {
		u, hi, id := cfg.Target(j)
		if d := time.Until(start.Add(time.Duration(j) * interval)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		if err := ctx.Err(); err != nil {
			out[j] = Session{Host: hi, URL: u, Err: err}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := v.Open(ctx, u, id)
			s.Host = hi
			out[j] = s
		}()
	}
	wg.Wait()
	return out
}

// Summary condenses session results.
type Summary struct {
	Sessions, Failed int
	P50, P99, Max    time.Duration // offer → answer of the completed sessions
	ConnectP50       time.Duration
	Errors           map[string]int // a few failure messages, by count
}

// Summarize computes the latency percentiles of the completed sessions and counts the failed.
func Summarize(ss []Session) Summary {
	sum := Summary{Sessions: len(ss), Errors: map[string]int{}}
	var lat, conn []time.Duration
	for _, s := range ss {
		if s.Err != nil {
			sum.Failed++
			msg := s.Err.Error()
			var re *RefusedError
			if errors.As(s.Err, &re) {
				msg = "rendezvous refused: " + re.Code // the message names the host: group by code
			}
			if len(sum.Errors) < 8 || sum.Errors[msg] > 0 {
				sum.Errors[msg]++
			}
			continue
		}
		lat = append(lat, s.OfferAnswer)
		conn = append(conn, s.Connect)
	}
	sum.P50, sum.P99, sum.Max = Percentile(lat, 50), Percentile(lat, 99), Percentile(lat, 100)
	sum.ConnectP50 = Percentile(conn, 50)
	return sum
}

// fakeSDP is SDP-shaped text of about the size a browser's offer with video and a data channel
// has (2–3 KB); the rendezvous relays it as opaque text.
func fakeSDP(kind, session string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %s 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n", session[:min(len(session), 16)])
	b.WriteString("m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n")
	b.WriteString("a=ice-ufrag:load\r\na=ice-pwd:loadgeneratorpassword0000\r\na=ice-options:trickle\r\n")
	b.WriteString("a=fingerprint:sha-256 " + strings.Repeat("AB:", 31) + "AB\r\na=setup:" + map[string]string{"offer": "actpass", "answer": "active"}[kind] + "\r\na=mid:0\r\n")
	for pt := 96; pt <= 102; pt++ {
		fmt.Fprintf(&b, "a=rtpmap:%d VP8/90000\r\na=rtcp-fb:%d goog-remb\r\na=rtcp-fb:%d transport-cc\r\na=rtcp-fb:%d ccm fir\r\na=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n", pt, pt, pt, pt, pt, pt)
	}
	b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n")
	return b.String()
}

func fakeCandidate(k int) *signaling.Candidate {
	mid := "0"
	var idx uint16
	return &signaling.Candidate{Candidate: fmt.Sprintf("candidate:%d 1 udp 2122260223 192.0.2.%d 5%04d typ host generation 0", k, k, k), SDPMid: &mid, SDPMLineIndex: &idx}
}

// Held is a viewer session kept open after its offer and answer, as a session whose peer
// connection runs on: a fail-over elsewhere must not end it.
type Held struct {
	ws     *websocket.Conn
	id     string
	msgs   chan *signaling.Message
	done   chan struct{}
	err    error // why the reader stopped; valid after done
	closed atomic.Bool
}

// Hold opens a session with hostID through URL u, exchanges offer and answer, and keeps it
// open. Close it.
func (v *Viewers) Hold(ctx context.Context, u int, hostID string) (*Held, error) {
	j := int(v.next.Add(1) - 1)
	var src netip.Addr
	if v.Source != nil {
		src = v.Source(j)
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := v.d.dial(hctx, v.URLs[u], "/v1/viewer", src)
	if err != nil {
		return nil, err
	}
	if err := write(hctx, ws, &signaling.Message{Type: signaling.TypeConnect, HostID: hostID, Version: Version}); err != nil {
		ws.CloseNow()
		return nil, err
	}
	m, err := read(hctx, ws)
	if err == nil && m.Type != signaling.TypeSession {
		err = fmt.Errorf("loadgen: got %q, want session", m.Type)
	}
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	h := &Held{ws: ws, id: m.Session, msgs: make(chan *signaling.Message, 64), done: make(chan struct{})}
	go h.readLoop()
	if err := h.Check(hctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *Held) readLoop() {
	defer close(h.done)
	for {
		m, err := read(context.Background(), h.ws)
		if err != nil {
			h.err = err
			return
		}
		select {
		case h.msgs <- m:
		default: // nobody checks: a simulated viewer may drop what it does not wait for
		}
	}
}

// Check sends an offer on the session (a renegotiation) and waits for the host's answer; it
// fails if the session ended (a bye) or its connection is gone.
func (h *Held) Check(ctx context.Context) error {
	if err := write(ctx, h.ws, &signaling.Message{Type: signaling.TypeOffer, Session: h.id, SDP: fakeSDP("offer", h.id)}); err != nil {
		return err
	}
	for {
		select {
		case m := <-h.msgs:
			switch m.Type {
			case signaling.TypeAnswer:
				return nil
			case signaling.TypeBye:
				return fmt.Errorf("loadgen: the session ended: %s %s", m.Code, m.Reason)
			case signaling.TypeError:
				return &RefusedError{Code: m.Code, Message: m.Message}
			}
		case <-h.done:
			return fmt.Errorf("loadgen: the viewer connection is gone: %w", h.err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close sends a bye, closes the connection and waits for its reader.
func (h *Held) Close() {
	if h.closed.Swap(true) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	write(ctx, h.ws, &signaling.Message{Type: signaling.TypeBye, Session: h.id, Reason: "done"})
	cancel()
	h.ws.CloseNow()
	<-h.done
}
