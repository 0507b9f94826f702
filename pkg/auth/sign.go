package auth

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignHS256 issues a token for user (sub) with display name (name, left out when empty),
// valid for ttl from now, signed with secret: what an application's login would issue, for
// `chatbot dev --auth-demo` and tests. issuer and audience are left out when empty.
func SignHS256(secret []byte, issuer, audience, user, name string, now time.Time, ttl time.Duration) (string, error) {
	c := jwt.MapClaims{
		"sub": user,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if name != "" {
		c["name"] = name
	}
	if issuer != "" {
		c["iss"] = issuer
	}
	if audience != "" {
		c["aud"] = audience
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
