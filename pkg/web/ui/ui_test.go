package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"chatbot/pkg/web/ui"
)

func get(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestHandlerServesTheFiles(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ui.Handler(ui.Options{}))
	defer srv.Close()

	res, body := get(t, srv, "GET", "/", nil)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `<script src="app.js" defer></script>`) {
		t.Fatalf("GET / = %d %q\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self'", "frame-ancestors 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}

	// Every file the page links to is served with its type; nothing comes from elsewhere.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html links %v", refs)
	}
	types := map[string]string{".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml"}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "//") {
			t.Errorf("index.html loads %s from another origin", ref)
			continue
		}
		res, _ := get(t, srv, "GET", "/"+ref, nil)
		ext := ref[strings.LastIndexByte(ref, '.'):]
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), types[ext]) {
			t.Errorf("GET /%s = %d %q", ref, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	// No inline script: the CSP would block it.
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=`).MatchString(body) {
		t.Error("index.html has inline script")
	}
}

// TestHandlerFrameAncestors: the page may be framed by its own origin's pages, and by the
// origins of server.frame_ancestors; a value that could change the rest of the policy is
// dropped.
func TestHandlerFrameAncestors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, "frame-ancestors 'self'"},
		{[]string{"https://app.example.com", "https://*.example.org"}, "frame-ancestors 'self' https://app.example.com https://*.example.org"},
		{[]string{"https://a.example; script-src *", "https://b.example"}, "frame-ancestors 'self' https://b.example"},
	} {
		srv := httptest.NewServer(ui.Handler(ui.Options{FrameAncestors: c.in}))
		res, _ := get(t, srv, "GET", "/", nil)
		srv.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.HasSuffix(csp, "; "+c.want) || strings.Count(csp, "script-src") != 1 {
			t.Errorf("frame ancestors %q: CSP %q, want it to end with %q", c.in, csp, c.want)
		}
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ui.Handler(ui.Options{}))
	defer srv.Close()
	res, _ := get(t, srv, "GET", "/app.js", nil)
	tag := res.Header.Get("ETag")
	if tag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q Cache-Control %q", tag, res.Header.Get("Cache-Control"))
	}
	res, body := get(t, srv, "GET", "/app.js", map[string]string{"If-None-Match": tag})
	if res.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("revalidation = %d, %d bytes", res.StatusCode, len(body))
	}
	other, _ := get(t, srv, "GET", "/", nil)
	if other.Header.Get("ETag") == tag || other.Header.Get("ETag") == "" {
		t.Fatalf("index.html ETag %q vs app.js %q", other.Header.Get("ETag"), tag)
	}
}

func TestHandlerRefusesOtherMethodsAndPaths(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ui.Handler(ui.Options{}))
	defer srv.Close()
	if res, _ := get(t, srv, "POST", "/", nil); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST / = %d", res.StatusCode)
	}
	for _, p := range []string{"/nope.js", "/../ui.go", "/static/app.js"} {
		if res, _ := get(t, srv, "GET", p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
		}
	}
	if res, body := get(t, srv, "HEAD", "/style.css", nil); res.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD = %d %q", res.StatusCode, body)
	}
}

// TestScriptsNeverParseHTML: no script of the page writes HTML or runs strings as code; text
// reaches the page as text nodes, or through markdown.js, which builds elements one by one.
// (The CSP would refuse inline handlers and eval; this keeps the code from needing them.)
func TestScriptsNeverParseHTML(t *testing.T) {
	t.Parallel()
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment|srcdoc|\beval\(|new Function|setAttribute\(\s*['"]on|\.on[a-z]+\s*=\s*['"]`)
	srv := httptest.NewServer(ui.Handler(ui.Options{}))
	defer srv.Close()
	_, index := get(t, srv, "GET", "/", nil)
	scripts := regexp.MustCompile(`<script src="([^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(scripts) < 4 {
		t.Fatalf("index.html loads %v, want auth.js, markdown.js, conversations.js and app.js", scripts)
	}
	for _, m := range scripts {
		_, body := get(t, srv, "GET", "/"+m[1], nil)
		for i, line := range strings.Split(body, "\n") {
			if hit := forbidden.FindString(line); hit != "" {
				t.Errorf("%s:%d uses %s: %s", m[1], i+1, hit, strings.TrimSpace(line))
			}
		}
	}
}
