package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// The flows of TestE2ESecrets, in the order it runs them: each does something that logs or
// answers with an error, and checks it happened as it should.

// cliToken makes a session with `chatbot token`: its stdout is the token (the command's job),
// its stderr must be clean like everything else.
func (r *secretRun) cliToken() {
	res := runChatbot(r.ctx, r.dir, r.vars, "token", "--name", "x")
	tok := strings.TrimSpace(res.stdout)
	if res.code != 0 || !chat.ValidToken(tok) {
		r.t.Fatalf("chatbot token: exit %d, stdout %q, stderr %q", res.code, redact(res.stdout, r.needles()), redact(res.stderr, r.needles()))
	}
	r.addToken(tok)
	r.capture("chatbot token (stderr)", res.stderr)
	r.call(http.MethodGet, "/refresh_token", bearerHeader(tok), "", http.StatusOK)
}

// badTokens: missing, malformed and unknown tokens on every route, in the query, as Bearer and
// in POST bodies: 400 from the HTTP API, close 1008 from /chat.
func (r *secretRun) badTokens() {
	unknown := uuid.NewString()
	r.addToken(unknown)
	for _, tok := range []string{"", "not-a-token", strings.ToUpper(unknown), unknown[:35], "{" + unknown + "}", strings.Repeat("f", 300), unknown} {
		q := "?" + url.Values{"token": {tok}}.Encode()
		r.call(http.MethodGet, "/refresh_token"+q, nil, "", http.StatusBadRequest)
		r.call(http.MethodPost, "/refresh_token", formHeader, url.Values{"token": {tok}}.Encode(), http.StatusBadRequest)
		r.call(http.MethodPost, "/refresh_token", jsonHeader, `{"token":"`+tok+`"}`, http.StatusBadRequest)
		wantDelete := http.StatusNoContent // gone either way
		if tok == "" {
			wantDelete = http.StatusBadRequest
		}
		r.call(http.MethodDelete, "/token"+q, nil, "", wantDelete)
		r.expectClose(r.ws(url.Values{"token": {tok}, "stream": {"1"}}, ""), "socket with a bad token", websocket.StatusPolicyViolation)
		if tok != "" {
			r.call(http.MethodGet, "/refresh_token", bearerHeader(tok), "", http.StatusBadRequest)
			r.call(http.MethodDelete, "/token", bearerHeader(tok), "", http.StatusNoContent)
			r.expectClose(r.ws(url.Values{"stream": {"1"}}, tok), "socket with a bad Bearer token", websocket.StatusPolicyViolation)
		}
	}
	// Routes that take no token, and one that does not exist, given one anyway.
	for path, want := range map[string]int{"/": http.StatusOK, "/test": http.StatusOK, "/healthz": http.StatusOK,
		"/readyz": http.StatusOK, "/metrics": http.StatusOK, "/nope": http.StatusNotFound} {
		r.call(http.MethodGet, path+"?token="+unknown, nil, "", want)
		r.call(http.MethodGet, path, bearerHeader(unknown), "", want)
	}
	// A query with a semicolon (net/http once logged those).
	r.call(http.MethodGet, "/refresh_token?token="+unknown+";x=1", nil, "", http.StatusBadRequest)
}

// chat: a session chats with stream=1, resends a client_id, sends a bad and an empty frame,
// resumes with last_id (Bearer), gives a last_id that is no offset, and refreshes four ways.
func (r *secretRun) chat() {
	tok := r.session("alice")
	r.alice = tok
	c := r.ws(streamOf(tok), "")
	ack1, end1 := r.converse(c, "hello one")
	ack2, end2 := r.converse(c, "hello two")
	if end1.Type != chat.FrameMessage || end2.Type != chat.FrameMessage || end2.Msg != "echo: hello two" {
		r.t.Fatalf("chat: answers %+v and %+v, want echoes", end1, end2)
	}
	if err := c.command(r.ctx, chat.Command{Type: chat.CmdMessage, Msg: "hello one", ClientID: ack1.ClientID}); err != nil {
		r.t.Fatal(err)
	}
	for _, f := range []struct{ frame, code string }{{`{"type":"bogus"}`, chat.CodeBadFrame}, {"   ", chat.CodeEmptyMessage}} {
		if err := c.text(r.ctx, f.frame); err != nil {
			r.t.Fatal(err)
		}
		if _, err := c.until(r.ctx, f.code, func(ev chat.Event) bool { return ev.Code == f.code }); err != nil {
			r.t.Fatal(err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")

	c = r.ws(url.Values{"stream": {"1"}, "last_id": {ack1.Offset}}, tok)
	if _, err := c.until(r.ctx, "the replayed reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage && ev.ReplyTo == ack2.ID }); err != nil {
		r.t.Fatal(err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	c = r.ws(url.Values{"token": {tok}, "last_id": {"nonsense"}}, "")
	if _, err := c.until(r.ctx, "bad_frame for last_id", func(ev chat.Event) bool { return ev.Code == chat.CodeBadFrame }); err != nil {
		r.t.Fatal(err)
	}
	c.Close(websocket.StatusNormalClosure, "")

	r.call(http.MethodGet, "/refresh_token?token="+tok, nil, "", http.StatusOK)
	r.call(http.MethodGet, "/refresh_token", bearerHeader(tok), "", http.StatusOK)
	r.call(http.MethodPost, "/refresh_token", formHeader, "token="+tok, http.StatusOK)
	if body := r.call(http.MethodPost, "/refresh_token", jsonHeader, `{"token":"`+tok+`"}`, http.StatusOK); strings.Count(body, `"role"`) != 4 {
		r.t.Fatalf("refresh: want 4 messages in %s", redact(body, r.needles()))
	}
	// Refused before the session is touched, with the token in the URL: a foreign Origin and a
	// request that is no WebSocket upgrade.
	if _, err := wsDial(r.ctx, r.serve.URL(), streamOf(tok), "", "https://evil.example", &r.answers); err == nil {
		r.t.Fatal("a socket from a foreign Origin was accepted")
	}
	r.call(http.MethodGet, "/chat?token="+tok, nil, "", http.StatusUpgradeRequired)
}

// frameLimits: a frame over limits.max_message_bytes closes 1009, a binary frame 1003.
func (r *secretRun) frameLimits() {
	tok := r.session("big")
	c := r.ws(streamOf(tok), "")
	if err := c.text(r.ctx, strings.Repeat("x", 2048)); err != nil {
		r.t.Fatal(err)
	}
	r.expectClose(c, "too large frame", websocket.StatusMessageTooBig)
	c = r.ws(streamOf(tok), "")
	wctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if err := c.Write(wctx, websocket.MessageBinary, []byte("binary "+tok)); err != nil {
		r.t.Fatal(err)
	}
	r.expectClose(c, "binary frame", websocket.StatusUnsupportedData)
}

// socketLimit: a socket over limits.sockets_per_session closes 1008.
func (r *secretRun) socketLimit() {
	tok := r.session("sockets")
	var open []*wsConn
	for range 3 {
		open = append(open, r.ws(streamOf(tok), ""))
	}
	ce := r.expectClose(r.ws(streamOf(tok), ""), "fourth socket", websocket.StatusPolicyViolation)
	if !strings.Contains(ce.Reason, "Too many sockets") {
		r.t.Fatalf("fourth socket closed with %q", ce.Reason)
	}
	for _, c := range open {
		c.Close(websocket.StatusNormalClosure, "")
	}
}

// rateLimit: a message over limits.messages_per_minute gets rate_limited.
func (r *secretRun) rateLimit() {
	tok := r.session("rate")
	c := r.ws(streamOf(tok), "")
	for i := range 6 {
		if err := c.text(r.ctx, "rate "+strconv.Itoa(i)); err != nil {
			r.t.Fatal(err)
		}
	}
	if _, err := c.until(r.ctx, "rate_limited", func(ev chat.Event) bool { return ev.Code == chat.CodeRateLimited }); err != nil {
		r.t.Fatal(err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// modelFailures: a 500, a stream cut off and an error event, each past llm.max_retries: the
// user gets model_error and the request goes to chat:dead.
func (r *secretRun) modelFailures() {
	tok := r.session("failing")
	c := r.ws(streamOf(tok), "")
	for _, msg := range []string{"FAIL500 please", "DROP please", "STREAMERR please", "ECHOKEY please"} {
		if _, end := r.converse(c, msg); end.Type != chat.FrameError || end.Code != chat.CodeModelError {
			r.t.Fatalf("%q answered with %+v, want a model_error", msg, end)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	r.waitDead(4)
}

// waitDead waits until chat:dead holds at least n requests.
func (r *secretRun) waitDead(n int) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		got, _ = r.node.Do(r.ctx, "XLEN", store.NewKeys("").Dead())
		if l, err := strconv.Atoi(got); err == nil && l >= n {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	r.t.Fatalf("chat:dead holds %q requests, want %d", got, n)
}

// stopReply: a reply stopped midway ends with a stopped message.
func (r *secretRun) stopReply() {
	tok := r.session("stopper")
	c := r.ws(streamOf(tok), "")
	cid := uuid.NewString()
	if err := c.command(r.ctx, chat.Command{Type: chat.CmdMessage, Msg: "SLOW please", ClientID: cid}); err != nil {
		r.t.Fatal(err)
	}
	ack, err := c.until(r.ctx, "ack", func(ev chat.Event) bool { return ev.Type == chat.FrameAck && ev.ClientID == cid })
	if err == nil {
		_, err = c.until(r.ctx, "a delta", func(ev chat.Event) bool { return ev.Type == chat.FrameDelta })
	}
	if err == nil {
		err = c.command(r.ctx, chat.Command{Type: chat.CmdStop})
	}
	if err != nil {
		r.t.Fatal(err)
	}
	end, err := c.until(r.ctx, "the stopped reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage && ev.ReplyTo == ack.ID })
	if err != nil || !end.Stopped {
		r.t.Fatalf("stop: %+v %v, want a stopped reply", end, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// deleteWhileOpen: DELETE /token (Bearer) closes the session's open socket with 1008; the
// token is refused everywhere afterwards.
func (r *secretRun) deleteWhileOpen() {
	tok := r.session("doomed")
	c := r.ws(streamOf(tok), "")
	r.call(http.MethodDelete, "/token", bearerHeader(tok), "", http.StatusNoContent)
	r.expectClose(c, "socket of a deleted session", websocket.StatusPolicyViolation)
	r.call(http.MethodGet, "/refresh_token?token="+tok, nil, "", http.StatusBadRequest)
	r.call(http.MethodDelete, "/token?token="+tok, nil, "", http.StatusNoContent)
	r.expectClose(r.ws(streamOf(tok), ""), "socket of a deleted session", websocket.StatusPolicyViolation)
}

// badRequests: a request entry that is no request, and a session whose data Redis refuses to
// work on (its pending list is a string): the serve fails the message, the worker dead-letters
// both requests. The entries carry real tokens, as every request does.
func (r *secretRun) badRequests() {
	keys := store.NewKeys("")
	if _, err := r.node.Do(r.ctx, "XADD", keys.Requests(0), "*", chat.ReqFieldToken, r.alice, chat.ReqFieldSeq, "not-a-number"); err != nil {
		r.t.Fatal(err)
	}
	if err := r.work.waitLog("dead-lettering a request that cannot be read", 30*time.Second); err != nil {
		r.t.Fatal(err)
	}

	tok := r.session("refused")
	if _, err := r.node.Do(r.ctx, "SET", keys.Pending(tok), "not a list"); err != nil {
		r.t.Fatal(err)
	}
	c := r.ws(streamOf(tok), "")
	if err := c.text(r.ctx, "into a broken session"); err != nil {
		r.t.Fatal(err)
	}
	if _, err := c.until(r.ctx, "unavailable", func(ev chat.Event) bool { return ev.Code == "unavailable" }); err != nil {
		r.t.Fatal(err)
	}
	c.Close(websocket.StatusNormalClosure, "")
	if _, err := r.node.Do(r.ctx, "HSET", keys.Session(tok), "seq", "1"); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.node.Do(r.ctx, "XADD", keys.Requests(1), "*", chat.ReqFieldToken, tok, chat.ReqFieldSeq, "1"); err != nil {
		r.t.Fatal(err)
	}
	if err := r.work.waitLog("Redis refuses to work on the session", 30*time.Second); err != nil {
		r.t.Fatal(err)
	}
}

// killConnections kills every connection of the ACL user under an open socket: a message sent
// at once may be refused as unavailable (and is resent), serve's notification subscriber and
// the worker's reads reconnect, and chat goes on.
func (r *secretRun) killConnections() {
	c := r.ws(streamOf(r.alice), "")
	if _, err := r.node.Do(r.ctx, "CLIENT", "KILL", "USER", "chatbot"); err != nil {
		r.t.Fatal(err)
	}
	if _, end := r.converse(c, "after the kill"); end.Type != chat.FrameMessage {
		r.t.Fatalf("after the connections were killed: %+v", end)
	}
	c.Close(websocket.StatusNormalClosure, "")
	if err := r.serve.waitLog("notification subscriber lost its Redis connection", 30*time.Second); err != nil {
		r.t.Fatal(err)
	}
}

// redisRestart kills Redis (every route, a socket and the worker fail meanwhile: 503, error
// frame, close 1013, logged) and starts it again: chat goes on.
func (r *secretRun) redisRestart() {
	c := r.ws(streamOf(r.alice), "")
	r.node.Kill()
	for _, p := range []*proc{r.serve, r.work} {
		if err := p.waitReadyz(http.StatusServiceUnavailable, 15*time.Second); err != nil {
			r.t.Fatalf("Redis down: %s: %v", p.name, err)
		}
	}
	r.call(http.MethodGet, "/readyz", nil, "", http.StatusServiceUnavailable)
	r.call(http.MethodPost, "/token?name=down", nil, "", http.StatusServiceUnavailable)
	r.call(http.MethodGet, "/refresh_token?token="+r.alice, nil, "", http.StatusServiceUnavailable)
	r.call(http.MethodPost, "/refresh_token", jsonHeader, `{"token":"`+r.alice+`"}`, http.StatusServiceUnavailable)
	r.call(http.MethodDelete, "/token", bearerHeader(r.alice), "", http.StatusServiceUnavailable)
	if err := c.text(r.ctx, "while Redis is down"); err != nil {
		r.t.Fatal(err)
	}
	if _, err := c.until(r.ctx, "unavailable", func(ev chat.Event) bool { return ev.Code == "unavailable" }); err != nil {
		r.t.Fatal(err)
	}
	if err := c.command(r.ctx, chat.Command{Type: chat.CmdStop}); err != nil {
		r.t.Fatal(err)
	}
	if _, err := c.until(r.ctx, "unavailable stop", func(ev chat.Event) bool { return ev.Code == "unavailable" }); err != nil {
		r.t.Fatal(err)
	}
	r.expectClose(r.ws(streamOf(r.alice), ""), "socket with Redis down", websocket.StatusTryAgainLater)
	hc := runChatbot(r.ctx, r.dir, r.vars, "healthcheck", "--url", r.serve.URL()+"/readyz")
	r.capture("chatbot healthcheck, Redis down (stdout)", hc.stdout)
	r.capture("chatbot healthcheck, Redis down (stderr)", hc.stderr)
	// The public /readyz says Redis does not answer, not which; the serve's log says which.
	if hc.code != 1 || !strings.Contains(hc.stdout+hc.stderr, "redis does not answer") || strings.Contains(hc.stdout+hc.stderr, r.node.Addr()) {
		r.t.Errorf("chatbot healthcheck with Redis down: exit %d, output %q", hc.code, redact(hc.stdout+hc.stderr, r.needles()))
	}
	if err := r.serve.waitLog(`"not ready","err":"redis redis://`+r.node.Addr(), 10*time.Second); err != nil {
		r.t.Errorf("serve's log does not say which Redis is not ready: %v", err)
	}
	if err := r.work.waitLog("reading requests failed", 30*time.Second); err != nil {
		r.t.Fatal(err)
	}
	c.CloseNow()

	restart(r.t, r.node)
	for _, p := range []*proc{r.serve, r.work} {
		if err := p.waitReady(30 * time.Second); err != nil {
			r.t.Fatalf("Redis back: %s: %v", p.name, err)
		}
	}
	r.after = r.session("after restart")
	c = r.ws(streamOf(r.after), "")
	if _, end := r.converse(c, "back again"); end.Type != chat.FrameMessage {
		r.t.Fatalf("after the restart: %+v", end)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// sessionLimit: POST /token until limits.sessions_per_minute_per_ip answers 429.
func (r *secretRun) sessionLimit() {
	for range 2 * secretSessionsPerIP {
		code, retry, body, err := httpCall(r.ctx, http.MethodPost, r.serve.URL()+"/token?name=many", nil, "")
		if err != nil {
			r.t.Fatal(err)
		}
		if code == http.StatusTooManyRequests {
			r.answers.add("POST /token %d (Retry-After %s) %s", code, retry, body)
			return
		}
		var s chat.Session
		if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil {
			r.t.Fatalf("POST /token: %d %s", code, redact(body, r.needles()))
		}
		r.addToken(s.Token)
	}
	r.t.Fatalf("no 429 after %d sessions", 2*secretSessionsPerIP)
}

// sigterm stops both processes with SIGTERM while a socket is open: it closes 1001, both
// exit 0. Their /metrics pages are kept for the scan first.
func (r *secretRun) sigterm() {
	for _, p := range []*proc{r.serve, r.work} {
		code, _, body, err := httpCall(r.ctx, http.MethodGet, p.URL()+"/metrics", nil, "")
		if err != nil || code != http.StatusOK {
			r.t.Fatalf("%s /metrics: %d %v", p.name, code, err)
		}
		r.capture(p.name+" /metrics", body)
	}
	c := r.ws(streamOf(r.after), "")
	if code := r.serve.terminate(30 * time.Second); code != 0 {
		r.t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	r.expectClose(c, "socket at SIGTERM", websocket.StatusGoingAway)
	if code := r.work.terminate(30 * time.Second); code != 0 {
		r.t.Errorf("work exited %d after SIGTERM, want 0", code)
	}
}

// badRedisCommands runs commands that cannot reach Redis as configured, each with the secrets
// in its environment: a wrong password, a dead address, a password not percent-encoded, a URL
// of another scheme, a bad flag; and serve --help. Each says what is wrong on stderr.
func (r *secretRun) badRedisCommands() {
	dead := redistest.FreeAddr(r.t)
	cases := []struct {
		name  string
		url   string
		args  []string
		code  int
		wants string // in stderr (stdout for help)
	}{
		{"token, wrong password", r.urlWith(r.pw+"-wrong", r.node.Addr()), []string{"token", "--name", "x"}, 1, "redis redis://" + r.node.Addr()},
		{"token, dead address", r.urlWith(r.pw, dead), []string{"token", "--name", "x"}, 1, "redis redis://" + dead},
		{"token, password not percent-encoded", "redis://chatbot:" + r.pw + "@" + r.node.Addr() + "/0", []string{"token", "--name", "x"}, 1, "redis.url"},
		// A / in the password ends the host early: the URL parses, with the rest of the
		// password in its path.
		{"token, password with a bare /", "redis://chatbot:12345/E2Epw" + r.pwCore + "@" + r.node.Addr() + "/0", []string{"token", "--name", "x"}, 1, "percent-encoded"},
		{"token, another scheme", "http://chatbot:" + url.QueryEscape(r.pw) + "@" + r.node.Addr() + "/0", []string{"token", "--name", "x"}, 1, "redis.url"},
		{"token, unknown flag", r.redisURL, []string{"token", "--name", "x", "--bogus"}, 1, "unknown flag"},
		{"serve, wrong password", r.urlWith(r.pw+"-wrong", r.node.Addr()), []string{"serve", "--server.addr", "127.0.0.1:0"}, 1, "redis redis://" + r.node.Addr()},
		{"work, wrong password", r.urlWith(r.pw+"-wrong", r.node.Addr()), []string{"work"}, 1, "redis redis://" + r.node.Addr()},
		{"serve --help", r.redisURL, []string{"serve", "--help"}, 0, "--redis.url"},
	}
	for _, tc := range cases {
		res := runChatbot(r.ctx, r.dir, r.vars.with("CHATBOT_REDIS_URL", tc.url), tc.args...)
		r.capture("chatbot "+tc.name+" (stdout)", res.stdout)
		r.capture("chatbot "+tc.name+" (stderr)", res.stderr)
		if res.code != tc.code || !strings.Contains(res.stdout+res.stderr, tc.wants) {
			r.t.Errorf("chatbot %s: exit %d, want %d with %q; stderr:\n%s", tc.name, res.code, tc.code, tc.wants, redact(res.stderr, r.needles()))
		}
	}
}
