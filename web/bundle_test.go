package web

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSubresourceIntegrity: the page's script and stylesheet tags carry the SHA-384 of the
// bytes the handler serves at their URLs, so a browser runs nothing else in their place.
func TestSubresourceIntegrity(t *testing.T) {
	h := Handler()
	body := get(t, h, "/").Body.String()
	for _, name := range []string{"/app.js", "/style.css"} {
		m := regexp.MustCompile(`"(` + regexp.QuoteMeta(name) + `\?v=[0-9a-f]{16})" integrity="(sha384-[A-Za-z0-9+/=]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("the page's tag for %s has no integrity attribute:\n%s", name, body)
		}
		served := get(t, h, m[1]).Body.Bytes()
		sum := sha512.Sum384(served)
		if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); m[2] != want {
			t.Errorf("%s: integrity %s, but the served bytes hash to %s", name, m[2], want)
		}
	}
}

// TestBundleVersionMatchesSources: the committed bundle carries the version build.mjs derives
// from web/src, so a bundle that was not rebuilt after a source change fails here, and the
// version the host logs names the sources it came from.
func TestBundleVersionMatchesSources(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("src", "*.js"))
	if err != nil || len(names) == 0 {
		t.Fatalf("web/src: %v", err)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(filepath.Base(p) + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	want := "deskport-web/1+" + hex.EncodeToString(h.Sum(nil))[:12]
	if got := BundleVersion(); got != want {
		t.Fatalf("the embedded bundle's version is %q, the sources give %q: rebuild it with web/build.sh and commit dist/app.js", got, want)
	}
	if !strings.HasPrefix(want, "deskport-web/1+") {
		t.Fatal(want)
	}
}
