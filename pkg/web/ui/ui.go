package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// contentSecurityPolicy lets the page load only its own files and talk only to its own
// origin (fetch and WebSocket): even a message that slipped past textContent could not run a
// script or send a token elsewhere. Its frame-ancestors part (who may show the page in a
// frame) is added by Handler.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

// Options configure the UI's Handler.
type Options struct {
	// FrameAncestors are the origins whose pages may show the UI in a frame, besides pages of
	// its own origin (server.frame_ancestors): "https://app.example.com", a host may start
	// with "*.". They become the page's CSP frame-ancestors, so a browser refuses to show the
	// page framed by any other, and only such a page can hand it a JWT (auth.mode jwt) with
	// postMessage. Each must be an origin as config.Validate checks it; a value with a space
	// or a semicolon is dropped rather than allowed to change the rest of the policy.
	FrameAncestors []string
}

// Handler serves the UI's files: / is index.html, and /app.js, /style.css, /favicon.svg the
// rest. Only GET and HEAD are answered. Responses carry a strict Content-Security-Policy and an
// ETag, so browsers revalidate cheaply and always run the files of the binary they talk to.
func Handler(opt Options) http.Handler {
	csp := contentSecurityPolicy
	for _, o := range opt.FrameAncestors {
		if o != "" && !strings.ContainsAny(o, " \t\r\n;,'\"") {
			csp += " " + o
		}
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic("ui: embedded static/ missing: " + err.Error())
	}
	etags := etagsOf(static)
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if tag, ok := etags[name]; ok {
			h.Set("ETag", tag)
		}
		files.ServeHTTP(w, r)
	})
}

// etagsOf hashes every file of fsys (embedded files have no modification time to go by).
func etagsOf(fsys fs.FS) map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return out
}
