package auth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"chatbot/pkg/auth"

	"github.com/golang-jwt/jwt/v5"
)

// What verification costs a socket connect or an HTTP request in auth.mode jwt: finding the
// token in the headers and verifying it (the keys already cached; the JWKS fetch is off the
// request path). The same work happens once per connect and once per HTTP request.
func BenchmarkVerify(b *testing.B) {
	k := keys()
	realNow := func() jwt.MapClaims {
		n := time.Now()
		return jwt.MapClaims{"sub": "user-1", "name": "Ada", "iss": issuer, "aud": "chat", "iat": n.Unix(), "exp": n.Add(time.Hour).Unix()}
	}
	hmac, err := auth.New(auth.Options{Secret: secret, Issuer: issuer, Audience: "chat"})
	if err != nil {
		b.Fatal(err)
	}
	defer hmac.Close()
	p := newIDPB(b, jwk("rs", "", k.rsa), jwk("es", "", k.p256), jwk("ed", "", k.ed))
	set, err := auth.New(auth.Options{JWKSURL: p.url(), Issuer: issuer, Audience: "chat"})
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	for _, c := range []struct {
		name string
		v    *auth.Verifier
		tok  string
	}{
		{"HS256", hmac, sign(b, jwt.SigningMethodHS256, secret, "", realNow())},
		{"RS256", set, sign(b, jwt.SigningMethodRS256, k.rsa, "rs", realNow())},
		{"PS256", set, sign(b, jwt.SigningMethodPS256, k.rsa, "rs", realNow())},
		{"ES256", set, sign(b, jwt.SigningMethodES256, k.p256, "es", realNow())},
		{"EdDSA", set, sign(b, jwt.SigningMethodEdDSA, k.ed, "ed", realNow())},
	} {
		h := http.Header{}
		h.Set("Sec-WebSocket-Protocol", "chatbot, bearer."+c.tok)
		if _, err := c.v.Verify(context.Background(), c.tok); err != nil {
			b.Fatal(c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tok, err := auth.FromRequest(h, true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.v.Verify(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
