// Package web is deskport's browser viewer: a static page, its stylesheet and one JavaScript
// bundle, embedded in the Go binaries so that the rendezvous serves it without Node or files on
// disk. The JS sources live in web/src and are bundled to web/dist/app.js by `npm run build`
// (web/build.sh); the bundle is committed, so `go build` works on a fresh clone.
//
// docs/web.md describes the page, its URL forms and how it authenticates.
package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/deskport/deskport/internal/version"
)

//go:embed static/index.html static/style.css static/favicon.svg dist/app.js
var files embed.FS

// ContentSecurityPolicy is sent with every response. The page runs only its own bundle (no
// inline script or style, no eval); it talks only to its own origin (the signaling WebSocket:
// CSP Level 3 lets 'self' match ws:/wss: on the same host, as Chromium and Firefox implement
// it); the video is a MediaStream set through srcObject, which media-src does not govern, and
// 'self' blob: covers any later recording playback. Nothing may frame it (clickjacking a remote
// desktop would be bad).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	body        []byte
	contentType string
	etag        string
	// immutable assets are addressed by content hash (?v=) and may be cached for a year.
	immutable bool
}

// Integrity is the Subresource Integrity value of b: "sha384-" and its base64 SHA-384.
func Integrity(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// bundleVersionRE finds the version build.mjs stamps into the bundle.
var bundleVersionRE = regexp.MustCompile(`deskport-web/[0-9]+\+[0-9a-f]{12}`)

// BundleVersion is the version of the page this binary embeds ("deskport-web/1+" and a hash of
// web/src), the one the page sends in its auth hello; "" if the bundle carries none.
func BundleVersion() string {
	b, err := fs.ReadFile(files, "dist/app.js")
	if err != nil {
		return ""
	}
	return string(bundleVersionRE.Find(b))
}

// Handler serves the viewer: "/" (and "/index.html") is the page, "/app.js", "/style.css" and
// "/favicon.svg" its assets. The host ID travels in the URL fragment (/#<hostid>), which never
// reaches the server. Anything else is 404. Mount it at the root of the rendezvous.
func Handler() http.Handler {
	assets := map[string]*asset{}
	load := func(name, file, ctype string) *asset {
		b, err := fs.ReadFile(files, file)
		if err != nil {
			panic("web: embedded file missing: " + file) // a build defect, caught by the tests
		}
		sum := sha256.Sum256(b)
		a := &asset{body: b, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, immutable: true}
		assets[name] = a
		return a
	}
	js := load("/app.js", "dist/app.js", "text/javascript; charset=utf-8")
	css := load("/style.css", "static/style.css", "text/css; charset=utf-8")
	icon := load("/favicon.svg", "static/favicon.svg", "image/svg+xml")

	// The page names its assets with their content hash, so a new build is never mixed with a
	// cached old bundle, while the assets themselves can be cached for good.
	page, err := fs.ReadFile(files, "static/index.html")
	if err != nil {
		panic("web: embedded file missing: static/index.html")
	}
	// The script and the stylesheet carry Subresource Integrity: the browser runs them only if
	// their SHA-384 matches the page's. That binds the assets to the page (a cache or a CDN in
	// between cannot swap one); it cannot protect against whoever serves the page itself (see
	// docs/security.md).
	for _, a := range []struct {
		name string
		a    *asset
		sri  bool
	}{{"/app.js", js, true}, {"/style.css", css, true}, {"/favicon.svg", icon, false}} {
		attr := `"` + a.name + "?v=" + strings.Trim(a.a.etag, `"`) + `"`
		if a.sri {
			attr += ` integrity="` + Integrity(a.a.body) + `"`
		}
		page = bytes.ReplaceAll(page, []byte(`"`+a.name+`"`), []byte(attr))
	}
	page = bytes.Replace(page, []byte(versionElement), footerVersion(version.Get()), 1)
	sum := sha256.Sum256(page)
	index := &asset{body: page, contentType: "text/html; charset=utf-8", etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	assets["/"] = index
	assets["/index.html"] = index

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := assets[path.Clean("/"+r.URL.Path)]
		h := w.Header()
		setSecurityHeaders(h)
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		if a.immutable && r.URL.Query().Get("v") != "" {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// The page must be revalidated so that a new build's asset names are picked up.
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// versionElement is the footer line of static/index.html that Handler fills in.
const versionElement = `<p id="version">deskport</p>`

// footerVersion is the page's footer line: the build that serves the page (what --version
// prints), and in its title the version of the bundle the page sends in its hello. The page is
// static, so the server writes it in rather than the script asking for it.
func footerVersion(in version.Info) []byte {
	title := "page " + BundleVersion()
	return []byte(`<p id="version" title="` + html.EscapeString(title) + `">deskport ` + html.EscapeString(in.String()) + `</p>`)
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}
