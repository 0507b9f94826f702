package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/devredis"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"
)

const nameError = `{"detail":{"loc":"name","msg":"Enter a valid name"}}`
const sessionError = `{"detail":"Session expired or does not exist"}`

func decodeSession(t *testing.T, body string) chat.Session {
	t.Helper()
	var s chat.Session
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("session body %s: %v", body, err)
	}
	return s
}

func TestCreateToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		mw.WriteField("name", "multi")
		mw.Close()
		for _, tc := range []struct{ how, path, ctype, body, want string }{
			{"query", "/token?name=" + url.QueryEscape("  Ada  "), "", "", "Ada"},
			{"form", "/token", "application/x-www-form-urlencoded", "name=Grace", "Grace"},
			{"json", "/token", "application/json", `{"name":"Linus"}`, "Linus"},
			{"multipart", "/token", mw.FormDataContentType(), mp.String(), "multi"},
			{"100 characters", "/token?name=" + strings.Repeat("é", 100), "", "", strings.Repeat("é", 100)},
		} {
			status, body, hdr := httpDo(t, e.ts, "POST", tc.path, tc.ctype, tc.body)
			if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("%s: %d %s", tc.how, status, body)
			}
			s := decodeSession(t, body)
			if s.Name != tc.want || !chat.ValidToken(s.Token) || s.SessionStart.IsZero() || s.Messages == nil || len(s.Messages) != 0 {
				t.Fatalf("%s: session %+v from %s", tc.how, s, body)
			}
			if !strings.Contains(body, `"messages":[]`) {
				t.Fatalf("%s: want messages: [], got %s", tc.how, body)
			}
			if ok, err := e.st.SessionExists(e.ctx, s.Token); err != nil || !ok {
				t.Fatalf("%s: session not in Redis (%v)", tc.how, err)
			}
		}
	})
}

func TestCreateTokenRejectsBadNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SessionsPerMinutePerIP: 1000}, store.Options{})
		for _, tc := range []struct{ how, path, ctype, body string }{
			{"missing", "/token", "", ""},
			{"empty", "/token?name=", "", ""},
			{"blank", "/token?name=%20%20%09", "", ""},
			{"101 characters", "/token?name=" + strings.Repeat("a", 101), "", ""},
			{"control character", "/token?name=a%00b", "", ""},
			{"json number", "/token", "application/json", `{"name":5}`},
			{"json broken", "/token", "application/json", `{"name":`},
			{"json blank", "/token", "application/json", `{"name":"   "}`},
			{"form empty", "/token", "application/x-www-form-urlencoded", "name="},
			{"Hangul filler", "/token?name=%E3%85%A4", "", ""},                                           // U+3164
			{"Hangul choseong filler", "/token", "application/json", `{"name":"\u115f"}`},                // U+115F
			{"halfwidth Hangul filler", "/token", "application/x-www-form-urlencoded", "name=%EF%BE%A0"}, // U+FFA0
			{"combining grapheme joiner", "/token?name=a%CD%8Fb", "", ""},                                // U+034F
			{"line separator", "/token", "application/json", `{"name":"a\u2028b"}`},                      // U+2028
		} {
			status, body, _ := httpDo(t, e.ts, "POST", tc.path, tc.ctype, tc.body)
			if status != http.StatusBadRequest || strings.TrimSpace(body) != nameError {
				t.Fatalf("%s: %d %s, want 400 %s", tc.how, status, body, nameError)
			}
		}
		big := `{"name":"` + strings.Repeat("a", 20<<10) + `"}`
		if status, body, _ := httpDo(t, e.ts, "POST", "/token", "application/json", big); status != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"detail"`) {
			t.Fatalf("oversized body: %d %s", status, body)
		}
	})
}

func TestSessionsPerMinutePerIP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SessionsPerMinutePerIP: 3}, store.Options{})
		for i := range 3 {
			if status, body, _ := httpDo(t, e.ts, "POST", "/token?name=a", "", ""); status != http.StatusOK {
				t.Fatalf("session %d: %d %s", i+1, status, body)
			}
		}
		status, body, hdr := httpDo(t, e.ts, "POST", "/token?name=a", "", "")
		if status != http.StatusTooManyRequests || !strings.Contains(body, "Too many sessions created from this address") || hdr.Get("Retry-After") == "" {
			t.Fatalf("4th session: %d %s (Retry-After %q)", status, body, hdr.Get("Retry-After"))
		}
		var d struct{ Detail string }
		if json.Unmarshal([]byte(body), &d) != nil || d.Detail == "" {
			t.Fatalf("429 body is not {\"detail\": ...}: %s", body)
		}
	})
}

func TestRefreshToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{SessionTTL: time.Hour})
		sess := e.session()
		e.worker(sess.Token, nil)
		c := e.dial(tokenQuery(sess, ""))
		for _, m := range []string{"one", "two"} {
			c.send(m)
			c.nextOf(chat.FrameMessage)
		}
		// Shorten the TTL so the refresh visibly slides it back.
		for _, k := range e.st.Keys().SessionKeys(sess.Token) {
			e.st.Client().Do(e.ctx, e.st.Client().B().Pexpire().Key(k).Milliseconds(60000).Build())
		}
		for _, req := range []struct{ method, path, ctype, body string }{
			{"GET", "/refresh_token?token=" + sess.Token, "", ""},
			{"POST", "/refresh_token?token=" + sess.Token, "", ""},
			{"POST", "/refresh_token", "application/x-www-form-urlencoded", "token=" + sess.Token},
			{"POST", "/refresh_token", "application/json", `{"token":"` + sess.Token + `"}`},
		} {
			status, body, _ := httpDo(t, e.ts, req.method, req.path, req.ctype, req.body)
			if status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", req.method, req.path, status, body)
			}
			got := decodeSession(t, body)
			var roles, texts []string
			for _, m := range got.Messages {
				roles = append(roles, m.Role)
				texts = append(texts, m.Msg)
			}
			if got.Token != sess.Token || got.Name != "tester" || strings.Join(roles, ",") != "human,bot,human,bot" ||
				strings.Join(texts, "|") != "one|echo: one|two|echo: two" {
				t.Fatalf("refresh: %+v", got)
			}
		}
		if ttl, _ := e.st.TTL(e.ctx, sess.Token); ttl < 59*time.Minute {
			t.Fatalf("TTL after refresh %s, want about 1h", ttl)
		}
		status, body, _ := httpDo(t, e.ts, "GET", "/refresh_token", "", "", "Authorization", "Bearer "+sess.Token)
		if status != http.StatusOK || decodeSession(t, body).Token != sess.Token {
			t.Fatalf("bearer refresh: %d %s", status, body)
		}
		for _, path := range []string{"/refresh_token", "/refresh_token?token=nope", "/refresh_token?token=" + newToken()} {
			status, body, _ := httpDo(t, e.ts, "GET", path, "", "")
			if status != http.StatusBadRequest || strings.TrimSpace(body) != sessionError {
				t.Fatalf("%s: %d %s, want 400 %s", path, status, body, sessionError)
			}
		}
	})
}

func TestDeleteToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.st.Send(e.ctx, sess.Token, chat.Message{ID: newToken(), Role: chat.RoleHuman, Msg: "hi"}, store.SendLimits{MaxPending: 5, MessagesPerMinute: 5})
		status, body, _ := httpDo(t, e.ts, "DELETE", "/token?token="+sess.Token, "", "")
		if status != http.StatusNoContent || body != "" {
			t.Fatalf("delete: %d %q", status, body)
		}
		for _, k := range e.st.Keys().SessionKeys(sess.Token) {
			if n, _ := e.st.Client().Do(e.ctx, e.st.Client().B().Exists().Key(k).Build()).AsInt64(); n != 0 {
				t.Fatalf("key %s left after DELETE /token", k)
			}
		}
		if status, body, _ := httpDo(t, e.ts, "GET", "/refresh_token?token="+sess.Token, "", ""); status != http.StatusBadRequest || strings.TrimSpace(body) != sessionError {
			t.Fatalf("refresh after delete: %d %s", status, body)
		}
		// Deleting again, or a session that never was, is not an error: it is gone either way.
		if status, _, _ := httpDo(t, e.ts, "DELETE", "/token?token="+sess.Token, "", ""); status != http.StatusNoContent {
			t.Fatalf("second delete: %d", status)
		}
		if status, body, _ := httpDo(t, e.ts, "DELETE", "/token", "", ""); status != http.StatusBadRequest || !strings.Contains(body, "Missing token") {
			t.Fatalf("delete without token: %d %s", status, body)
		}
	})
}

func TestProbesAndTest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		waitReady(t, e.ts)
		for _, tc := range []struct{ path, want string }{
			{"/test", `{"msg":"API is Online"}`},
			{"/healthz", `{"status":"ok"}`},
			{"/readyz", `{"status":"ready"}`},
		} {
			status, body, _ := httpDo(t, e.ts, "GET", tc.path, "", "")
			if status != http.StatusOK || strings.TrimSpace(body) != tc.want {
				t.Fatalf("%s: %d %s, want %s", tc.path, status, body, tc.want)
			}
		}
		status, body, hdr := httpDo(t, e.ts, "GET", "/", "", "")
		if status != http.StatusOK || !strings.Contains(hdr.Get("Content-Type"), "text/html") || !strings.Contains(strings.ToLower(body), "<html") {
			t.Fatalf("GET /: %d %s %.80s", status, hdr.Get("Content-Type"), body)
		}
		if status, _, _ := httpDo(t, e.ts, "PUT", "/token", "", ""); status != http.StatusMethodNotAllowed {
			t.Fatalf("PUT /token: %d, want 405", status)
		}
	})
}

// devEnv is an env on an in-process Redis (pkg/devredis) the test can stop: mr.Close() is a
// Redis outage.
func devEnv(t *testing.T) (*env, *devredis.Server) {
	t.Helper()
	mr, err := devredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := store.Open(ctx, mr.StoreOptions(store.Options{CommandTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return &env{t: t, st: st, ctx: ctx}, mr
}

// Readiness follows Redis; liveness does not.
func TestReadyzWithoutRedis(t *testing.T) {
	t.Parallel()
	e, mr := devEnv(t)
	ts := e.serve(e.st, web.Options{})
	waitReady(t, ts)
	mr.Close()
	status, body, _ := httpDo(t, ts, "GET", "/readyz", "", "")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"status":"unavailable"`) {
		t.Fatalf("readyz without redis: %d %s", status, body)
	}
	if status, _, _ := httpDo(t, ts, "GET", "/healthz", "", ""); status != http.StatusOK {
		t.Fatalf("healthz without redis: %d", status)
	}
}

func TestCORS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{AllowedOrigins: []string{"https://app.example.com", "*.trusted.test"}}, store.Options{})
		for _, origin := range []string{"https://app.example.com", "http://x.trusted.test", e.ts.URL} {
			status, _, hdr := httpDo(t, e.ts, "GET", "/test", "", "", "Origin", origin)
			if status != http.StatusOK || hdr.Get("Access-Control-Allow-Origin") != origin {
				t.Fatalf("origin %s: %d, Allow-Origin %q", origin, status, hdr.Get("Access-Control-Allow-Origin"))
			}
			status, _, hdr = httpDo(t, e.ts, "OPTIONS", "/token", "", "", "Origin", origin, "Access-Control-Request-Method", "POST")
			if status != http.StatusNoContent || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") || hdr.Get("Access-Control-Allow-Origin") != origin {
				t.Fatalf("preflight from %s: %d %v", origin, status, hdr)
			}
		}
		for _, origin := range []string{"https://evil.example", "http://app.example.com", "null"} {
			_, _, hdr := httpDo(t, e.ts, "GET", "/test", "", "", "Origin", origin)
			if hdr.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("origin %s allowed: %v", origin, hdr)
			}
			status, body, _ := httpDo(t, e.ts, "OPTIONS", "/token", "", "", "Origin", origin, "Access-Control-Request-Method", "POST")
			if status != http.StatusForbidden || !strings.Contains(body, "Origin not allowed") {
				t.Fatalf("preflight from %s: %d %s", origin, status, body)
			}
		}
	})
}

func TestMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send("hello")
		c.nextOf(chat.FrameMessage)
		c.send("   ")
		if f := c.next(); f.Code != chat.CodeEmptyMessage {
			t.Fatalf("got %+v, want empty_message", f)
		}
		for series, want := range map[string]string{
			"chatbot_web_sockets_open":                       "1",
			"chatbot_web_sessions":                           "1",
			`chatbot_web_frames_in_total{type="message"}`:    "1",
			`chatbot_web_frames_in_total{type="invalid"}`:    "1",
			`chatbot_web_frames_out_total{type="ack"}`:       "1",
			`chatbot_web_frames_out_total{type="delta"}`:     "2",
			`chatbot_web_frames_out_total{type="message"}`:   "1",
			`chatbot_web_frames_out_total{type="error"}`:     "1",
			`chatbot_web_errors_total{code="empty_message"}`: "1",
			"chatbot_web_enqueue_seconds_count":              "1",
			"chatbot_web_subscribed_channels":                "1",
		} {
			storetest.Eventually(t, wait, series+" = "+want, func() bool { return metric(t, e.ts, series) == want })
		}
	})
}

// waitReady waits until /readyz answers 200: Redis answers and the subscriber is connected.
func waitReady(t *testing.T, ts *httptest.Server) {
	t.Helper()
	var status int
	var body string
	storetest.Eventually(t, 10*time.Second, "/readyz 200", func() bool {
		status, body, _ = httpDo(t, ts, "GET", "/readyz", "", "")
		return status == http.StatusOK
	})
	if strings.TrimSpace(body) != `{"status":"ready"}` {
		t.Fatalf("/readyz: %d %s", status, body)
	}
}
