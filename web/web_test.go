package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/deskport/deskport/internal/version"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	h := Handler()
	page := get(t, h, "/")
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", page.Code, page.Header().Get("Content-Type"))
	}
	if got := page.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("page Cache-Control = %q", got)
	}
	body := page.Body.String()
	for _, id := range []string{"host-id", "code", "connect", "status", "video", "error", "stats", "authorized-line", "verified", "fullscreen", "copy-line", "disconnect", "keys", "files", "files-panel", "files-list", "clipboard-sync", "clipboard-state", "pointer-lock", "special-keys", "upload-progress"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("page has no element #%s", id)
		}
	}
	// The footer names the build serving the page, as --version prints it.
	if want := footerVersion(version.Get()); !strings.Contains(body, string(want)) || !strings.Contains(body, ">deskport "+version.Get().Version+" ") {
		t.Errorf("the page's footer lacks the build version %s", want)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(body) || strings.Contains(body, " style=") || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("the page has inline script, style or event handlers, which the CSP forbids")
	}

	// The page names its assets with a content hash; those URLs are cached for good.
	for _, tc := range []struct{ name, ctype string }{
		{"/app.js", "text/javascript"}, {"/style.css", "text/css"}, {"/favicon.svg", "image/svg+xml"},
	} {
		m := regexp.MustCompile(`"(` + regexp.QuoteMeta(tc.name) + `\?v=[0-9a-f]{16})"`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("page does not reference %s with a content hash", tc.name)
			continue
		}
		w := get(t, h, m[1])
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s = %d %q", m[1], w.Code, w.Header().Get("Content-Type"))
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control = %q", m[1], cc)
		}
		if w.Body.Len() == 0 {
			t.Errorf("GET %s is empty", m[1])
		}
		etag := w.Header().Get("ETag")
		if nm := get(t, h, m[1], "If-None-Match", etag); nm.Code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match = %d", m[1], nm.Code)
		}
		if cc := get(t, h, tc.name).Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s without a hash: Cache-Control = %q", tc.name, cc)
		}
	}

	for _, path := range []string{"/", "/app.js", "/nope", "/../web.go"} {
		w := get(t, h, path)
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("GET %s: CSP allows unsafe sources: %q", path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	for _, path := range []string{"/nope", "/static/index.html", "/src/main.js", "/web.go"} {
		if w := get(t, h, path); w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d", w.Code)
	}
}

// TestFooterVersionEscaped: the version comes from the linker (-X) and goes into HTML.
func TestFooterVersionEscaped(t *testing.T) {
	got := string(footerVersion(version.Info{Version: `v1<script>"&`, Go: "go1"}))
	if strings.Contains(got, "<script>") || !strings.Contains(got, "v1&lt;script&gt;&#34;&amp;") {
		t.Errorf("footer %q: the version is not escaped", got)
	}
}
