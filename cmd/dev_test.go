package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/coder/websocket"
)

// lockedBuffer is a bytes.Buffer safe for the command's writes and the test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devRun is a `chatbot dev` running in-process.
type devRun struct {
	out  *lockedBuffer
	url  string // the address it printed
	stop func() error
}

var openLine = regexp.MustCompile(`Open:\s+(http://\S+/)`)

// startDev runs `chatbot dev args...` in dir (which may hold a config.yaml) until the test
// ends or stop is called, and waits for it to print its address.
func startDev(t *testing.T, dir string, args ...string) *devRun {
	t.Helper()
	t.Chdir(dir)
	root := NewRootCommand()
	out := &lockedBuffer{}
	root.SetOut(out)
	root.SetErr(io.Discard)
	root.SetArgs(append([]string{"dev", "--server.addr", "127.0.0.1:0"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("dev did not stop within 30s of its context ending")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	r := &devRun{out: out, stop: stop}
	storetest.Eventually(t, 15*time.Second, "dev to print its address", func() bool {
		select {
		case err := <-done:
			t.Fatalf("dev ended before serving: %v\n%s", err, out.String())
		default:
		}
		m := openLine.FindStringSubmatch(out.String())
		if m != nil {
			r.url = m[1]
		}
		return m != nil
	})
	return r
}

// chatOnce creates a session over HTTP, sends msg over the WebSocket and returns the token and
// the reply frame.
func chatOnce(t *testing.T, base, msg string) (string, chat.Event) {
	t.Helper()
	res, err := http.Post(base+"token", "application/json", strings.NewReader(`{"name":"dev"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sess chat.Session
	json.NewDecoder(res.Body).Decode(&sess)
	res.Body.Close()
	if res.StatusCode != 200 || !chat.ValidToken(sess.Token) {
		t.Fatalf("POST /token: %d %+v", res.StatusCode, sess)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"chat?stream=1&token="+url.QueryEscape(sess.Token), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	frame, _ := json.Marshal(chat.Command{Type: chat.CmdMessage, Msg: msg, ClientID: "c1"})
	if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("reading frames (got %v): %v", seen, err)
		}
		var ev chat.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		seen = append(seen, ev.Type)
		if ev.Type == chat.FrameMessage {
			if len(seen) < 2 || seen[0] != chat.FrameAck {
				t.Fatalf("frames %v: want the ack first", seen)
			}
			return sess.Token, ev
		}
	}
}

// TestDevEmbedded: with nothing but itself (the config file spells out the default
// redis.url, as the project's config.yaml does), dev runs on its embedded Redis and the echo
// model, says so, serves the UI and answers a chat; it stops cleanly when its context ends.
func TestDevEmbedded(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/config.yaml", []byte("redis:\n  url: \"redis://127.0.0.1:6379/0\"\n"), 0o600)
	d := startDev(t, dir, "--llm.echo_delay", "100ms")
	out := d.out.String()
	for _, want := range []string{"embedded", "NOT durable", "echo", "Ctrl-C"} {
		if !strings.Contains(out, want) {
			t.Errorf("start message lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(d.url, "http://127.0.0.1:") {
		t.Fatalf("address %q", d.url)
	}

	res, err := http.Get(d.url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(page, []byte(`<script src="app.js"`)) {
		t.Fatalf("GET / = %d\n%s", res.StatusCode, page)
	}
	_, reply := chatOnce(t, d.url, "hello dev")
	if reply.Msg != "echo: hello dev" || reply.Offset == "" {
		t.Fatalf("reply %+v", reply)
	}
	// One registry: the web tier's and the workers' series, and the Go and process collectors.
	res, err = http.Get(d.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"\nchatbot_web_sockets_open ", "\nchatbot_worker_", "\ngo_goroutines ", "\nprocess_"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want[1:])
		}
	}

	if err := d.stop(); err != nil {
		t.Fatalf("dev stopped with %v", err)
	}
	if !strings.Contains(d.out.String(), "stopped") {
		t.Fatalf("no goodbye:\n%s", d.out.String())
	}
	if _, err := http.Get(d.url + "healthz"); err == nil {
		t.Fatal("still serving after stop")
	}
}

// TestDevSessionsExpire: on the embedded Redis a session really expires after session.ttl
// of wall-clock time.
func TestDevSessionsExpire(t *testing.T) {
	d := startDev(t, t.TempDir(), "--session.ttl", "1s")
	tok, _ := chatOnce(t, d.url, "soon gone")
	// Look from outside, at the embedded Redis dev printed, without sliding the TTL as
	// /refresh_token does.
	m := regexp.MustCompile(`in memory at (\S+)`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no embedded Redis address in:\n%s", d.out.String())
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: "redis://" + m[1] + "/0", Embedded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ok, err := st.SessionExists(ctx, tok); err != nil || !ok {
		t.Fatalf("fresh session: %v %v", ok, err)
	}
	start := time.Now()
	storetest.Eventually(t, 10*time.Second, "the session to expire", func() bool {
		ok, err := st.SessionExists(ctx, tok)
		return err == nil && !ok
	})
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("expired after %s, before its TTL", time.Since(start))
	}
	res, err := http.Get(d.url + "refresh_token?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("refresh of an expired session: %d", res.StatusCode)
	}
}

// TestDevGivenRedis: with redis.url given, dev uses that Redis and says which.
func TestDevGivenRedis(t *testing.T) {
	u, err := url.Parse(storetest.Single(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/11" // a database of its own: dev's workers use the default key prefix
	d := startDev(t, t.TempDir(), "--redis.url", u.String())
	if out := d.out.String(); strings.Contains(out, "embedded") || !strings.Contains(out, "Redis at "+u.String()) {
		t.Fatalf("start message does not name the given Redis:\n%s", out)
	}
	tok, reply := chatOnce(t, d.url, "on a real redis")
	if reply.Msg != "echo: on a real redis" {
		t.Fatalf("reply %+v", reply)
	}
	req, _ := http.NewRequest(http.MethodDelete, d.url+"token?token="+tok, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /token: %v %v", res, err)
	}
}

// TestDevHelp: the help says what dev is for and that the embedded Redis is not durable.
func TestDevHelp(t *testing.T) {
	out, err := runCLI(t, "dev", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"laptop", "not for production", "NOT durable", "redis.url", "echo", "llm.provider"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev --help lacks %q", want)
		}
	}
}

// TestDevBadConfig: a model that cannot be built is reported before anything starts.
func TestDevBadConfig(t *testing.T) {
	_, err := runCLI(t, "dev", "--llm.provider", "openai", "--llm.base_url", "ftp://nowhere")
	if err == nil || !strings.Contains(err.Error(), "llm.base_url") {
		t.Fatalf("got %v", err)
	}
}

// TestDevAuthDemo: dev --auth-demo runs auth.mode jwt on its own key and prints a sign-in link
// per demo user; each link's JWT works on the API and the socket (as a browser sends it), and
// one user does not see the other's sessions. Without a JWT the API answers 401.
func TestDevAuthDemo(t *testing.T) {
	d := startDev(t, t.TempDir(), "--auth-demo", "--auth-demo-ttl", "2h")
	links := regexp.MustCompile(`(http://\S+/)#access_token=([A-Za-z0-9_.-]+)\s+signed in as (.+?) \(sub (\S+)\)`).FindAllStringSubmatch(d.out.String(), -1)
	if len(links) != 2 || links[0][1] != d.url {
		t.Fatalf("want two sign-in links on %s in:\n%s", d.url, d.out.String())
	}
	alice, bob := links[0][2], links[1][2]
	if links[0][4] != "demo-alice" || links[1][4] != "demo-bob" {
		t.Fatalf("users %q %q", links[0][4], links[1][4])
	}
	post := func(jwt string) (int, chat.Session) {
		req, _ := http.NewRequest(http.MethodPost, d.url+"token", nil)
		if jwt != "" {
			req.Header.Set("Authorization", "Bearer "+jwt)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var s chat.Session
		json.NewDecoder(res.Body).Decode(&s)
		return res.StatusCode, s
	}
	if status, _ := post(""); status != http.StatusUnauthorized {
		t.Fatalf("POST /token without a JWT: %d, want 401", status)
	}
	status, sess := post(alice)
	if status != http.StatusOK || sess.Name != "Alice (demo)" {
		t.Fatalf("POST /token as Alice: %d %+v", status, sess)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(d.url, "http")+"chat?token="+sess.Token,
		&websocket.DialOptions{Subprotocols: []string{"chatbot", "bearer." + alice}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte("signed in"))
	_, data, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"msg":"echo: signed in"`) {
		t.Fatalf("reply %s %v", data, err)
	}
	for jwt, want := range map[string]int{alice: 1, bob: 0} {
		req, _ := http.NewRequest(http.MethodGet, d.url+"sessions", nil)
		req.Header.Set("Authorization", "Bearer "+jwt)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list chat.SessionList
		json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		if len(list.Sessions) != want {
			t.Errorf("GET /sessions: %d sessions, want %d", len(list.Sessions), want)
		}
	}
	// The key is made per run: a configured one is refused rather than silently replaced.
	if _, err := runCLI(t, "dev", "--auth-demo", "--auth.mode", "jwt", "--auth.jwt_secret", strings.Repeat("k", 32)); err == nil || !strings.Contains(err.Error(), "--auth-demo makes its own key") {
		t.Fatalf("--auth-demo with a configured secret: %v", err)
	}
}
