package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"chatbot/pkg/chat"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// TestE2ESecrets, auth.mode jwt: a second serve on the same Redis and work runs auth.mode jwt
// with auth.jwt_secret from the environment, at log.level debug. Every JWT it is given, good or
// refused, and the HMAC secret join the secrets no output may hold.

// jwtState is what the JWT flows add to a secretRun.
type jwtState struct {
	secret, secretCore string
	serve              *proc
	jwts               []string // every JWT issued in the run
}

// signJWT issues an HS256 JWT with the run's secret (or key) for claims, and remembers it.
func (r *secretRun) signJWT(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	r.t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.jwt.jwts = append(r.jwt.jwts, s)
	r.mu.Unlock()
	return s
}

// userJWT is a JWT of the run's secret for sub, valid for ttl.
func (r *secretRun) userJWT(sub string, ttl time.Duration) string {
	now := time.Now()
	return r.signJWT(jwt.SigningMethodHS256, []byte(r.jwt.secret), jwt.MapClaims{
		"sub": sub, "name": "E2E " + sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()})
}

// jwtNeedles are every spelling of the HMAC secret and of every JWT: whole, and its signature
// (what makes a JWT a credential; its header and claims are no secret).
func (r *secretRun) jwtNeedles() []needle {
	if r.jwt.secret == "" {
		return nil
	}
	out := spellings("JWT secret", r.jwt.secret, r.jwt.secretCore)
	for _, j := range r.jwt.jwts {
		sig := j[strings.LastIndexByte(j, '.')+1:]
		if len(sig) < 16 { // alg none: no signature
			sig = j
		}
		out = append(out, spellings("JWT", j, sig)...)
	}
	return out
}

// jwtCall is r.call on the jwt serve with the JWT as Bearer ("" for none).
func (r *secretRun) jwtCall(method, path, token string, want int) string {
	r.t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return r.callOn(r.jwt.serve.URL(), method, path, hdr, "", want)
}

// jwtWS opens a socket on the jwt serve, the JWT as a browser sends it.
func (r *secretRun) jwtWS(q url.Values, token string) *wsConn {
	r.t.Helper()
	return jwtDial(r.t, r.ctx, r.jwt.serve.URL(), q, token, &r.answers)
}

// jwtFlows: sessions made, read, listed and deleted with JWTs; a chat over a socket carrying
// the JWT as a subprotocol; refused JWTs on every route and on the socket (none, expired,
// forged, alg none, HMAC under another alg, not a JWT); another user's session everywhere; a
// socket whose JWT expires; `chatbot token --user`; serves that refuse to start over their
// auth.* keys.
func (r *secretRun) jwtFlows() {
	r.jwt.secretCore = randomHex(16)
	r.jwt.secret = "e2e-jwt-" + r.jwt.secretCore
	vars := r.vars.with("CHATBOT_AUTH_MODE", "jwt", "CHATBOT_AUTH_JWT_SECRET", r.jwt.secret, "CHATBOT_AUTH_LEEWAY", "0s")
	r.jwt.serve = startServe(r.t, "serve-jwt", vars)

	alice, bob := r.userJWT("alice@example.com", time.Hour), r.userJWT("bob@example.com", time.Hour)
	var sess chat.Session
	if err := json.Unmarshal([]byte(r.jwtCall(http.MethodPost, "/token?name=x", alice, http.StatusOK)), &sess); err != nil || sess.Name != "E2E alice@example.com" {
		r.t.Fatalf("POST /token with a JWT: %+v %v", sess, err)
	}
	r.addToken(sess.Token)
	c := r.jwtWS(streamOf(sess.Token), alice)
	if _, end := r.converse(c, "hello with a jwt"); end.Msg != "echo: hello with a jwt" {
		r.t.Fatalf("chat with a JWT: %+v", end)
	}
	c.Close(websocket.StatusNormalClosure, "")
	r.jwtCall(http.MethodGet, "/refresh_token?token="+sess.Token, alice, http.StatusOK)
	if body := r.jwtCall(http.MethodGet, "/sessions?limit=5", alice, http.StatusOK); !strings.Contains(body, `"title":"hello with a jwt"`) {
		r.t.Fatalf("GET /sessions: %s", redact(body, r.needles()))
	}

	// Refused JWTs, on every route and on the socket.
	now := time.Now()
	claims := jwt.MapClaims{"sub": "alice@example.com", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	none := r.signJWT(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
	bad := []string{
		"",
		r.userJWT("alice@example.com", -time.Minute),
		r.signJWT(jwt.SigningMethodHS256, []byte("another secret, another signature"), claims),
		r.signJWT(jwt.SigningMethodHS512, []byte(r.jwt.secret+"x"), claims),
		none,
		sess.Token, // a session token is no JWT
	}
	for _, tok := range bad {
		r.jwtCall(http.MethodPost, "/token?name=x", tok, http.StatusUnauthorized)
		r.jwtCall(http.MethodGet, "/refresh_token?token="+sess.Token, tok, http.StatusUnauthorized)
		r.jwtCall(http.MethodDelete, "/token?token="+sess.Token, tok, http.StatusUnauthorized)
		r.jwtCall(http.MethodGet, "/sessions", tok, http.StatusUnauthorized)
		if tok != "" {
			r.expectClose(r.jwtWS(streamOf(sess.Token), tok), "a socket with a refused JWT", websocket.StatusPolicyViolation)
		}
	}
	// A JWT only in the query string is not read.
	r.jwtCall(http.MethodGet, "/sessions?access_token="+alice, "", http.StatusUnauthorized)

	// Bob meets Alice's session as one that does not exist.
	r.jwtCall(http.MethodGet, "/refresh_token?token="+sess.Token, bob, http.StatusBadRequest)
	r.jwtCall(http.MethodDelete, "/token?token="+sess.Token, bob, http.StatusNoContent)
	if ce := r.expectClose(r.jwtWS(streamOf(sess.Token), bob), "bob on alice's session", websocket.StatusPolicyViolation); ce.Reason != "Session not authenticated or expired token" {
		r.t.Fatalf("bob on alice's session: %q", ce.Reason)
	}

	// A JWT that expires while its socket is open.
	short := r.userJWT("alice@example.com", 3*time.Second) // exp in whole seconds: 2 to 3s from now
	if ce := r.expectClose(r.jwtWS(streamOf(sess.Token), short), "a socket whose JWT expires", websocket.StatusPolicyViolation); ce.Reason != "Credentials expired" {
		r.t.Fatalf("the expiring JWT's socket closed with %q", ce.Reason)
	}

	// chatbot token --user, read with the user's JWT.
	res := runChatbot(r.ctx, r.dir, vars, "token", "--name", "ops", "--user", "carol@example.com")
	tok := strings.TrimSpace(res.stdout)
	if res.code != 0 || !chat.ValidToken(tok) {
		r.t.Fatalf("chatbot token --user: exit %d, stderr %q", res.code, redact(res.stderr, r.needles()))
	}
	r.addToken(tok)
	r.capture("chatbot token --user (stderr)", res.stderr)
	r.jwtCall(http.MethodGet, "/refresh_token?token="+tok, r.userJWT("carol@example.com", time.Hour), http.StatusOK)
	r.jwtCall(http.MethodDelete, "/token?token="+sess.Token, alice, http.StatusNoContent)

	// Serves that refuse to start over their auth.* keys, the secret in their environment.
	for _, tc := range []struct {
		name  string
		vars  env
		wants string
	}{
		{"serve, JWT secret too short", vars.with("CHATBOT_AUTH_JWT_SECRET", r.jwt.secretCore[:20]), "auth.jwt_secret: must be at least 32 bytes, got 20"},
		{"serve, JWT secret with auth.mode none", vars.with("CHATBOT_AUTH_MODE", "none"), "auth.jwt_secret: is set but auth.mode is none"},
		{"serve, secret and JWKS URL", vars.with("CHATBOT_AUTH_JWKS_URL", "https://idp.example.com/jwks", "CHATBOT_AUTH_ISSUER", "x"), "auth.mode: jwt needs exactly one of"},
	} {
		res := runChatbot(r.ctx, r.dir, tc.vars, "serve", "--server.addr", "127.0.0.1:0")
		r.capture("chatbot "+tc.name+" (stdout)", res.stdout)
		r.capture("chatbot "+tc.name+" (stderr)", res.stderr)
		if res.code != 1 || !strings.Contains(res.stderr, tc.wants) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
			r.t.Errorf("chatbot %s: exit %d, want 1 and one line with %q; stderr:\n%s", tc.name, res.code, tc.wants, redact(res.stderr, r.needles()))
		}
	}
	code, _, body, err := httpCall(r.ctx, http.MethodGet, r.jwt.serve.URL()+"/metrics", nil, "")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `chatbot_web_auth_refused_total{kind="expired"}`) {
		r.t.Fatalf("jwt serve /metrics: %d %v", code, err)
	}
	r.capture("serve-jwt /metrics", body)
	if code := r.jwt.serve.terminate(30 * time.Second); code != 0 {
		r.t.Errorf("serve-jwt exited %d after SIGTERM, want 0", code)
	}
}
