package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deskport/deskport/auth/cpace"
	"github.com/deskport/deskport/identity"
)

func authorizeOnly(pub ed25519.PublicKey, o Options) func(ed25519.PublicKey) (Options, bool) {
	return func(k ed25519.PublicKey) (Options, bool) {
		if k.Equal(pub) {
			return o, true
		}
		return Options{}, false
	}
}

// codeStore returns a store with a fresh code and that code.
func codeStore(t testing.TB) (*CodeStore, string) {
	t.Helper()
	s := NewCodeStore(0, nil)
	code, exp := s.Generate()
	if code == "" || exp.IsZero() {
		t.Fatal("Generate failed")
	}
	return s, code
}

func TestKeyRoundTrip(t *testing.T) {
	f := newFixture()
	grant := Options{PermitOpen: []string{"db:5432", "[::1]:22"}, PermitListen: []string{"8080"}, ViewOnly: true, NoFiles: true}
	o := run(t, f.b, f.b,
		HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), grant)},
		ViewerConfig{Key: f.viewerKey})
	if o.hostErr != nil || o.viewErr != nil {
		t.Fatalf("host: %v; viewer: %v", o.hostErr, o.viewErr)
	}
	if o.peer.Method != MethodKey || !o.peer.ViewerKey.Equal(f.viewerPub()) || !reflect.DeepEqual(o.peer.Options, grant) {
		t.Errorf("peer = %+v", o.peer)
	}
	if o.res.Method != MethodKey || !o.res.HostKey.Equal(f.hostPub()) || !reflect.DeepEqual(o.res.Options, grant) {
		t.Errorf("result = %+v", o.res)
	}
}

func TestCodeRoundTrip(t *testing.T) {
	for _, withKey := range []bool{true, false} {
		t.Run(map[bool]string{true: "with viewer key", false: "without viewer key"}[withKey], func(t *testing.T) {
			f := newFixture()
			store, code := codeStore(t)
			vc := ViewerConfig{Code: " " + strings.ToLower(code) + " "} // typed loosely
			if withKey {
				vc.Key = f.viewerKey
			}
			o := run(t, f.b, f.b, HostConfig{Key: f.hostKey, Codes: store}, vc)
			if o.hostErr != nil || o.viewErr != nil {
				t.Fatalf("host: %v; viewer: %v", o.hostErr, o.viewErr)
			}
			if o.peer.Method != MethodCode || !reflect.DeepEqual(o.peer.Options, Options{}) {
				t.Errorf("peer = %+v", o.peer)
			}
			if withKey != (o.peer.ViewerKey != nil) || (withKey && !o.peer.ViewerKey.Equal(f.viewerPub())) {
				t.Errorf("peer viewer key = %x", o.peer.ViewerKey)
			}
			if o.res.Method != MethodCode || !o.res.HostKey.Equal(f.hostPub()) {
				t.Errorf("result = %+v", o.res)
			}
			if _, _, ok := store.Current(); ok {
				t.Error("the code is still current after a successful use")
			}
		})
	}
}

func TestWrongCodeBurnsCode(t *testing.T) {
	f := newFixture()
	store, code := codeStore(t)
	wrong := []byte(NormalizeCode(code))
	wrong[0] = CodeAlphabet[(strings.IndexByte(CodeAlphabet, wrong[0])+1)%len(CodeAlphabet)]
	hc := HostConfig{Key: f.hostKey, Codes: store}

	o := run(t, f.b, f.b, hc, ViewerConfig{Key: f.viewerKey, Code: string(wrong)})
	if !errors.Is(o.viewErr, ErrBadCode) || !errors.Is(o.hostErr, ErrBadCode) {
		t.Fatalf("wrong code: viewer %v; host %v; want ErrBadCode on both", o.viewErr, o.hostErr)
	}
	if !strings.Contains(o.viewErr.Error(), "ask the host owner for a new code") {
		t.Errorf("viewer error does not say what to do: %v", o.viewErr)
	}

	o = run(t, f.b, f.b, hc, ViewerConfig{Key: f.viewerKey, Code: code})
	if !errors.Is(o.viewErr, ErrNoCode) || !errors.Is(o.hostErr, ErrNoCode) {
		t.Fatalf("right code after a wrong guess: viewer %v; host %v; want ErrNoCode (burned)", o.viewErr, o.hostErr)
	}
}

func TestExpiredCode(t *testing.T) {
	f := newFixture()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	store := NewCodeStore(0, nil)
	store.Now = func() time.Time { return t0 }
	code, exp := store.Generate()
	if want := t0.Add(DefaultCodeTTL); !exp.Equal(want) {
		t.Fatalf("expiry %v, want %v", exp, want)
	}
	late := HostConfig{Key: f.hostKey, Codes: store, Now: func() time.Time { return exp }}
	o := run(t, f.b, f.b, late, ViewerConfig{Code: code})
	if !errors.Is(o.viewErr, ErrCodeExpired) || !errors.Is(o.hostErr, ErrCodeExpired) {
		t.Fatalf("viewer %v; host %v; want ErrCodeExpired", o.viewErr, o.hostErr)
	}
	// The expired attempt consumed the code too.
	o = run(t, f.b, f.b, HostConfig{Key: f.hostKey, Codes: store, Now: func() time.Time { return t0 }}, ViewerConfig{Code: code})
	if !errors.Is(o.viewErr, ErrNoCode) {
		t.Fatalf("after expiry: viewer %v; want ErrNoCode", o.viewErr)
	}

	// Just before expiry the code works.
	code, exp = store.Generate()
	o = run(t, f.b, f.b, HostConfig{Key: f.hostKey, Codes: store, Now: func() time.Time { return exp.Add(-time.Nanosecond) }}, ViewerConfig{Code: code})
	if o.viewErr != nil || o.hostErr != nil {
		t.Fatalf("just before expiry: viewer %v; host %v", o.viewErr, o.hostErr)
	}
}

func TestNoCode(t *testing.T) {
	f := newFixture()
	for name, hc := range map[string]HostConfig{
		"codes disabled": {Key: f.hostKey},
		"none generated": {Key: f.hostKey, Codes: NewCodeStore(0, nil)},
		"revoked":        {Key: f.hostKey, Codes: func() *CodeStore { s, _ := codeStore(t); s.Revoke(); return s }()},
	} {
		t.Run(name, func(t *testing.T) {
			o := run(t, f.b, f.b, hc, ViewerConfig{Code: "ABCD-EFGH"})
			if !errors.Is(o.viewErr, ErrNoCode) || !errors.Is(o.hostErr, ErrNoCode) {
				t.Fatalf("viewer %v; host %v; want ErrNoCode", o.viewErr, o.hostErr)
			}
		})
	}
}

func TestUnauthorizedKey(t *testing.T) {
	f := newFixture()
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey)
	for name, authz := range map[string]func(ed25519.PublicKey) (Options, bool){
		"no list":     nil,
		"not on list": authorizeOnly(other, Options{}),
	} {
		t.Run(name, func(t *testing.T) {
			o := run(t, f.b, f.b, HostConfig{Key: f.hostKey, Authorized: authz}, ViewerConfig{Key: f.viewerKey})
			if !errors.Is(o.viewErr, ErrUnauthorized) || !errors.Is(o.hostErr, ErrUnauthorized) {
				t.Fatalf("viewer %v; host %v; want ErrUnauthorized", o.viewErr, o.hostErr)
			}
			msg := o.viewErr.Error()
			for _, want := range []string{identity.Fingerprint(f.viewerPub()), identity.AuthorizedLine(f.viewerPub(), ""), "authorized_viewers"} {
				if !strings.Contains(msg, want) {
					t.Errorf("viewer error %q lacks %q", msg, want)
				}
			}
		})
	}
}

func TestHostIDMismatch(t *testing.T) {
	f := newFixture()
	// The viewer asked for another host; the host it reached is honest about its own ID.
	asked := f.b
	asked.HostID = identity.HostID(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey))
	store, code := codeStore(t)
	for name, vc := range map[string]ViewerConfig{
		"key":  {Key: f.viewerKey},
		"code": {Key: f.viewerKey, Code: code},
	} {
		t.Run(name, func(t *testing.T) {
			o := run(t, f.b, asked, HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), Options{}), Codes: store}, vc)
			if !errors.Is(o.viewErr, ErrHostMismatch) {
				t.Fatalf("viewer %v; want ErrHostMismatch", o.viewErr)
			}
			if !errors.Is(o.hostErr, ErrAborted) || o.peer != nil {
				t.Fatalf("host %v, peer %v; want ErrAborted", o.hostErr, o.peer)
			}
		})
	}
}

func TestManInTheMiddle(t *testing.T) {
	// A relay terminates DTLS on both legs, so the certificates each side sees differ.
	f := newFixture()
	hostLeg, viewerLeg := f.b, f.b
	viewerLeg.HostCert[1] = 0x66 // the relay's certificate towards the viewer
	hostLeg.ViewerCert[1] = 0x77 // the relay's certificate towards the host
	store, code := codeStore(t)
	hc := HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), Options{}), Codes: store}
	for name, vc := range map[string]ViewerConfig{
		"key":             {Key: f.viewerKey},
		"code right code": {Key: f.viewerKey, Code: code},
	} {
		t.Run(name, func(t *testing.T) {
			o := run(t, hostLeg, viewerLeg, hc, vc)
			if !errors.Is(o.viewErr, ErrHostMismatch) || o.res != nil {
				t.Fatalf("viewer %v; want ErrHostMismatch", o.viewErr)
			}
			if o.hostErr == nil || o.peer != nil {
				t.Fatalf("host accepted a relayed handshake: %+v", o.peer)
			}
		})
	}

	// Even a viewer that skipped its own check could not get in: the host refuses a relayed
	// viewer signature, and a relayed code confirmation.
	t.Run("host side", func(t *testing.T) {
		store, code := codeStore(t)
		hc := HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), Options{}), Codes: store}
		for _, vc := range []ViewerConfig{{Key: f.viewerKey}, {Key: f.viewerKey, Code: code}} {
			err := careless(t, hostLeg, viewerLeg, hc, vc, f)
			if !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrBadCode) {
				t.Errorf("method code=%q: host %v; want a refusal", vc.Code, err)
			}
		}
	})
}

// careless plays a viewer that skips the host-signature check (as if its check had been
// stripped) against a host with a different binding, and returns the host's error: the host
// must still refuse, because the viewer's signature or code confirmation covers the viewer's
// binding.
func careless(t *testing.T, hb, vb Binding, hc HostConfig, vc ViewerConfig, f fixture) error {
	t.Helper()
	h, v := newMsgPipe()
	var peer *Peer
	var hostErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer h.Close()
		peer, hostErr = Host(h, hb, hc)
	}()
	defer func() {
		v.Close()
		<-done
		if peer != nil {
			t.Fatalf("host accepted a relayed handshake")
		}
	}()
	method := MethodKey
	if vc.Code != "" {
		method = MethodCode
	}
	nonce := bytes.Repeat([]byte{5}, NonceSize)
	if err := writeMsg(v, &helloMsg{V: Version, Type: typeHello, Method: method, ViewerKey: f.viewerPub(), Nonce: nonce}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, MaxMessageSize+1)
	raw, err := readMsg(v, buf)
	if err != nil {
		t.Fatal(err)
	}
	ha, err := decodeHostAuth(raw, method)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTranscript(vb, method)
	tr.add("viewer_key", f.viewerPub())
	tr.add("viewer_nonce", nonce)
	tr.add("host_key", ha.HostKey)
	tr.add("host_nonce", ha.Nonce)
	if method == MethodCode {
		tr.add("ya", ha.Ya)
	}
	tr.add("host_sig", ha.Sig)
	if method == MethodKey {
		sig := ed25519.Sign(f.viewerKey, signed(ctxViewerSig, tr.sum()))
		if err := writeMsg(v, &viewerAuthMsg{V: Version, Type: typeViewerAuth, Sig: sig}); err != nil {
			t.Fatal(err)
		}
	} else {
		sid := append(append([]byte(nil), nonce...), ha.Nonce...)
		yb, isk, err := cpace.Respond([]byte(NormalizeCode(vc.Code)), channelID(vb), sid, ha.Ya, ha.HostKey, f.viewerPub(), nil)
		if err != nil {
			t.Fatal(err)
		}
		tr.add("yb", yb)
		sig := ed25519.Sign(f.viewerKey, signed(ctxViewerSig, tr.sum()))
		tr.add("viewer_sig", sig)
		mac, err := confirmMAC(isk, infoViewerMAC, tr.sum())
		if err != nil {
			t.Fatal(err)
		}
		if err := writeMsg(v, &confirmMsg{V: Version, Type: typeConfirm, Yb: yb, Sig: sig, MAC: mac}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err = readMsg(v, buf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := decodeResult(raw)
	if err != nil || res.OK {
		t.Fatalf("host answered %+v, %v; want a refusal", res, err)
	}
	v.Close()
	<-done
	return hostErr
}

func TestReplay(t *testing.T) {
	f := newFixture()
	t.Run("key", func(t *testing.T) {
		hc := HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), Options{})}
		o := run(t, f.b, f.b, hc, ViewerConfig{Key: f.viewerKey})
		if o.hostErr != nil || o.viewErr != nil || len(o.viewerMsgs) != 2 {
			t.Fatalf("recording session: %v / %v / %d messages", o.hostErr, o.viewErr, len(o.viewerMsgs))
		}
		s := &scripted{reads: o.viewerMsgs}
		peer, err := Host(s, f.b, hc) // same binding, new host nonce
		if !errors.Is(err, ErrUnauthorized) || peer != nil {
			t.Fatalf("replay: host %v, peer %v; want ErrUnauthorized", err, peer)
		}
		if last := lastResult(t, s); last.OK || last.Code != CodeUnauthorized {
			t.Errorf("host answered the replay with %+v", last)
		}
	})
	t.Run("code", func(t *testing.T) {
		// A random source that repeats itself, so the replayed session even has the same code.
		store := NewCodeStore(0, bytes.NewReader(bytes.Repeat([]byte("12345678"), 2)))
		code, _ := store.Generate()
		hc := HostConfig{Key: f.hostKey, Codes: store}
		o := run(t, f.b, f.b, hc, ViewerConfig{Key: f.viewerKey, Code: code})
		if o.hostErr != nil || o.viewErr != nil || len(o.viewerMsgs) != 2 {
			t.Fatalf("recording session: %v / %v / %d messages", o.hostErr, o.viewErr, len(o.viewerMsgs))
		}
		if again, _ := store.Generate(); again != code {
			t.Fatalf("test setup: second code %s != %s", again, code)
		}
		s := &scripted{reads: o.viewerMsgs}
		peer, err := Host(s, f.b, hc)
		if !errors.Is(err, ErrBadCode) || peer != nil {
			t.Fatalf("replay: host %v, peer %v; want ErrBadCode", err, peer)
		}
	})
}

func lastResult(t *testing.T, s *scripted) *resultMsg {
	t.Helper()
	if len(s.writes) == 0 {
		t.Fatal("host wrote nothing")
	}
	r, err := decodeResult(s.writes[len(s.writes)-1])
	if err != nil {
		t.Fatalf("host's last message is not a result: %v", err)
	}
	return r
}

func TestHostRefusesMalformedHello(t *testing.T) {
	f := newFixture()
	nonce := bytes.Repeat([]byte{3}, NonceSize)
	good := func(mut func(m map[string]any)) []byte {
		m := map[string]any{"v": 1, "type": "hello", "method": "key", "viewer_key": []byte(f.viewerPub()), "nonce": nonce}
		mut(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		code string
		want error
	}{
		{"not JSON", []byte("hello"), CodeProtocol, ErrProtocol},
		{"empty", []byte{}, CodeProtocol, ErrProtocol},
		{"no version", good(func(m map[string]any) { delete(m, "v") }), CodeProtocol, ErrProtocol},
		{"version 2", good(func(m map[string]any) { m["v"] = 2; m["future"] = true }), CodeVersion, ErrVersion},
		{"unknown field", good(func(m map[string]any) { m["extra"] = 1 }), CodeProtocol, ErrProtocol},
		{"wrong type", good(func(m map[string]any) { m["type"] = "confirm" }), CodeProtocol, ErrProtocol},
		{"unknown method", good(func(m map[string]any) { m["method"] = "password" }), CodeProtocol, ErrProtocol},
		{"short nonce", good(func(m map[string]any) { m["nonce"] = nonce[:31] }), CodeProtocol, ErrProtocol},
		{"key method without key", good(func(m map[string]any) { delete(m, "viewer_key") }), CodeProtocol, ErrProtocol},
		{"long key", good(func(m map[string]any) { m["viewer_key"] = make([]byte, 33) }), CodeProtocol, ErrProtocol},
		{"bad base64", []byte(`{"v":1,"type":"hello","method":"key","viewer_key":"!!","nonce":"AA=="}`), CodeProtocol, ErrProtocol},
		{"trailing data", append(good(func(map[string]any) {}), []byte(" {}")...), CodeProtocol, ErrProtocol},
		{"too large", append(good(func(map[string]any) {}), bytes.Repeat([]byte(" "), MaxMessageSize)...), CodeProtocol, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{reads: [][]byte{tc.msg}}
			peer, err := Host(s, f.b, HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), Options{})})
			if !errors.Is(err, tc.want) || peer != nil {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if r := lastResult(t, s); r.OK || r.Code != tc.code {
				t.Errorf("host answered %+v, want refusal %q", r, tc.code)
			}
		})
	}
}

func TestViewerHandlesHostVersion(t *testing.T) {
	f := newFixture()
	s := &scripted{reads: [][]byte{[]byte(`{"v":2,"type":"host_auth","something":"new"}`)}}
	_, err := Viewer(s, f.b, ViewerConfig{Key: f.viewerKey})
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
	if a, derr := decodeAbort(s.writes[len(s.writes)-1]); derr != nil || a.Code != AbortVersion {
		t.Errorf("viewer's last message: %+v, %v", a, derr)
	}
}

func TestViewerRejectsBadCodeLocally(t *testing.T) {
	f := newFixture()
	for _, c := range []string{"ABCD-EFG", "ABCD-EFGHJ", "ABCD-EFG0", "ABCD-EFGI", "ÄBCD-EFGH"} {
		s := &scripted{}
		if _, err := Viewer(s, f.b, ViewerConfig{Code: c}); err == nil || errors.Is(err, ErrBadCode) {
			t.Errorf("code %q: err = %v, want a local error", c, err)
		}
		if len(s.writes) != 0 {
			t.Errorf("code %q: viewer sent %d messages; a typo must not burn the host's code", c, len(s.writes))
		}
	}
	if _, err := Viewer(&scripted{}, f.b, ViewerConfig{}); err == nil {
		t.Error("viewer without key and code did not fail")
	}
}

func TestHostConfigChecks(t *testing.T) {
	f := newFixture()
	if _, err := Host(&scripted{}, f.b, HostConfig{}); err == nil {
		t.Error("Host without a key did not fail")
	}
	b := f.b
	b.HostID = "aaaaaaaaaaaaaaaaaaaaaaaa"
	if _, err := Host(&scripted{}, b, HostConfig{Key: f.hostKey}); err == nil || !strings.Contains(err.Error(), "host ID") {
		t.Errorf("Host with someone else's host ID: err = %v", err)
	}
}

func TestHostSeesViewerAbortAndEOF(t *testing.T) {
	f := newFixture()
	hello, _ := json.Marshal(&helloMsg{V: 1, Type: typeHello, Method: MethodKey, ViewerKey: f.viewerPub(), Nonce: make([]byte, NonceSize)})
	abort, _ := json.Marshal(&abortMsg{V: 1, Type: typeAbort, Code: AbortHostMismatch})
	hc := HostConfig{Key: f.hostKey, Authorized: authorizeOnly(f.viewerPub(), Options{})}
	if _, err := Host(&scripted{reads: [][]byte{hello, abort}}, f.b, hc); !errors.Is(err, ErrAborted) {
		t.Errorf("abort: err = %v, want ErrAborted", err)
	}
	if _, err := Host(&scripted{reads: [][]byte{hello}}, f.b, hc); err == nil || errors.Is(err, ErrProtocol) {
		t.Errorf("channel closed: err = %v, want a read error", err)
	}
}
