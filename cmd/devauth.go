package cmd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/config"
)

// authDemo is `chatbot dev --auth-demo`: auth.mode jwt with no identity provider. dev makes
// an HMAC key for the run and plays the application's login itself, printing a link per demo
// user that hands the page its JWT in the URL fragment (#access_token=), as an application
// redirecting to the chat would.
type authDemo struct {
	on  bool
	ttl time.Duration
}

// demoIssuer is the iss of the demo JWTs (and the issuer dev checks).
const demoIssuer = "chatbot-dev-auth-demo"

// demoUsers are the demo accounts: sub and name.
var demoUsers = [][2]string{{"demo-alice", "Alice (demo)"}, {"demo-bob", "Bob (demo)"}}

// configure turns cfg into auth.mode jwt with a fresh secret.
func (d authDemo) configure(cfg *config.Config) error {
	if cfg.Auth.Mode != config.AuthNone || cfg.Auth.JWTSecret != "" || cfg.Auth.JWKSURL != "" {
		return errors.New("--auth-demo makes its own key: leave auth.mode, auth.jwt_secret and auth.jwks_url unset")
	}
	if d.ttl < time.Minute {
		return fmt.Errorf("--auth-demo-ttl: at least 1m, got %s", d.ttl)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	cfg.Auth.Mode, cfg.Auth.JWTSecret, cfg.Auth.Issuer = config.AuthJWT, hex.EncodeToString(key), demoIssuer
	return nil
}

// print signs a JWT per demo user and writes their sign-in links.
func (d authDemo) print(out io.Writer, cfg *config.Config, base string) error {
	fmt.Fprintf(out, "  Auth:  demo sign-in: auth.mode jwt, HS256 with a key made for this run; the links hold JWTs valid for %s\n", d.ttl)
	for i, u := range demoUsers {
		jwt, err := auth.SignHS256([]byte(cfg.Auth.JWTSecret), demoIssuer, cfg.Auth.Audience, u[0], u[1], time.Now(), d.ttl)
		if err != nil {
			return err
		}
		label := "Open:  "
		if i > 0 {
			label = "Or:    "
		}
		fmt.Fprintf(out, "  %s%s#access_token=%s\n         signed in as %s (sub %s)\n", label, base, jwt, u[1], u[0])
	}
	return nil
}
