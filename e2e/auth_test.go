package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/chat"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// TestE2EAuthJWKS: the production shape behind an identity provider. A 6-node Redis Cluster,
// two serve and one work with auth.mode jwt on the JWKS of an identity provider the test runs
// (RS256). A user signs in on one serve and chats on the other; another user meets their
// session as one that does not exist on both; refused JWTs get their exact answers; the
// provider rotates its key and both serves take the new one at once; the provider goes down
// and the cached key keeps working; a socket closes when its JWT expires and resumes with a
// new one; GET /sessions lists the user's sessions, `chatbot token --user` ones included.
func TestE2EAuthJWKS(t *testing.T) {
	t.Parallel()
	idp := newJWKSProvider(t)
	d := deploy(t, shape{serves: 2, works: 1, replicas: 1, env: env{
		"CHATBOT_AUTH_MODE":     "jwt",
		"CHATBOT_AUTH_JWKS_URL": idp.ts.URL + "/protocol/openid-connect/certs",
		"CHATBOT_AUTH_ISSUER":   idp.issuer,
		"CHATBOT_AUTH_AUDIENCE": "chatbot",
		"CHATBOT_AUTH_LEEWAY":   "0s",
		"CHATBOT_LOG_LEVEL":     "debug",
	}})
	ctx := testContext(t, 3*time.Minute)
	s1, s2 := d.serve(0).URL(), d.serve(1).URL()
	var answers notes

	// Alice signs in on serve1, chats on serve2 (the JWT as a browser sends it).
	alice := idp.sign(t, "k1", "alice", time.Hour)
	var sess chat.Session
	mustJSON(t, jwtHTTP(t, ctx, http.MethodPost, s1+"/token?name=x", alice, http.StatusOK, &answers), &sess)
	if sess.Name != "Name of alice" {
		t.Fatalf("the session is named %q, want the JWT's name claim", sess.Name)
	}
	c := jwtDial(t, ctx, s2, url.Values{"token": {sess.Token}, "stream": {"1"}}, alice, &answers)
	hello := chatOnce(t, ctx, c, "hello over jwks")
	c.Close(websocket.StatusNormalClosure, "")

	// Bob, on both serves, meets Alice's session exactly as one that does not exist.
	bob := idp.sign(t, "k1", "bob", time.Hour)
	ghost := "00000000-0000-4000-8000-000000000000"
	for _, base := range []string{s1, s2} {
		for _, r := range []struct {
			method, path string
			status       int
		}{{http.MethodGet, "/refresh_token?token=", http.StatusBadRequest}, {http.MethodDelete, "/token?token=", http.StatusNoContent}} {
			got := jwtHTTP(t, ctx, r.method, base+r.path+sess.Token, bob, r.status, &answers)
			if want := jwtHTTP(t, ctx, r.method, base+r.path+ghost, bob, r.status, &answers); got != want {
				t.Errorf("%s %s: bob gets %q for alice's session, %q for none", r.method, r.path, got, want)
			}
		}
		if ce := closeOf(t, ctx, jwtDial(t, ctx, base, url.Values{"token": {sess.Token}}, bob, &answers)); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "Session not authenticated or expired token" {
			t.Errorf("bob's socket on alice's session: %d %q", ce.Code, ce.Reason)
		}
		if got := jwtHTTP(t, ctx, http.MethodGet, base+"/sessions", bob, http.StatusOK, &answers); strings.TrimSpace(got) != `{"sessions":[],"next":null}` {
			t.Errorf("bob's list: %s", got)
		}
	}

	// Refused JWTs, with their exact answers, on the API and the socket.
	pub, _ := x509.MarshalPKIXPublicKey(&idp.key("k1").PublicKey)
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, idp.claims("alice", time.Hour)).SignedString(pub)
	for _, r := range []struct {
		name, jwt, detail string
	}{
		{"none", "", "Authentication required: send Authorization: Bearer <JWT>"},
		{"expired", idp.sign(t, "k1", "alice", -time.Minute), "Token expired"},
		{"HS256 signed with the provider's public key", confused, "Invalid token: algorithm not allowed"},
		{"another issuer", idp.signClaims(t, "k1", idp.claims("alice", time.Hour), "iss", "https://evil.example.com/"), "Invalid token: wrong issuer"},
		{"another audience", idp.signClaims(t, "k1", idp.claims("alice", time.Hour), "aud", "mail"), "Invalid token: wrong audience"},
	} {
		want, _ := json.Marshal(map[string]string{"detail": r.detail})
		if got := jwtHTTP(t, ctx, http.MethodGet, s1+"/sessions", r.jwt, http.StatusUnauthorized, &answers); strings.TrimSpace(got) != string(want) {
			t.Errorf("%s: %s, want %s", r.name, got, want)
		}
		if r.jwt != "" {
			if ce := closeOf(t, ctx, jwtDial(t, ctx, s2, url.Values{"token": {sess.Token}}, r.jwt, &answers)); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "Authentication required" {
				t.Errorf("%s on the socket: %d %q", r.name, ce.Code, ce.Reason)
			}
		}
	}

	// The provider rotates: k2 only. A JWT of k2 works on both serves at once.
	fetches := idp.hits.Load()
	idp.publish("k2")
	alice2 := idp.sign(t, "k2", "alice", time.Hour)
	for _, base := range []string{s1, s2} {
		jwtHTTP(t, ctx, http.MethodGet, base+"/refresh_token?token="+sess.Token, alice2, http.StatusOK, &answers)
	}
	if got := idp.hits.Load() - fetches; got != 2 {
		t.Errorf("%d JWKS fetches for the rotation on two serves, want 2 (one each)", got)
	}
	// The old key left with that fetch; a kid the provider never had is refused, and so soon
	// after a fetch for an unknown kid, without another one.
	fetches = idp.hits.Load()
	for _, j := range []string{alice, idp.signWith(t, "nope", rsaKey(t), idp.claims("alice", time.Hour))} {
		if got := jwtHTTP(t, ctx, http.MethodGet, s1+"/sessions", j, http.StatusUnauthorized, &answers); strings.TrimSpace(got) != `{"detail":"Invalid token: unknown key"}` {
			t.Errorf("a kid the provider no longer has: %s", got)
		}
	}
	if got := idp.hits.Load() - fetches; got != 0 {
		t.Errorf("%d JWKS fetches for unknown kids within auth.jwks_refresh of the last one, want 0", got)
	}

	// The provider goes down: the cached key keeps working.
	idp.down.Store(true)
	jwtHTTP(t, ctx, http.MethodGet, s1+"/refresh_token?token="+sess.Token, alice2, http.StatusOK, &answers)
	idp.down.Store(false)

	// A JWT that expires under an open socket: close 1008, then resume with a new JWT.
	short := idp.sign(t, "k2", "alice", 3*time.Second) // exp in whole seconds: 2 to 3s from now
	c = jwtDial(t, ctx, s1, url.Values{"token": {sess.Token}, "stream": {"1"}}, short, &answers)
	if ce := closeOf(t, ctx, c); ce.Code != websocket.StatusPolicyViolation || ce.Reason != "Credentials expired" {
		t.Fatalf("the expiring JWT's socket: %d %q", ce.Code, ce.Reason)
	}
	other := jwtDial(t, ctx, s2, url.Values{"token": {sess.Token}, "stream": {"1"}}, alice2, &answers)
	missed := chatOnce(t, ctx, other, "while away")
	again := jwtDial(t, ctx, s1, url.Values{"token": {sess.Token}, "last_id": {hello.Offset}}, alice2, &answers)
	if ev, err := again.until(ctx, "the missed reply", func(ev chat.Event) bool { return ev.Type == chat.FrameMessage }); err != nil || ev.ID != missed.ID {
		t.Fatalf("resumed with %+v %v, want the reply it missed", ev, err)
	}

	// chatbot token --user: listed for the user with the session made over HTTP, newest first.
	res := runChatbot(ctx, t.TempDir(), d.env, "token", "--name", "ops", "--user", "alice")
	opsTok := strings.TrimSpace(res.stdout)
	if res.code != 0 || !chat.ValidToken(opsTok) {
		t.Fatalf("chatbot token --user: %d %s", res.code, res.stderr)
	}
	var list chat.SessionList
	mustJSON(t, jwtHTTP(t, ctx, http.MethodGet, s2+"/sessions?limit=1", alice2, http.StatusOK, &answers), &list)
	if len(list.Sessions) != 1 || list.Sessions[0].Token != opsTok || list.Next == nil {
		t.Fatalf("first page %+v", list)
	}
	mustJSON(t, jwtHTTP(t, ctx, http.MethodGet, s2+"/sessions?limit=1&cursor="+url.QueryEscape(*list.Next), alice2, http.StatusOK, &answers), &list)
	if len(list.Sessions) != 1 || list.Sessions[0].Token != sess.Token || list.Sessions[0].Title != "hello over jwks" || list.Next != nil {
		t.Fatalf("second page %+v", list)
	}

	// No JWT in any log or answer.
	outs := []captured{{"answers", answers.String()}}
	for _, pr := range []*proc{d.serve(0), d.serve(1), d.work(0)} {
		outs = append(outs, captured{pr.name + " log", readFile(pr.log)})
	}
	var needles []needle
	for _, j := range idp.issued() {
		needles = append(needles, spellings("JWT", j, j[strings.LastIndexByte(j, '.')+1:])...)
	}
	if hits := findSecrets(outs, needles); len(hits) > 0 {
		t.Fatalf("%d lines hold a JWT:\n%s", len(hits), strings.Join(first(hits, 20), "\n"))
	}
	if !strings.Contains(outs[1].text, `"msg":"credentials refused"`) {
		t.Fatalf("serve1 logged no refusal: the scan looked at the wrong log")
	}
}

// jwksProvider is an identity provider's JWKS endpoint: RSA keys by kid, the ones published,
// and a switch that makes it answer 503.
type jwksProvider struct {
	ts     *httptest.Server
	issuer string
	hits   atomic.Int64
	down   atomic.Bool

	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey
	published []string
	jwts      []string
}

func newJWKSProvider(t *testing.T) *jwksProvider {
	p := &jwksProvider{keys: map[string]*rsa.PrivateKey{"k1": rsaKey(t), "k2": rsaKey(t)}, published: []string{"k1"}}
	p.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.hits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		var keys []map[string]string
		for _, kid := range p.published {
			k := p.keys[kid].PublicKey
			keys = append(keys, map[string]string{"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(p.ts.Close)
	p.issuer = p.ts.URL + "/realms/chat"
	return p
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *jwksProvider) key(kid string) *rsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

func (p *jwksProvider) publish(kids ...string) {
	p.mu.Lock()
	p.published = kids
	p.mu.Unlock()
}

// claims are a provider's claims for sub, valid for ttl (negative: expired).
func (p *jwksProvider) claims(sub string, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": p.issuer, "aud": []string{"chatbot", "account"}, "sub": sub, "name": "Name of " + sub,
		"iat": now.Add(min(ttl, 0)).Unix(), "exp": now.Add(ttl).Unix()}
}

func (p *jwksProvider) sign(t *testing.T, kid, sub string, ttl time.Duration) string {
	return p.signWith(t, kid, p.key(kid), p.claims(sub, ttl))
}

// signClaims signs c with kid's key after changing the given claims.
func (p *jwksProvider) signClaims(t *testing.T, kid string, c jwt.MapClaims, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return p.signWith(t, kid, p.key(kid), c)
}

func (p *jwksProvider) signWith(t *testing.T, kid string, key *rsa.PrivateKey, c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.jwts = append(p.jwts, s)
	p.mu.Unlock()
	return s
}

func (p *jwksProvider) issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.jwts...)
}

// jwtHTTP makes a request with the JWT as Bearer ("" for none), checks the status and returns
// the body; error bodies are noted.
func jwtHTTP(t *testing.T, ctx context.Context, method, u, token string, want int, answers *notes) string {
	t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	code, _, body, err := httpCall(ctx, method, u, hdr, "")
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	if code >= 300 {
		answers.add("%s %d %s", method, code, body)
	}
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, u, code, body, want)
	}
	return body
}

// jwtDial opens /chat on base with the JWT as a browser sends it: subprotocols chatbot and
// bearer.<jwt>; the server must answer chatbot.
func jwtDial(t *testing.T, ctx context.Context, base string, q url.Values, token string, answers *notes) *wsConn {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(base, "http")+"/chat?"+q.Encode(),
		&websocket.DialOptions{Subprotocols: []string{auth.Subprotocol, auth.SubprotocolPrefix + token}})
	if err != nil {
		t.Fatalf("open a socket on %s: %v", base, err)
	}
	if conn.Subprotocol() != auth.Subprotocol {
		t.Fatalf("the server answered subprotocol %q", conn.Subprotocol())
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &wsConn{Conn: conn, errs: answers}
}

// chatOnce sends msg and returns its reply.
func chatOnce(t *testing.T, ctx context.Context, c *wsConn, msg string) chat.Event {
	t.Helper()
	if err := c.command(ctx, chat.Command{Type: chat.CmdMessage, Msg: msg, ClientID: msg}); err != nil {
		t.Fatal(err)
	}
	ev, err := c.until(ctx, "the reply to "+msg, func(ev chat.Event) bool {
		return ev.Type == chat.FrameMessage || ev.Type == chat.FrameError
	})
	if err != nil || ev.Type != chat.FrameMessage || ev.Msg != "echo: "+msg {
		t.Fatalf("the reply to %q: %+v %v", msg, ev, err)
	}
	return ev
}

func closeOf(t *testing.T, ctx context.Context, c *wsConn) websocket.CloseError {
	t.Helper()
	ce, err := c.closed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ce
}

func mustJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
}
