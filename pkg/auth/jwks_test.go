package auth_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"chatbot/pkg/auth"

	"github.com/golang-jwt/jwt/v5"
)

const issuer = "https://login.example.com/realms/chat"

func jwksVerifier(t *testing.T, p *idp, refresh time.Duration) *auth.Verifier {
	t.Helper()
	v, err := auth.New(auth.Options{
		JWKSURL: p.url(), Issuer: issuer, Audience: "chat", JWKSRefresh: refresh, Leeway: 30 * time.Second,
		Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func idClaims() jwt.MapClaims { return with(good(), "iss", issuer, "aud", "chat") }

func verify(v *auth.Verifier, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := v.Verify(ctx, token)
	return err
}

// Every algorithm a JWKS may use, each with its key type; one fetch serves them all.
func TestJWKSAlgorithms(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, jwk("rs", "", k.rsa), jwk("es256", "ES256", k.p256), jwk("es384", "", k.p384), jwk("ed", "EdDSA", k.ed))
	v := jwksVerifier(t, p, time.Hour)
	for _, c := range []struct {
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{jwt.SigningMethodRS256, k.rsa, "rs"},
		{jwt.SigningMethodRS384, k.rsa, "rs"},
		{jwt.SigningMethodRS512, k.rsa, "rs"},
		{jwt.SigningMethodPS256, k.rsa, "rs"},
		{jwt.SigningMethodES256, k.p256, "es256"},
		{jwt.SigningMethodES384, k.p384, "es384"},
		{jwt.SigningMethodEdDSA, k.ed, "ed"},
	} {
		if err := verify(v, sign(t, c.method, c.key, c.kid, idClaims())); err != nil {
			t.Errorf("%s: %v", c.method.Alg(), err)
		}
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("the JWKS was fetched %d times, want once", n)
	}
}

// Algorithm confusion and every other refusal of a JWKS verifier.
func TestJWKSRefusals(t *testing.T) {
	t.Parallel()
	k := keys()
	oct := map[string]string{"kty": "oct", "kid": "oct", "k": b64(secret)}
	p := newIDP(t, jwk("rs", "", k.rsa), jwk("es256", "", k.p256), jwk("es384", "", k.p384), jwk("ed", "", k.ed),
		jwk("small", "", k.rsaSmall), jwk("rs512only", "RS512", k.rsa), oct,
		func() map[string]string { m := jwk("enc", "", k.rsa2); m["use"] = "enc"; return m }())
	v := jwksVerifier(t, p, time.Hour)
	if err := verify(v, sign(t, jwt.SigningMethodRS256, k.rsa, "rs", idClaims())); err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	none, _ := func() (string, error) {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, idClaims())
		tok.Header["kid"] = "rs"
		return tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	}()
	cases := []struct {
		name   string
		token  string
		kind   error
		reason string
	}{
		{"HS256 signed with the RSA public key", sign(t, jwt.SigningMethodHS256, der, "rs", idClaims()), auth.ErrInvalid, auth.ReasonAlgorithm},
		{"HS256 naming a symmetric JWK", sign(t, jwt.SigningMethodHS256, secret, "oct", idClaims()), auth.ErrInvalid, auth.ReasonAlgorithm},
		{"alg none", none, auth.ErrInvalid, auth.ReasonAlgorithm},
		{"ES512 (not in the list)", sign(t, jwt.SigningMethodES512, mustP521(t), "es256", idClaims()), auth.ErrInvalid, auth.ReasonAlgorithm},
		{"RS256 naming an EC key", sign(t, jwt.SigningMethodRS256, k.rsa, "es256", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"ES256 naming a P-384 key", sign(t, jwt.SigningMethodES256, k.p256, "es384", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"ES384 naming a P-256 key", sign(t, jwt.SigningMethodES384, k.p384, "es256", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"EdDSA naming an RSA key", sign(t, jwt.SigningMethodEdDSA, k.ed, "rs", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"RSA key of 1024 bits", sign(t, jwt.SigningMethodRS256, k.rsaSmall, "small", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"JWK alg RS512, token RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "rs512only", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"JWK for encryption", sign(t, jwt.SigningMethodRS256, k.rsa2, "enc", idClaims()), auth.ErrInvalid, auth.ReasonKeyMismatch},
		{"signed by another key", sign(t, jwt.SigningMethodRS256, k.rsa2, "rs", idClaims()), auth.ErrInvalid, auth.ReasonSignature},
		{"no kid", sign(t, jwt.SigningMethodRS256, k.rsa, "", idClaims()), auth.ErrInvalid, auth.ReasonNoKeyID},
		{"another issuer", sign(t, jwt.SigningMethodRS256, k.rsa, "rs", with(idClaims(), "iss", "https://evil.example.com/")), auth.ErrInvalid, auth.ReasonIssuer},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, k.rsa, "rs", with(idClaims(), "aud", "mail")), auth.ErrInvalid, auth.ReasonAudience},
		{"expired", sign(t, jwt.SigningMethodRS256, k.rsa, "rs", with(idClaims(), "exp", now.Add(-time.Minute).Unix())), auth.ErrExpired, ""},
	}
	for _, c := range cases {
		err := verify(v, c.token)
		t.Run(c.name, func(t *testing.T) { wantRefusal(t, err, c.kind, c.reason) })
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("refusals fetched the JWKS again (%d fetches)", n)
	}

	// An unknown kid fetches once; the next one within auth.jwks_refresh does not.
	wantRefusal(t, verify(v, sign(t, jwt.SigningMethodRS256, k.rsa2, "new-1", idClaims())), auth.ErrInvalid, auth.ReasonUnknownKey)
	wantRefusal(t, verify(v, sign(t, jwt.SigningMethodRS256, k.rsa2, "new-2", idClaims())), auth.ErrInvalid, auth.ReasonUnknownKey)
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches after two unknown kids, want 2 (the first fetch and one for the first unknown kid)", n)
	}
}

// A burst of tokens with made-up kids costs the identity provider one fetch.
func TestJWKSUnknownKidBurst(t *testing.T) {
	t.Parallel()
	p := newIDP(t, jwk("rs", "", keys().rsa))
	v := jwksVerifier(t, p, time.Hour)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := verify(v, sign(t, jwt.SigningMethodRS256, keys().rsa, "made-up-"+strconv.Itoa(i), idClaims()))
			if err == nil {
				t.Error("a made-up kid was accepted")
			}
		}()
	}
	wg.Wait()
	if n := p.hits.Load(); n > 2 {
		t.Fatalf("%d fetches for 50 unknown kids, want at most 2", n)
	}
}

// The provider rotates its key: a token signed with the new key makes the verifier fetch
// the new set at once; the old key keeps working until a fetch no longer finds it.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, jwk("old", "", k.rsa))
	v := jwksVerifier(t, p, time.Hour)
	oldTok := sign(t, jwt.SigningMethodRS256, k.rsa, "old", idClaims())
	newTok := sign(t, jwt.SigningMethodES256, k.p256, "new", idClaims())
	if err := verify(v, oldTok); err != nil {
		t.Fatal(err)
	}
	p.set(jwk("new", "", k.p256)) // the old key is gone from the provider at once
	if err := verify(v, newTok); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// That fetch replaced the whole set: the old key is no longer trusted.
	wantRefusal(t, verify(v, oldTok), auth.ErrInvalid, auth.ReasonUnknownKey)
}

// The timer picks up new keys and drops removed ones without any token asking.
func TestJWKSTimerRefresh(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, jwk("a", "", k.rsa))
	v := jwksVerifier(t, p, 50*time.Millisecond)
	aTok := sign(t, jwt.SigningMethodRS256, k.rsa, "a", idClaims())
	if err := verify(v, aTok); err != nil {
		t.Fatal(err)
	}
	p.set(jwk("b", "", k.p256))
	before := p.hits.Load()
	eventually(t, "the removed key to go", func() bool { return verify(v, aTok) != nil })
	if p.hits.Load() == before {
		t.Fatal("no fetch, yet the key went")
	}
	if err := verify(v, sign(t, jwt.SigningMethodES256, k.p256, "b", idClaims())); err != nil {
		t.Fatal(err)
	}
}

// A provider that is down keeps the cached keys working; its recovery is picked up.
func TestJWKSOutageKeepsCachedKeys(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, jwk("a", "", k.rsa))
	v := jwksVerifier(t, p, 50*time.Millisecond)
	aTok := sign(t, jwt.SigningMethodRS256, k.rsa, "a", idClaims())
	if err := verify(v, aTok); err != nil {
		t.Fatal(err)
	}
	p.down(true)
	for start := p.hits.Load(); p.hits.Load() < start+3; {
		p.waitFetch(t)
	}
	if err := verify(v, aTok); err != nil {
		t.Fatalf("after failed fetches: %v", err)
	}
	p.set(jwk("a", "", k.rsa), jwk("b", "", k.ed))
	p.down(false)
	bTok := sign(t, jwt.SigningMethodEdDSA, k.ed, "b", idClaims())
	eventually(t, "the recovered provider's new key", func() bool { return verify(v, bTok) == nil })
}

// Started while the provider is down: tokens are refused (not hung) until it answers.
func TestJWKSProviderDownAtStart(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, jwk("a", "", k.rsa))
	p.down(true)
	v := jwksVerifier(t, p, time.Hour)
	aTok := sign(t, jwt.SigningMethodRS256, k.rsa, "a", idClaims())
	wantRefusal(t, verify(v, aTok), auth.ErrInvalid, auth.ReasonKeysNotReady)
	p.down(false)
	// The retry comes within about a second.
	eventually(t, "the key once the provider is back", func() bool { return verify(v, aTok) == nil })
}

// After Close the cached keys still verify; nothing is fetched any more.
func TestJWKSClose(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, jwk("a", "", k.rsa))
	v := jwksVerifier(t, p, time.Hour)
	aTok := sign(t, jwt.SigningMethodRS256, k.rsa, "a", idClaims())
	if err := verify(v, aTok); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := verify(v, aTok); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, verify(v, sign(t, jwt.SigningMethodRS256, k.rsa, "b", idClaims())), auth.ErrInvalid, auth.ReasonUnknownKey)
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}
