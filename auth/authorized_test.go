package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/deskport/deskport/identity"
)

func TestParseAuthorizedViewers(t *testing.T) {
	k1 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	k2 := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)).Public().(ed25519.PublicKey)
	l1 := identity.AuthorizedLine(k1, "alice@laptop")
	l2 := identity.AuthorizedLine(k2, "")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	rsaLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaPub)))

	for _, tc := range []struct {
		name    string
		in      string
		want    []AuthorizedKey
		wantErr string // substring; "" means success
	}{
		{name: "empty", in: ""},
		{name: "comments and blanks", in: "# owner's viewers\n\n   \n\t# more\n"},
		{name: "plain key", in: l1 + "\n", want: []AuthorizedKey{{Key: k1, Comment: "alice@laptop"}}},
		{name: "two keys, CRLF, no final newline", in: l1 + "\r\n" + l2, want: []AuthorizedKey{{Key: k1, Comment: "alice@laptop"}, {Key: k2}}},
		{
			name: "all options",
			in:   `permitopen="db:5432",permitopen="[::1]:22",PermitOpen="*:80",permitlisten="8080",permitlisten="127.0.0.1:*",no-port-forwarding,view-only,no-files,no-clipboard ` + l1,
			want: []AuthorizedKey{{Key: k1, Comment: "alice@laptop", Options: Options{
				PermitOpen:       []string{"db:5432", "[::1]:22", "*:80"},
				PermitListen:     []string{"8080", "127.0.0.1:*"},
				NoPortForwarding: true, ViewOnly: true, NoFiles: true, NoClipboard: true,
			}}},
		},
		{name: "unknown option", in: "# c\n" + l2 + "\ncommand=\"/bin/sh\" " + l1, wantErr: "line 3: unknown option \"command\""},
		{name: "unknown flag", in: "restrict " + l1, wantErr: "line 1: unknown option \"restrict\""},
		{name: "flag with value", in: `view-only="yes" ` + l1, wantErr: "line 1: option view-only takes no value"},
		{name: "permitopen without value", in: `permitopen ` + l1, wantErr: "needs a value"},
		{name: "permitopen without port", in: `permitopen="db" ` + l1, wantErr: "line 1: permitopen=\"db\""},
		{name: "permitopen bad port", in: `permitopen="db:99999" ` + l1, wantErr: "not a number from 1 to 65535"},
		{name: "permitopen empty host", in: `permitopen=":22" ` + l1, wantErr: "want \"host:port\""},
		{name: "permitlisten bad", in: `permitlisten="x" ` + l1, wantErr: "permitlisten=\"x\""},
		{name: "rsa key", in: l1 + "\n" + rsaLine, wantErr: "line 2: key type ssh-rsa is not supported"},
		{name: "garbage", in: "not a key at all", wantErr: "line 1: not an authorized_keys line"},
		{name: "duplicate key", in: l1 + "\nview-only " + l1, wantErr: "line 2: key " + identity.Fingerprint(k1) + " is already listed on line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAuthorizedViewers(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLoadAuthorizedViewers(t *testing.T) {
	dir := t.TempDir()
	keys, err := LoadAuthorizedViewers(filepath.Join(dir, "missing"))
	if err != nil || keys != nil {
		t.Errorf("missing file: %v, %v; want an empty list", keys, err)
	}
	if _, err := LoadAuthorizedViewers(dir); err == nil {
		t.Error("a directory did not fail")
	}
	k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	p := filepath.Join(dir, "authorized_viewers")
	if err := os.WriteFile(p, []byte("view-only "+identity.AuthorizedLine(k, "bob")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err = LoadAuthorizedViewers(p)
	if err != nil || len(keys) != 1 || !keys[0].Options.ViewOnly {
		t.Fatalf("keys = %+v, err = %v", keys, err)
	}
	lookup := AuthorizedFunc(keys)
	if o, ok := lookup(k); !ok || !o.ViewOnly {
		t.Errorf("lookup(listed) = %+v, %v", o, ok)
	}
	if _, ok := lookup(make(ed25519.PublicKey, 32)); ok {
		t.Error("lookup(unlisted) = true")
	}
	if err := os.WriteFile(p, []byte("bogus-option "+identity.AuthorizedLine(k, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuthorizedViewers(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("bad file: err = %v, want it to name the file", err)
	}
}

func TestCodeStore(t *testing.T) {
	s := NewCodeStore(0, nil)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		code, _ := s.Generate()
		if len(code) != CodeLen+1 || code[4] != '-' {
			t.Fatalf("code %q is not formatted as XXXX-XXXX", code)
		}
		n := NormalizeCode(code)
		if !validCode(n) {
			t.Fatalf("code %q has characters outside the alphabet", code)
		}
		seen[n] = true
		if cur, _, ok := s.Current(); !ok || cur != code {
			t.Fatalf("Current = %q, %v; want the latest code %q", cur, ok, code)
		}
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct codes out of 50", len(seen))
	}
	if got := NormalizeCode(" ab-cd efgh\t"); got != "ABCDEFGH" {
		t.Errorf("NormalizeCode = %q", got)
	}

	// Each random byte maps to one character without bias: byte i -> alphabet[i%32].
	d := NewCodeStore(0, bytes.NewReader([]byte{0, 1, 31, 32, 33, 255, 8, 9}))
	if code, _ := d.Generate(); code != "AB9A-B9JK" {
		t.Errorf("deterministic code = %q", code)
	}

	// A failing random source leaves no code behind.
	f := NewCodeStore(0, bytes.NewReader([]byte{1, 2, 3}))
	f.code, f.expires = "ABCDEFGH", d.expires
	if code, exp := f.Generate(); code != "" || !exp.IsZero() {
		t.Errorf("failing rand: %q, %v; want no code", code, exp)
	}
	if _, _, ok := f.Current(); ok {
		t.Error("failing rand left the old code current")
	}
	if _, err := f.take(d.expires); !errors.Is(err, ErrNoCode) {
		t.Errorf("take after failing rand: %v", err)
	}
}

// TestAuthorizedViewersStrictModes: like OpenSSH's StrictModes, a policy file (or its
// directory) that group or others could write, or that another user owns, is refused with the
// command that fixes it.
func TestAuthorizedViewersStrictModes(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	line := identity.AuthorizedLine(pub, "strict") + "\n"
	for _, tc := range []struct {
		name              string
		fileMode, dirMode os.FileMode
		fix               string // "" means accepted
	}{
		{"private", 0o600, 0o700, ""},
		{"world-readable", 0o644, 0o755, ""},
		{"group-writable file", 0o620, 0o700, "chmod go-w "},
		{"world-writable file", 0o606, 0o700, "chmod go-w "},
		{"group-writable directory", 0o600, 0o770, "chmod go-w "},
		{"world-writable sticky directory", 0o600, 0o1777, "chmod go-w "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "conf")
			p := filepath.Join(dir, "authorized_viewers")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.fileMode)
			os.Chmod(dir, tc.dirMode)
			keys, err := LoadAuthorizedViewers(p)
			if tc.fix == "" {
				if err != nil || len(keys) != 1 {
					t.Fatalf("LoadAuthorizedViewers = %d keys, %v", len(keys), err)
				}
				return
			}
			if !errors.Is(err, ErrUnsafePolicy) || !strings.Contains(err.Error(), tc.fix) {
				t.Fatalf("LoadAuthorizedViewers = %d keys, %v; want ErrUnsafePolicy with %q", len(keys), err, tc.fix)
			}
		})
	}
	t.Run("owned by another user", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to give the file to another user")
		}
		p := filepath.Join(t.TempDir(), "authorized_viewers")
		os.WriteFile(p, []byte(line), 0o600)
		if err := os.Chown(p, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadAuthorizedViewers(p); !errors.Is(err, ErrUnsafePolicy) || !strings.Contains(err.Error(), "chown 0 ") {
			t.Fatalf("a file of user 4242: %v", err)
		}
	})
}
