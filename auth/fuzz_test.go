package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/deskport/deskport/identity"
)

// seedSessions records the messages of a successful key session and a successful code session,
// both directions, to seed the fuzzers with valid messages of every type.
func seedSessions(f *testing.F) (viewerMsgs, hostMsgs [][]byte) {
	fx := newFixture()
	store, code := codeStore(f)
	for _, vc := range []ViewerConfig{{Key: fx.viewerKey}, {Key: fx.viewerKey, Code: code}} {
		h, v := newMsgPipe()
		hr, vr := &recorder{ReadWriter: h}, &recorder{ReadWriter: v}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.Close()
			Host(hr, fx.b, HostConfig{Key: fx.hostKey, Authorized: authorizeOnly(fx.viewerPub(), Options{ViewOnly: true, PermitOpen: []string{"a:1"}}), Codes: store})
		}()
		if _, err := Viewer(vr, fx.b, vc); err != nil {
			f.Fatalf("seed session: %v", err)
		}
		v.Close()
		wg.Wait()
		viewerMsgs = append(viewerMsgs, vr.writes...)
		hostMsgs = append(hostMsgs, hr.writes...)
	}
	refusal, _ := json.Marshal(&resultMsg{V: 1, Type: typeResult, Code: CodeBadCode, Message: "wrong"})
	abort, _ := json.Marshal(&abortMsg{V: 1, Type: typeAbort, Code: AbortHostMismatch})
	return append(viewerMsgs, abort, []byte(`{"v":2}`), []byte(`{}`)), append(hostMsgs, refusal)
}

func addAll(f *testing.F, msgs [][]byte) {
	for _, m := range msgs {
		f.Add(m)
	}
}

func FuzzDecodeHello(f *testing.F) {
	vm, hm := seedSessions(f)
	addAll(f, append(vm, hm...))
	nonce := base64.StdEncoding.EncodeToString(make([]byte, NonceSize))
	f.Add([]byte(`{"v":1,"type":"hello","method":"code","nonce":"` + nonce + `","client":"deskport-web/1+0123456789ab"}`))
	f.Add([]byte(`{"v":1,"type":"hello","method":"code","nonce":"` + nonce + `","client":"x\u001b[2J"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeHello(b)
		if err != nil {
			return
		}
		if len(m.Nonce) != NonceSize || (m.Method != MethodKey && m.Method != MethodCode) || (m.Method == MethodKey && len(m.ViewerKey) != 32) {
			t.Fatalf("accepted invalid hello %+v", m)
		}
		if len(m.Client) > MaxClientBytes || strings.ContainsFunc(m.Client, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
			t.Fatalf("accepted client %q", m.Client)
		}
		again, _ := json.Marshal(m)
		if _, err := decodeHello(again); err != nil {
			t.Fatalf("re-encoded hello does not decode: %v", err)
		}
	})
}

func FuzzDecodeHostAuth(f *testing.F) {
	vm, hm := seedSessions(f)
	for _, m := range append(vm, hm...) {
		f.Add(m, false)
		f.Add(m, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, code bool) {
		method := MethodKey
		if code {
			method = MethodCode
		}
		m, err := decodeHostAuth(b, method)
		if err != nil {
			return
		}
		if len(m.HostKey) != 32 || len(m.Nonce) != NonceSize || len(m.Sig) != 64 || (code && len(m.Ya) != 32) || (!code && m.Ya != nil) {
			t.Fatalf("accepted invalid host_auth %+v", m)
		}
	})
}

func FuzzDecodeViewerAuth(f *testing.F) {
	vm, hm := seedSessions(f)
	addAll(f, append(vm, hm...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeViewerAuth(b); err == nil && len(m.Sig) != 64 {
			t.Fatalf("accepted invalid viewer_auth %+v", m)
		}
	})
}

func FuzzDecodeConfirm(f *testing.F) {
	vm, hm := seedSessions(f)
	for _, m := range append(vm, hm...) {
		f.Add(m, false)
		f.Add(m, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, withSig bool) {
		m, err := decodeConfirm(b, withSig)
		if err != nil {
			return
		}
		if len(m.Yb) != 32 || len(m.MAC) != macSize || withSig != (m.Sig != nil) {
			t.Fatalf("accepted invalid confirm %+v", m)
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	vm, hm := seedSessions(f)
	addAll(f, append(vm, hm...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeResult(b)
		if err != nil {
			return
		}
		if m.OK && (m.Code != "" || m.Message != "") || !m.OK && (m.Options != nil || m.MAC != nil || m.Code == "") {
			t.Fatalf("accepted inconsistent result %+v", m)
		}
		if m.MAC != nil && len(m.MAC) != macSize {
			t.Fatalf("accepted a %d-byte mac", len(m.MAC))
		}
	})
}

func FuzzDecodeAbort(f *testing.F) {
	vm, _ := seedSessions(f)
	addAll(f, vm)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeAbort(b); err == nil && m.Code == "" {
			t.Fatalf("accepted abort without a code")
		}
	})
}

// FuzzHostFirstMessage feeds the host an arbitrary first message (and then a closed channel):
// it must never accept, and everything it sends must be a well-formed message.
func FuzzHostFirstMessage(f *testing.F) {
	vm, hm := seedSessions(f)
	addAll(f, append(vm, hm...))
	fx := newFixture()
	f.Fuzz(func(t *testing.T, b []byte) {
		store, _ := codeStore(t)
		s := &scripted{reads: [][]byte{b}}
		peer, err := Host(s, fx.b, HostConfig{Key: fx.hostKey, Authorized: authorizeOnly(fx.viewerPub(), Options{}), Codes: store})
		if err == nil || peer != nil {
			t.Fatalf("host accepted after one message")
		}
		for _, w := range s.writes {
			typ, err := envelope(w)
			if err != nil {
				t.Fatalf("host wrote a malformed message: %v", err)
			}
			switch typ {
			case typeResult:
				if _, err := decodeResult(w); err != nil {
					t.Fatalf("host wrote an invalid result: %v", err)
				}
			case typeHostAuth:
			default:
				t.Fatalf("host wrote a %q message", typ)
			}
		}
	})
}

// FuzzHostSecondMessage gives the host a valid hello and then arbitrary bytes: a host never
// accepts a viewer that did not prove anything.
func FuzzHostSecondMessage(f *testing.F) {
	vm, hm := seedSessions(f)
	for _, m := range append(vm, hm...) {
		f.Add(m, false)
		f.Add(m, true)
	}
	fx := newFixture()
	f.Fuzz(func(t *testing.T, b []byte, code bool) {
		store, _ := codeStore(t)
		method := MethodKey
		if code {
			method = MethodCode
		}
		hello, _ := json.Marshal(&helloMsg{V: 1, Type: typeHello, Method: method, ViewerKey: fx.viewerPub(), Nonce: make([]byte, NonceSize)})
		s := &scripted{reads: [][]byte{hello, b}}
		if peer, err := Host(s, fx.b, HostConfig{Key: fx.hostKey, Authorized: authorizeOnly(fx.viewerPub(), Options{}), Codes: store}); err == nil || peer != nil {
			t.Fatalf("host accepted an unproven viewer")
		}
	})
}

// FuzzViewerHostAnswer gives the viewer an arbitrary answer to its hello: without the host's
// key the viewer must never accept.
func FuzzViewerHostAnswer(f *testing.F) {
	vm, hm := seedSessions(f)
	addAll(f, append(vm, hm...))
	fx := newFixture()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, vc := range []ViewerConfig{{Key: fx.viewerKey}, {Key: fx.viewerKey, Code: "ABCD-EFGH"}} {
			s := &scripted{reads: [][]byte{b, []byte(`{"v":1,"type":"result","ok":true}`)}}
			if res, err := Viewer(s, fx.b, vc); err == nil || res != nil {
				t.Fatalf("viewer accepted a host that proved nothing")
			}
		}
	})
}

func FuzzParseAuthorizedViewers(f *testing.F) {
	fx := newFixture()
	line := identity.AuthorizedLine(fx.viewerPub(), "c")
	f.Add(line)
	f.Add(`permitopen="a:1",view-only ` + line)
	f.Add("# comment\n\n" + line + "\n" + line)
	f.Add(`permitlisten="[::1]:*",no-files,no-clipboard,no-port-forwarding ` + line)
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseAuthorizedViewers(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, k := range keys {
			if len(k.Key) != 32 {
				t.Fatalf("accepted a %d-byte key", len(k.Key))
			}
			for _, p := range k.Options.PermitOpen {
				if checkPermitOpen(p) != nil {
					t.Fatalf("accepted permitopen %q", p)
				}
			}
		}
	})
}
