package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

// proxy is a real reverse proxy (net/http/httputil) in front of ts that appends the client's
// address to X-Forwarded-For (keeping what the client sent, as most balancers do) and sets
// X-Forwarded-Host and -Proto. It reaches ts from the loopback address from.
func proxy(t *testing.T, ts *httptest.Server, from string) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(ts.URL)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: wait}
	p := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
			r.SetXForwarded()
		},
		Transport: &http.Transport{DialContext: d.DialContext},
	}
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	return ps
}

// from is an HTTP client whose connections come from the loopback address local.
func from(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: wait}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: wait}
}

// newSession is POST /token?name=n on base with cl and extra headers (key, value, ...).
func newSession(t *testing.T, cl *http.Client, base string, header ...string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/token?name=n", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// Behind a trusted proxy each client is limited by its own address (the right-most one of
// X-Forwarded-For that is not the proxy), whatever it forged to the left; an untrusted
// proxy's headers, or a client's sent straight to serve, are ignored.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	const proxyAddr = "127.0.0.2"
	e := setup(t, storetest.Single(t), web.Options{
		SessionsPerMinutePerIP: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix(proxyAddr + "/32")},
	}, store.Options{})
	trusted := proxy(t, e.ts, proxyAddr)
	untrusted := proxy(t, e.ts, "127.0.0.5")

	// Two clients behind the trusted proxy: limited one by one; forging X-Forwarded-For
	// does not get a client out of its limit.
	a, b := from("127.0.0.3"), from("127.0.0.4")
	for i := range 2 {
		if s := newSession(t, a, trusted.URL, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i)); s != http.StatusOK {
			t.Fatalf("client a, session %d: %d", i+1, s)
		}
	}
	if s := newSession(t, a, trusted.URL, "X-Forwarded-For", "203.0.113.9"); s != http.StatusTooManyRequests {
		t.Fatalf("client a, 3rd session with a forged X-Forwarded-For: %d, want 429", s)
	}
	if s := newSession(t, b, trusted.URL); s != http.StatusOK {
		t.Fatalf("client b behind the same proxy: %d, want 200 (its own limit)", s)
	}

	// Behind the untrusted proxy every client is the proxy.
	for i := range 2 {
		if s := newSession(t, from("127.0.0.6"), untrusted.URL); s != http.StatusOK {
			t.Fatalf("untrusted proxy, session %d: %d", i+1, s)
		}
	}
	if s := newSession(t, from("127.0.0.7"), untrusted.URL); s != http.StatusTooManyRequests {
		t.Fatalf("another client behind the untrusted proxy: %d, want 429 (the proxy's limit)", s)
	}
	// Straight to serve, X-Forwarded-For is the client's word only.
	direct := from("127.0.0.8")
	for i := range 2 {
		newSession(t, direct, e.ts.URL, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
	}
	if s := newSession(t, direct, e.ts.URL, "X-Forwarded-For", "198.51.100.9"); s != http.StatusTooManyRequests {
		t.Fatalf("a client forging X-Forwarded-For straight to serve: %d, want 429", s)
	}
}

// IPv6 clients are limited per /64; Forwarded (RFC 7239) is read when X-Forwarded-For is
// absent.
func TestIPv6PerPrefix(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Single(t), web.Options{
		SessionsPerMinutePerIP: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}, store.Options{})
	cl := from("127.0.0.1")
	if s := newSession(t, cl, e.ts.URL, "X-Forwarded-For", "2001:db8:1:2::1"); s != http.StatusOK {
		t.Fatalf("first address of the /64: %d", s)
	}
	if s := newSession(t, cl, e.ts.URL, "Forwarded", `for="[2001:db8:1:2:ffff::9]:4711"`); s != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d, want 429", s)
	}
	if s := newSession(t, cl, e.ts.URL, "X-Forwarded-For", "2001:db8:1:3::1"); s != http.StatusOK {
		t.Fatalf("another /64: %d, want 200", s)
	}
	if s := newSession(t, cl, e.ts.URL, "Forwarded", "for=192.0.2.60;proto=https, for=127.0.0.9"); s != http.StatusOK {
		t.Fatalf("an IPv4 client in Forwarded: %d, want 200", s)
	}
}

// limits.sessions_per_minute_per_ip: 0 (a negative option) turns the limit off.
func TestSessionsPerIPOff(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Single(t), web.Options{SessionsPerMinutePerIP: -1}, store.Options{})
	for i := range 40 {
		if s := newSession(t, http.DefaultClient, e.ts.URL); s != http.StatusOK {
			t.Fatalf("session %d with the limit off: %d", i+1, s)
		}
	}
}

// Behind a trusted proxy the Origin check compares with the public origin the proxy
// forwards (X-Forwarded-Host, X-Forwarded-Proto); those headers from anyone else are ignored.
func TestOriginBehindProxy(t *testing.T) {
	t.Parallel()
	e := setup(t, storetest.Single(t), web.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}, store.Options{})
	sess := e.session()
	trusted, untrusted := proxy(t, e.ts, "127.0.0.2"), proxy(t, e.ts, "127.0.0.3")
	dialVia := func(p *httptest.Server, origin string) int {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		u := "ws" + strings.TrimPrefix(p.URL, "http") + "/chat?" + tokenQuery(sess, "")
		c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{
			Host: "chat.example", HTTPHeader: http.Header{"Origin": {origin}},
		})
		if err != nil {
			if res == nil {
				t.Fatalf("dial via proxy: %v", err)
			}
			return res.StatusCode
		}
		c.CloseNow()
		return res.StatusCode
	}
	if s := dialVia(trusted, "http://chat.example"); s != http.StatusSwitchingProtocols {
		t.Fatalf("the public origin through a trusted proxy: %d, want 101", s)
	}
	if s := dialVia(trusted, "https://chat.example"); s != http.StatusForbidden {
		t.Fatalf("another scheme than X-Forwarded-Proto: %d, want 403", s)
	}
	if s := dialVia(trusted, "http://evil.example"); s != http.StatusForbidden {
		t.Fatalf("a foreign origin through a trusted proxy: %d, want 403", s)
	}
	if s := dialVia(untrusted, "http://chat.example"); s != http.StatusForbidden {
		t.Fatalf("X-Forwarded-Host from an untrusted proxy: %d, want 403", s)
	}
	// The HTTP routes' CORS follow the same rule.
	req, _ := http.NewRequest("OPTIONS", trusted.URL+"/token", nil)
	req.Host = "chat.example"
	req.Header.Set("Origin", "http://chat.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := from("127.0.0.1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "http://chat.example" {
		t.Fatalf("preflight from the public origin: %s %q", res.Status, res.Header.Get("Access-Control-Allow-Origin"))
	}
}

// logBuffer is a slog handler's writer that tests can read while servers write.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An access log line per HTTP request and per socket close: status or close code, duration,
// bytes; never a token. log.access_sample 0 (a negative option) writes none.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	e := setup(t, storetest.Single(t), web.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, store.Options{})
	sess := e.session()
	httpDo(t, e.ts, "GET", "/refresh_token?token="+sess.Token, "", "")
	c := e.dial(tokenQuery(sess, ""))
	c.send("hello")
	c.c.Close(websocket.StatusNormalClosure, "bye")
	storetest.Eventually(t, wait, "the socket's access line", func() bool { return strings.Contains(logs.String(), `"msg":"socket"`) })
	out := logs.String()
	for _, want := range []string{
		`"msg":"request","method":"GET","path":"/refresh_token","status":200,"bytes":`,
		`"msg":"socket","session":"`, `"close":1000,"reason":"bye","by":"client","duration":"`, `"bytes_in":`,
		`"client":"127.0.0.1"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, sess.Token) {
		t.Errorf("access log holds the token:\n%s", out)
	}

	var none logBuffer
	quiet := e.serve(e.st, web.Options{Logger: slog.New(slog.NewJSONHandler(&none, nil)), AccessSample: -1})
	httpDo(t, quiet, "GET", "/test", "", "")
	if strings.Contains(none.String(), `"msg":"request"`) {
		t.Errorf("access_sample 0 still logs requests:\n%s", none.String())
	}
}

// With server.admin_addr, /metrics and /readyz move there; the public /readyz never names
// Redis, the admin one does.
func TestAdminAddr(t *testing.T) {
	t.Parallel()
	e, mr := devEnv(t)
	st := e.st
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := ln.Addr().String()
	ln.Close()
	pub := e.serve(st, web.Options{AdminAddr: adminAddr})
	admin := &httptest.Server{URL: "http://" + adminAddr}
	plain := e.serve(st, web.Options{})

	for _, path := range []string{"/metrics", "/readyz"} {
		if s, _, _ := httpDo(t, pub, "GET", path, "", ""); s != http.StatusNotFound {
			t.Errorf("public %s with admin_addr: %d, want 404", path, s)
		}
	}
	storetest.Eventually(t, wait, "admin /readyz", func() bool {
		res, err := http.Get(admin.URL + "/readyz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	for _, path := range []string{"/metrics", "/healthz"} {
		if s, _, _ := httpDo(t, admin, "GET", path, "", ""); s != http.StatusOK {
			t.Errorf("admin %s: %d", path, s)
		}
	}
	if s, _, _ := httpDo(t, pub, "GET", "/test", "", ""); s != http.StatusOK {
		t.Errorf("public /test: %d", s)
	}

	mr.Close()
	redisAddr := st.Addr()
	_, body, _ := httpDo(t, plain, "GET", "/readyz", "", "")
	host := strings.TrimPrefix(redisAddr, "redis://")
	if !strings.Contains(body, `"status":"unavailable"`) || strings.Contains(body, host) {
		t.Errorf("public /readyz without Redis: %s (must not name %s)", body, host)
	}
	if _, body, _ := httpDo(t, admin, "GET", "/readyz", "", ""); !strings.Contains(body, host) {
		t.Errorf("admin /readyz without Redis: %s, want it to name %s", body, host)
	}
}
