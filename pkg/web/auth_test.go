package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// jwtSecret signs the JWTs of these tests (auth.jwt_secret).
var jwtSecret = []byte("web-tests-secret-0123456789abcdef")

// jwtEnv is an env whose server runs auth.mode jwt with jwtSecret and no leeway.
func jwtEnv(t *testing.T, b storetest.Backend, opt web.Options) *env {
	t.Helper()
	v, err := auth.New(auth.Options{Secret: jwtSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	opt.Auth = v
	return setup(t, b, opt, store.Options{})
}

// signJWT issues a JWT for user, valid for ttl (negative: expired), with extra claims.
func signJWT(t *testing.T, user string, ttl time.Duration, extra ...any) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": user, "iat": now.Add(min(ttl, 0)).Unix(), "exp": now.Add(ttl).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i].(string)] = extra[i+1]
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearerH(jwt string) []string { return []string{"Authorization", "Bearer " + jwt} }

// createAs opens a session as user through POST /token.
func (e *env) createAs(jwt, name string) chat.Session {
	e.t.Helper()
	status, body, _ := httpDo(e.t, e.ts, "POST", "/token?name="+url.QueryEscape(name), "", "", bearerH(jwt)...)
	if status != http.StatusOK {
		e.t.Fatalf("POST /token: %d %s", status, body)
	}
	var s chat.Session
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// dialAs opens /chat with the JWT as a browser sends it (subprotocols chatbot, bearer.<jwt>).
func dialAs(t *testing.T, e *env, jwt, query string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(e.ts, query), &websocket.DialOptions{Subprotocols: []string{auth.Subprotocol, auth.SubprotocolPrefix + jwt}})
	if err != nil {
		t.Fatalf("dial %s: %v", query, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	if got := c.Subprotocol(); got != auth.Subprotocol {
		t.Fatalf("the server answered subprotocol %q, want %q", got, auth.Subprotocol)
	}
	return &client{t: t, c: c}
}

// Every route that needs a JWT refuses a missing, malformed, forged, expired or not yet valid
// one with 401, the Bearer challenge and a detail; a JWT in the query string is never read.
func TestJWTRefusalsHTTP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{})
		sess := e.createAs(signJWT(t, "alice", time.Hour), "mine")
		forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("another-secret-0123456789abcdef!"))
		nbf := signJWT(t, "alice", time.Hour, "nbf", time.Now().Add(time.Hour).Unix())
		valid := signJWT(t, "alice", time.Hour)
		cases := []struct {
			name   string
			header []string
			query  string
			detail string
		}{
			{"no JWT", nil, "", "Authentication required: send Authorization: Bearer <JWT>"},
			{"Basic credentials", []string{"Authorization", "Basic YWxpY2U6cHc="}, "", "Authentication required: send Authorization: Bearer <JWT>"},
			{"a session token as bearer", bearerH(sess.Token), "", "Invalid token: malformed"},
			{"forged", bearerH(forged), "", "Invalid token: bad signature"},
			{"expired", bearerH(signJWT(t, "alice", -time.Minute)), "", "Token expired"},
			{"not yet valid", bearerH(nbf), "", "Token not yet valid"},
			{"no sub", bearerH(signJWT(t, "", time.Hour)), "", "Invalid token: sub missing or longer than 256 bytes"},
			{"JWT in the query string", nil, "&access_token=" + valid + "&jwt=" + valid, "Authentication required: send Authorization: Bearer <JWT>"},
		}
		routes := []struct{ method, path string }{
			{"POST", "/token?name=x"},
			{"GET", "/refresh_token?token=" + sess.Token},
			{"POST", "/refresh_token?token=" + sess.Token},
			{"DELETE", "/token?token=" + sess.Token},
			{"GET", "/sessions?limit=5"},
		}
		for _, c := range cases {
			for _, r := range routes {
				status, body, h := httpDo(t, e.ts, r.method, r.path+c.query, "", "", c.header...)
				want, _ := json.Marshal(map[string]string{"detail": c.detail})
				if status != http.StatusUnauthorized || strings.TrimSpace(body) != string(want) ||
					h.Get("WWW-Authenticate") != `Bearer error="invalid_token"` || h.Get("Content-Type") != "application/json" {
					t.Errorf("%s, %s %s: %d %s (WWW-Authenticate %q), want 401 %s", c.name, r.method, r.path, status, body, h.Get("WWW-Authenticate"), want)
				}
			}
		}
		// Nothing was done on the way: the session is there, no other was made.
		if got, err := e.st.GetSessionOf(e.ctx, "alice", sess.Token, false); err != nil || got.Name != "mine" {
			t.Fatalf("the session after the refusals: %+v %v", got, err)
		}
		if list, _ := e.st.ListSessions(e.ctx, "alice", "", 10); len(list.Sessions) != 1 {
			t.Fatalf("alice has %d sessions, want 1", len(list.Sessions))
		}
		if got := metric(t, e.ts, `chatbot_web_auth_refused_total{kind="expired"}`); got != strconv.Itoa(len(routes)) {
			t.Errorf("expired refusals counted %q, want %d", got, len(routes))
		}
	})
}

// The socket refuses the same JWTs after the upgrade (a browser cannot read an HTTP status):
// close 1008 "Authentication required". A JWT only in the query string is not read.
func TestJWTRefusalsSocket(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{})
		alice := signJWT(t, "alice", time.Hour)
		sess := e.createAs(alice, "mine")
		q := tokenQuery(sess, "")
		e.dial(q).expectClose(websocket.StatusPolicyViolation, "Authentication required")
		e.dial(q+"&access_token="+alice).expectClose(websocket.StatusPolicyViolation, "Authentication required")
		for name, bad := range map[string]string{
			"expired": signJWT(t, "alice", -time.Minute),
			"forged":  alice[:strings.LastIndexByte(alice, '.')] + ".c2lnbmF0dXJl",
			"garbage": "not-a-jwt",
		} {
			t.Run(name, func(t *testing.T) {
				dialAs(t, e, bad, q).expectClose(websocket.StatusPolicyViolation, "Authentication required")
				// The same JWT in an Authorization header (non-browser clients).
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				c, _, err := websocket.Dial(ctx, wsURL(e.ts, q), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + bad}}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				(&client{t: t, c: c}).expectClose(websocket.StatusPolicyViolation, "Authentication required")
			})
		}
		// The header works as well as the subprotocol.
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL(e.ts, q+"&stream=1"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + alice}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		cl := &client{t: t, c: c}
		cl.send("hello")
		if f := cl.nextOf(chat.FrameAck); f.ID == "" {
			t.Fatalf("ack %+v", f.Event)
		}
	})
}

// Another user's session token behaves exactly as one that does not exist, on every route and
// on the socket, and nothing of it changes.
func TestJWTCrossUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{})
		alice, bob := signJWT(t, "alice", time.Hour), signJWT(t, "bob", time.Hour)
		sess := e.createAs(alice, "alice's")
		ghost := newToken()

		same := func(what, method, path string) {
			t.Helper()
			s1, b1, h1 := httpDo(t, e.ts, method, strings.ReplaceAll(path, "TOKEN", sess.Token), "", "", bearerH(bob)...)
			s2, b2, h2 := httpDo(t, e.ts, method, strings.ReplaceAll(path, "TOKEN", ghost), "", "", bearerH(bob)...)
			if s1 != s2 || b1 != b2 || h1.Get("Content-Type") != h2.Get("Content-Type") || len(h1) != len(h2) {
				t.Errorf("%s: another user's session answers %d %q %v, a missing one %d %q %v", what, s1, b1, h1, s2, b2, h2)
			}
		}
		same("GET /refresh_token", "GET", "/refresh_token?token=TOKEN")
		same("POST /refresh_token", "POST", "/refresh_token?token=TOKEN")
		same("DELETE /token", "DELETE", "/token?token=TOKEN")
		status, body, _ := httpDo(t, e.ts, "GET", "/refresh_token?token="+sess.Token, "", "", bearerH(bob)...)
		if status != http.StatusBadRequest || strings.TrimSpace(body) != `{"detail":"Session expired or does not exist"}` {
			t.Fatalf("bob reads alice's session: %d %s", status, body)
		}
		if status, _, _ := httpDo(t, e.ts, "DELETE", "/token?token="+sess.Token, "", "", bearerH(bob)...); status != http.StatusNoContent {
			t.Fatalf("bob deletes alice's session: %d, want 204", status)
		}
		// Bob's socket on alice's session closes as on a session that does not exist.
		dialAs(t, e, bob, tokenQuery(sess, "")).expectClose(websocket.StatusPolicyViolation, "Session not authenticated or expired token")
		dialAs(t, e, bob, "token="+ghost).expectClose(websocket.StatusPolicyViolation, "Session not authenticated or expired token")
		// Bob's list does not show it.
		_, body, _ = httpDo(t, e.ts, "GET", "/sessions", "", "", bearerH(bob)...)
		if strings.TrimSpace(body) != `{"sessions":[],"next":null}` {
			t.Fatalf("bob's list: %s", body)
		}
		// Alice's session is untouched and hers.
		status, body, _ = httpDo(t, e.ts, "GET", "/refresh_token?token="+sess.Token, "", "", bearerH(alice)...)
		if status != http.StatusOK || !strings.Contains(body, `"name":"alice's"`) {
			t.Fatalf("alice reads her session after bob's attempts: %d %s", status, body)
		}
		c := dialAs(t, e, alice, tokenQuery(sess, "stream=1"))
		c.send("still mine")
		if f := c.nextOf(chat.FrameAck); f.ID == "" {
			t.Fatalf("ack %+v", f)
		}
		// A session made without an owner (auth.mode none, or chatbot token without --user)
		// belongs to nobody.
		anon := e.session()
		status, _, _ = httpDo(t, e.ts, "GET", "/refresh_token?token="+anon.Token, "", "", bearerH(alice)...)
		if status != http.StatusBadRequest {
			t.Fatalf("an unowned session read with a JWT: %d, want 400", status)
		}
		// Alice deletes hers: gone, and its socket closes.
		if status, _, _ := httpDo(t, e.ts, "DELETE", "/token?token="+sess.Token, "", "", bearerH(alice)...); status != http.StatusNoContent {
			t.Fatalf("alice deletes: %d", status)
		}
		c.expectClose(websocket.StatusPolicyViolation, "Session deleted")
	})
}

// A socket closes with 1008 "Credentials expired" when its JWT expires; the client comes
// back with a new JWT and resumes from its last offset, missing nothing.
func TestJWTExpiresWhileConnected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{})
		sess := e.createAs(signJWT(t, "alice", time.Hour), "mine")
		e.worker(sess.Token, nil)
		short := signJWT(t, "alice", 3*time.Second) // exp is whole seconds: 2 to 3s from now
		c := dialAs(t, e, short, tokenQuery(sess, ""))
		c.send("before")
		first := c.nextOf(chat.FrameMessage)
		start := time.Now()
		c.expectClose(websocket.StatusPolicyViolation, "Credentials expired")
		if time.Since(start) > 4*time.Second {
			t.Fatalf("closed %s after the reply, the JWT lived at most 3s", time.Since(start))
		}
		// Meanwhile a reply comes that the closed socket did not see.
		other := dialAs(t, e, signJWT(t, "alice", time.Hour), tokenQuery(sess, ""))
		other.send("while away")
		missed := other.nextOf(chat.FrameMessage)
		again := dialAs(t, e, signJWT(t, "alice", time.Hour), tokenQuery(sess, "last_id="+first.Offset))
		if f := again.nextOf(chat.FrameMessage); f.ID != missed.ID || f.Msg != "echo: while away" {
			t.Fatalf("resumed with %+v, want the reply it missed (%s)", f, missed.ID)
		}
	})
}

// GET /sessions: the caller's sessions, most recently active first, paged; 404 with
// auth.mode none.
func TestJWTListSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{})
		alice := signJWT(t, "alice", time.Hour, "name", "Alice Liddell")
		var made []chat.Session
		for i := range 3 {
			made = append(made, e.createAs(alice, "chat "+strconv.Itoa(i)))
			time.Sleep(2 * time.Millisecond)
		}
		e.createAs(signJWT(t, "bob", time.Hour), "bob's")
		c := dialAs(t, e, alice, tokenQuery(made[0], "stream=1"))
		c.send("What is the longest river in the world, and how long is it in kilometres and in miles?")
		c.nextOf(chat.FrameAck)

		var got []chat.SessionSummary
		cursor := ""
		for range 10 {
			path := "/sessions?limit=2"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			status, body, _ := httpDo(t, e.ts, "GET", path, "", "", bearerH(alice)...)
			if status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, status, body)
			}
			var page chat.SessionList
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatal(err)
			}
			got = append(got, page.Sessions...)
			if page.Next == nil {
				break
			}
			cursor = *page.Next
		}
		want := []string{made[0].Token, made[2].Token, made[1].Token}
		if len(got) != 3 || got[0].Token != want[0] || got[1].Token != want[1] || got[2].Token != want[2] {
			t.Fatalf("listed %+v, want %v", got, want)
		}
		if got[0].Title != "What is the longest river in the world, and how long is it in kilometres and in" ||
			got[0].Messages != 1 || got[1].Title != "" || got[0].Name != "Alice Liddell" {
			t.Fatalf("first entry %+v", got[0])
		}
		for _, bad := range []string{"limit=0", "limit=101", "limit=x", "cursor=nonsense"} {
			status, body, _ := httpDo(t, e.ts, "GET", "/sessions?"+bad, "", "", bearerH(alice)...)
			if status != http.StatusBadRequest || !strings.Contains(body, "detail") {
				t.Errorf("?%s: %d %s, want 400", bad, status, body)
			}
		}
		if status, body, _ := httpDo(t, e.ts, "GET", "/sessions?limit=100", "", "", bearerH(alice)...); status != http.StatusOK {
			t.Errorf("limit=100: %d %s", status, body)
		}

		none := setup(t, b, web.Options{}, store.Options{})
		status, body, _ := httpDo(t, none.ts, "GET", "/sessions", "", "", bearerH(alice)...)
		if status != http.StatusNotFound || strings.TrimSpace(body) != `{"detail":"Not available: auth.mode is none"}` {
			t.Fatalf("auth.mode none: %d %s", status, body)
		}
	})
}

// The session name: the JWT's name claim when it is a valid name, else ?name=, else 400.
func TestJWTSessionName(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{})
		for _, c := range []struct {
			claim any
			query string
			want  string
		}{
			{"Alice Liddell", "x", "Alice Liddell"},
			{nil, "Given", "Given"},
			{strings.Repeat("n", 101), "Fallback", "Fallback"},
			{42, "Number", "Number"},
			{"  ", "Blank", "Blank"},
		} {
			extra := []any{}
			if c.claim != nil {
				extra = append(extra, "name", c.claim)
			}
			if got := e.createAs(signJWT(t, "alice", time.Hour, extra...), c.query); got.Name != c.want {
				t.Errorf("claim %v, ?name=%s: name %q, want %q", c.claim, c.query, got.Name, c.want)
			}
		}
		status, body, _ := httpDo(t, e.ts, "POST", "/token", "", "", bearerH(signJWT(t, "alice", time.Hour))...)
		if status != http.StatusBadRequest || strings.TrimSpace(body) != `{"detail":{"loc":"name","msg":"Enter a valid name"}}` {
			t.Fatalf("no name anywhere: %d %s", status, body)
		}
	})
}

// limits.sessions_per_minute_per_user: 429 with Retry-After; limits.messages_per_minute_per_user:
// rate_limited across the user's sessions, naming the limit.
func TestJWTUserLimits(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := jwtEnv(t, b, web.Options{SessionsPerMinutePerUser: 2, MessagesPerMinutePerUser: 3})
		alice := signJWT(t, "alice", time.Hour)
		s1, s2 := e.createAs(alice, "one"), e.createAs(alice, "two")
		status, body, h := httpDo(t, e.ts, "POST", "/token?name=three", "", "", bearerH(alice)...)
		secs, _ := strconv.Atoi(h.Get("Retry-After"))
		if status != http.StatusTooManyRequests || secs < 1 || secs > 60 ||
			!strings.HasPrefix(strings.TrimSpace(body), `{"detail":"Too many sessions created by this user (limit 2 per minute): try again in `) {
			t.Fatalf("third session: %d %s (Retry-After %q)", status, body, h.Get("Retry-After"))
		}
		e.createAs(signJWT(t, "bob", time.Hour), "bob's") // another user is not affected

		c1 := dialAs(t, e, alice, tokenQuery(s1, "stream=1"))
		c2 := dialAs(t, e, alice, tokenQuery(s2, "stream=1"))
		c1.sendJSON(map[string]string{"type": "message", "msg": "a", "client_id": "1"})
		c1.nextOf(chat.FrameAck)
		c2.sendJSON(map[string]string{"type": "message", "msg": "b", "client_id": "2"})
		c2.nextOf(chat.FrameAck)
		c1.sendJSON(map[string]string{"type": "message", "msg": "c", "client_id": "3"})
		c1.nextOf(chat.FrameAck)
		c2.sendJSON(map[string]string{"type": "message", "msg": "d", "client_id": "4"})
		f := c2.nextOf(chat.FrameError)
		if f.Code != chat.CodeRateLimited || f.ClientID != "4" || !strings.HasPrefix(f.Msg, "Too many messages this minute from this user: wait ") || !strings.HasSuffix(f.Msg, "(limit 3 per minute)") {
			t.Fatalf("fourth message of the user: %+v", f.Event)
		}
	})
}
