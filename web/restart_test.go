package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// restartMAC is the proof of docs/session.md ("Moving networks"), computed here independently of
// both implementations: HMAC-SHA256 under the key of "deskport-ice-restart-v1" 0 role 0 || ID ||
// sequence (8 bytes, big-endian) || the description without the proof line.
func restartMAC(key, id []byte, role string, seq uint64, sdp string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("deskport-ice-restart-v1\x00" + role + "\x00"))
	h.Write(id)
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	h.Write([]byte(sdp))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func restartLine(key, id []byte, role string, seq uint64, sdp string) string {
	return "a=x-deskport-restart:" + hex.EncodeToString(id) + " " + strconv.FormatUint(seq, 10) + " " + restartMAC(key, id, role, seq, sdp) + "\r\n"
}

type restartOut struct {
	KeyMessage, Offer, AnswerRest, AnswerError string
}

func runRestartNode(t *testing.T, req map[string]any) restartOut {
	t.Helper()
	node := needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, _ := json.Marshal(req)
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "restart-node.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("restart-node.mjs: %v\n%s", err, out)
	}
	var got restartOut
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

// TestPageRestartProof: the page's restart key message and its signed restart offer are
// byte for byte what the host expects (the key message: magic, ID, key; the proof line at
// session level, before the first m= line), and it accepts the host's proven answer and refuses
// one changed on the way, one for another attempt and one without a proof.
func TestPageRestartProof(t *testing.T) {
	id := bytes.Repeat([]byte{0xa1}, 16)
	key := bytes.Repeat([]byte{0x5c}, 32)
	offer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:new\r\n"
	answer := "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=ice-ufrag:hostnew\r\n"
	i := strings.Index(answer, "\r\nm=") + 2
	signedAnswer := answer[:i] + restartLine(key, id, "answer", 3, answer) + answer[i:]

	base := map[string]any{"id": hex.EncodeToString(id), "key": hex.EncodeToString(key), "seq": 3, "offer": offer, "answer": signedAnswer, "answerSeq": 3}
	got := runRestartNode(t, base)
	if want := hex.EncodeToString(append([]byte("deskport-restart-key-v1\x00"), append(id, key...)...)); got.KeyMessage != want {
		t.Errorf("key message %s, want %s", got.KeyMessage, want)
	}
	j := strings.Index(offer, "\r\nm=") + 2
	if want := offer[:j] + restartLine(key, id, "offer", 3, offer) + offer[j:]; got.Offer != want {
		t.Errorf("signed offer:\n%q\nwant\n%q", got.Offer, want)
	}
	if got.AnswerError != "" || got.AnswerRest != answer {
		t.Errorf("the page refused the host's answer (%s) or kept %q", got.AnswerError, got.AnswerRest)
	}

	for name, change := range map[string]func(m map[string]any){
		"changed on the way": func(m map[string]any) {
			m["answer"] = strings.Replace(signedAnswer, "hostnew", "evil", 1)
		},
		"another attempt": func(m map[string]any) { m["answerSeq"] = 4 },
		"no proof":        func(m map[string]any) { m["answer"] = answer },
		"signed as an offer": func(m map[string]any) {
			m["answer"] = answer[:i] + restartLine(key, id, "offer", 3, answer) + answer[i:]
		},
		"two proofs": func(m map[string]any) {
			m["answer"] = answer[:i] + restartLine(key, id, "answer", 3, answer) + restartLine(key, id, "answer", 3, answer) + answer[i:]
		},
	} {
		req := map[string]any{}
		for k, v := range base {
			req[k] = v
		}
		change(req)
		if got := runRestartNode(t, req); got.AnswerError == "" {
			t.Errorf("%s: the page accepted the answer", name)
		}
	}
}
