package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatbot/pkg/auth"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

// wait bounds every wait of these tests; nothing sleeps for a fixed time.
const wait = 10 * time.Second

var secret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// now is the fixed clock of the claim tests.
var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func clock() time.Time { return now }

// sign signs claims with method and key, setting the header's kid when not empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// good is a valid set of claims at now.
func good() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user-1", "name": "Ada", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// with returns c with the given claims changed (a nil value removes the claim).
func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// wantRefusal checks that err is an *auth.Error of kind with reason.
func wantRefusal(t *testing.T, err error, kind error, reason string) {
	t.Helper()
	var e *auth.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *auth.Error %v: %q", err, kind, reason)
	}
	if !errors.Is(err, kind) || e.Reason != reason {
		t.Fatalf("got %v (reason %q), want %v with reason %q", err, e.Reason, kind, reason)
	}
}

// Test keys, made once per test binary (RSA key generation is slow under -race).
var keys = sync.OnceValue(func() (k struct {
	rsa, rsa2, rsaSmall *rsa.PrivateKey
	p256, p384          *ecdsa.PrivateKey
	ed                  ed25519.PrivateKey
}) {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaSmall, err = rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public JWK of key with kid (and alg when not empty), as an identity provider
// publishes it.
func jwk(kid, alg string, key crypto.Signer) map[string]string {
	m := map[string]string{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		m["kty"], m["crv"] = "EC", k.Curve.Params().Name
		m["x"], m["y"] = b64(k.X.FillBytes(make([]byte, size))), b64(k.Y.FillBytes(make([]byte, size)))
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(k)
	}
	return m
}

// idp is an identity provider's JWKS endpoint the test controls.
type idp struct {
	ts    *httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	keys  []map[string]string
	fail  bool
	fresh chan struct{} // a fetch was answered
}

func newIDP(t *testing.T, keys ...map[string]string) *idp { return newIDPB(t, keys...) }

func newIDPB(t testing.TB, keys ...map[string]string) *idp {
	p := &idp{keys: keys, fresh: make(chan struct{}, 100)}
	p.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.hits.Add(1)
		defer func() {
			select {
			case p.fresh <- struct{}{}:
			default:
			}
		}()
		p.mu.Lock()
		fail, ks := p.fail, p.keys
		p.mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": ks})
	}))
	t.Cleanup(p.ts.Close)
	return p
}

func (p *idp) url() string { return p.ts.URL + "/.well-known/jwks.json" }

func (p *idp) set(keys ...map[string]string) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

func (p *idp) down(fail bool) {
	p.mu.Lock()
	p.fail = fail
	p.mu.Unlock()
}

// waitFetch waits until the provider answered another fetch.
func (p *idp) waitFetch(t testing.TB) {
	t.Helper()
	select {
	case <-p.fresh:
	case <-time.After(wait):
		t.Fatal("no JWKS fetch within the deadline")
	}
}

func mustP521(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// eventually polls cond until it holds, failing the test after wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, wait)
		}
	}
}

// Every Verifier's goroutine ends with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
