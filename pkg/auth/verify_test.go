package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/auth"

	"github.com/golang-jwt/jwt/v5"
)

func hmacVerifier(t *testing.T, opt auth.Options) *auth.Verifier {
	t.Helper()
	opt.Secret = secret
	opt.Now = clock
	v, err := auth.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestVerifyHMAC(t *testing.T) {
	t.Parallel()
	v := hmacVerifier(t, auth.Options{Leeway: 30 * time.Second})
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		id, err := v.Verify(context.Background(), sign(t, m, secret, "", good()))
		if err != nil {
			t.Fatalf("%s: %v", m.Alg(), err)
		}
		if id.User != "user-1" || id.Name != "Ada" || !id.ValidUntil.Equal(now.Add(time.Hour+30*time.Second)) {
			t.Fatalf("%s: got %+v", m.Alg(), id)
		}
	}
	// A name that is not a string is no name; a token without one is fine.
	for _, c := range []jwt.MapClaims{with(good(), "name", 42), with(good(), "name", nil)} {
		id, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, secret, "", c))
		if err != nil || id.Name != "" {
			t.Fatalf("got %+v, %v; want no name", id, err)
		}
	}
}

// Every refusal of an HMAC verifier, with its exact kind and reason.
func TestVerifyRefusals(t *testing.T) {
	t.Parallel()
	v := hmacVerifier(t, auth.Options{Leeway: 30 * time.Second, Issuer: "https://login.example.com/", Audience: "chat"})
	ok := with(good(), "iss", "https://login.example.com/", "aud", []string{"other", "chat"})
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, "", c) }
	if _, err := v.Verify(context.Background(), hs(ok)); err != nil {
		t.Fatalf("the valid token: %v", err)
	}
	rsaPub, _ := x509.MarshalPKIXPublicKey(&keys().rsa.PublicKey)
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, ok).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(hs(ok), ".")
	sub257 := strings.Repeat("x", 257)

	cases := []struct {
		name   string
		token  string
		kind   error
		reason string
	}{
		{"empty", "", auth.ErrMissing, ""},
		{"two segments", parts[0] + "." + parts[1], auth.ErrInvalid, auth.ReasonMalformed},
		{"not base64", parts[0] + ".%%%." + parts[2], auth.ErrInvalid, auth.ReasonMalformed},
		{"not JSON", parts[0] + "." + b64([]byte("{")) + "." + parts[2], auth.ErrInvalid, auth.ReasonMalformed},
		{"too long", parts[0] + "." + strings.Repeat("A", auth.MaxTokenBytes) + "." + parts[2], auth.ErrInvalid, auth.ReasonTooLong},
		{"alg none", none, auth.ErrInvalid, auth.ReasonAlgorithm},
		{"unknown alg", b64([]byte(`{"alg":"HS999","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], auth.ErrInvalid, auth.ReasonAlgorithm},
		{"RS256 to an HMAC secret", sign(t, jwt.SigningMethodRS256, keys().rsa, "", ok), auth.ErrInvalid, auth.ReasonAlgorithm},
		{"HMAC with a public key as secret", sign(t, jwt.SigningMethodHS256, pemPub, "", ok), auth.ErrInvalid, auth.ReasonSignature},
		{"other secret", sign(t, jwt.SigningMethodHS256, []byte("another secret of 32 bytes ....."), "", ok), auth.ErrInvalid, auth.ReasonSignature},
		{"tampered payload", parts[0] + "." + b64([]byte(`{"sub":"admin","exp":9999999999,"iss":"https://login.example.com/","aud":"chat"}`)) + "." + parts[2], auth.ErrInvalid, auth.ReasonSignature},
		{"expired", hs(with(ok, "exp", now.Add(-31*time.Second).Unix())), auth.ErrExpired, ""},
		{"not yet valid", hs(with(ok, "nbf", now.Add(31*time.Second).Unix())), auth.ErrNotYetValid, ""},
		{"issued in the future", hs(with(ok, "iat", now.Add(31*time.Second).Unix())), auth.ErrNotYetValid, ""},
		{"no exp", hs(with(ok, "exp", nil)), auth.ErrInvalid, auth.ReasonNoExpiry},
		{"exp not a number", hs(with(ok, "exp", "tomorrow")), auth.ErrInvalid, auth.ReasonMalformed},
		{"wrong issuer", hs(with(ok, "iss", "https://evil.example.com/")), auth.ErrInvalid, auth.ReasonIssuer},
		{"no issuer", hs(with(ok, "iss", nil)), auth.ErrInvalid, auth.ReasonIssuer},
		{"wrong audience", hs(with(ok, "aud", "mail")), auth.ErrInvalid, auth.ReasonAudience},
		{"no audience", hs(with(ok, "aud", nil)), auth.ErrInvalid, auth.ReasonAudience},
		{"no sub", hs(with(ok, "sub", nil)), auth.ErrInvalid, auth.ReasonSubject},
		{"empty sub", hs(with(ok, "sub", "")), auth.ErrInvalid, auth.ReasonSubject},
		{"sub of 257 bytes", hs(with(ok, "sub", sub257)), auth.ErrInvalid, auth.ReasonSubject},
		{"expired and wrong issuer", hs(with(ok, "exp", now.Add(-time.Hour).Unix(), "iss", "x")), auth.ErrInvalid, auth.ReasonIssuer},
		{"forged and expired", parts[0] + "." + b64([]byte(`{"sub":"a","exp":1}`)) + "." + parts[2], auth.ErrInvalid, auth.ReasonSignature},
	}
	for _, c := range cases {
		_, err := v.Verify(context.Background(), c.token)
		t.Run(c.name, func(t *testing.T) { wantRefusal(t, err, c.kind, c.reason) })
	}

	// The edges that pass: the leeway on each side, a sub of exactly 256 bytes.
	for name, c := range map[string]jwt.MapClaims{
		"expired within the leeway":   with(ok, "exp", now.Add(-29*time.Second).Unix()),
		"not yet valid within leeway": with(ok, "nbf", now.Add(29*time.Second).Unix()),
		"issued ahead within leeway":  with(ok, "iat", now.Add(29*time.Second).Unix()),
		"sub of 256 bytes":            with(ok, "sub", sub257[:256]),
		"aud as a string":             with(ok, "aud", "chat"),
		"no iat (it is optional)":     with(ok, "iat", nil),
		"an unknown claim":            with(ok, "roles", []string{"admin"}),
	} {
		if _, err := v.Verify(context.Background(), hs(c)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestErrorDetail(t *testing.T) {
	t.Parallel()
	for err, want := range map[*auth.Error]string{
		{Kind: auth.ErrMissing}:                                "Authentication required: send Authorization: Bearer <JWT>",
		{Kind: auth.ErrExpired}:                                "Token expired",
		{Kind: auth.ErrNotYetValid}:                            "Token not yet valid",
		{Kind: auth.ErrInvalid, Reason: auth.ReasonIssuer}:     "Invalid token: wrong issuer",
		{Kind: auth.ErrInvalid, Reason: auth.ReasonUnknownKey}: "Invalid token: unknown key",
	} {
		if got := err.Detail(); got != want {
			t.Errorf("%v: Detail %q, want %q", err, got, want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]auth.Options{
		"neither":             {},
		"both":                {Secret: secret, JWKSURL: "https://idp.example.com/jwks", Issuer: "x"},
		"short secret":        {Secret: secret[:31]},
		"jwks without issuer": {JWKSURL: "https://idp.example.com/jwks"},
		"jwks not http":       {JWKSURL: "ftp://idp.example.com/jwks", Issuer: "x"},
		"negative leeway":     {Secret: secret, Leeway: -time.Second},
	} {
		if v, err := auth.New(opt); err == nil {
			v.Close()
			t.Errorf("%s: New accepted %+v", name, opt)
		}
	}
}

// A leeway of zero allows no skew at all.
func TestZeroLeeway(t *testing.T) {
	t.Parallel()
	v := hmacVerifier(t, auth.Options{})
	_, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, secret, "", with(good(), "exp", now.Add(-time.Second).Unix())))
	wantRefusal(t, err, auth.ErrExpired, "")
}

func TestSignHS256(t *testing.T) {
	t.Parallel()
	v := hmacVerifier(t, auth.Options{Issuer: "chatbot-dev", Audience: "chatbot"})
	tok, err := auth.SignHS256(secret, "chatbot-dev", "chatbot", "demo", "Demo User", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), tok)
	if err != nil || id.User != "demo" || id.Name != "Demo User" || !id.ValidUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("got %+v, %v", id, err)
	}
}
