package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"chatbot/pkg/defaults"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of the auth.* keys that Options fall back to.
const (
	// DefaultLeeway is auth.leeway's default: clock skew allowed on exp, nbf and iat.
	DefaultLeeway = defaults.AuthLeeway
	// DefaultJWKSRefresh is auth.jwks_refresh's default.
	DefaultJWKSRefresh = defaults.AuthJWKSRefresh
	// MinSecretBytes is the shortest auth.jwt_secret accepted (RFC 7518 asks for a key at
	// least as long as the hash: 256 bits for HS256).
	MinSecretBytes = 32
	// MaxSubjectBytes is the longest sub accepted.
	MaxSubjectBytes = 256
)

// Algorithms each key source accepts. Anything else, alg "none" included, is refused before
// a key is looked at.
var (
	HMACAlgorithms = []string{"HS256", "HS384", "HS512"}
	JWKSAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
)

// Options configure a Verifier: exactly one of Secret and JWKSURL.
type Options struct {
	// Secret is the HMAC secret (auth.jwt_secret), at least MinSecretBytes long.
	Secret []byte
	// JWKSURL is where the identity provider publishes its public keys (auth.jwks_url).
	JWKSURL string
	// Issuer is the iss every token must carry (auth.issuer); required with JWKSURL, not
	// checked when empty with Secret.
	Issuer string
	// Audience, when not empty, must be in every token's aud (auth.audience).
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat (auth.leeway; its default is
	// DefaultLeeway). Zero allows none.
	Leeway time.Duration
	// JWKSRefresh is how often the JWKS is fetched again, and the least time between two
	// fetches for a kid that is not in the cache (auth.jwks_refresh). Default DefaultJWKSRefresh.
	JWKSRefresh time.Duration
	// HTTPClient fetches the JWKS. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger gets the JWKS fetch failures (never a token). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock tokens are checked against. Default time.Now.
	Now func() time.Time
}

// Identity is who a verified token speaks for.
type Identity struct {
	// User is the sub claim: 1 to MaxSubjectBytes bytes.
	User string
	// Name is the name claim when it is a string, else "".
	Name string
	// ValidUntil is the token's exp plus the leeway: the moment Verify starts refusing it.
	ValidUntil time.Time
}

// Verifier checks tokens. It is safe for concurrent use. With a JWKS URL it owns a goroutine
// that keeps the keys fresh: Close stops it.
type Verifier struct {
	opt    Options
	parser *jwt.Parser
	algs   []string
	jwks   *jwks // nil with a secret
}

// New checks opt and builds a Verifier. With a JWKS URL it starts fetching the keys in the
// background and returns at once: a token that arrives before the first fetch ends waits for it.
func New(opt Options) (*Verifier, error) {
	switch {
	case len(opt.Secret) > 0 && opt.JWKSURL != "":
		return nil, errors.New("auth: give either a secret or a JWKS URL, not both")
	case len(opt.Secret) == 0 && opt.JWKSURL == "":
		return nil, errors.New("auth: a secret or a JWKS URL is required")
	case len(opt.Secret) > 0 && len(opt.Secret) < MinSecretBytes:
		return nil, fmt.Errorf("auth: the secret must be at least %d bytes, got %d", MinSecretBytes, len(opt.Secret))
	}
	if opt.JWKSURL != "" {
		if opt.Issuer == "" {
			return nil, errors.New("auth: an issuer is required with a JWKS URL")
		}
		if u, err := url.Parse(opt.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("auth: the JWKS URL must be http(s)://host/path, got %q", redactURL(opt.JWKSURL))
		}
	}
	if opt.Leeway < 0 {
		return nil, fmt.Errorf("auth: the leeway must not be negative, got %s", opt.Leeway)
	}
	if opt.JWKSRefresh <= 0 {
		opt.JWKSRefresh = DefaultJWKSRefresh
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	v := &Verifier{opt: opt, algs: HMACAlgorithms}
	if opt.JWKSURL != "" {
		v.algs = JWKSAlgorithms
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opt.Leeway),
		jwt.WithTimeFunc(opt.Now),
	}
	v.parser = jwt.NewParser(popts...)
	if opt.JWKSURL != "" {
		v.jwks = newJWKS(opt)
	}
	return v, nil
}

// Close stops the JWKS refresh and waits for it. Verify keeps working on the cached keys.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// Leeway is the clock skew the Verifier allows.
func (v *Verifier) Leeway() time.Duration { return v.opt.Leeway }

// claims is what Verify reads of a token.
type claims struct {
	jwt.RegisteredClaims
	Name any `json:"name,omitempty"`

	opt *Options // what Validate checks against
}

// Validate is called by the parser with the time-based claims' result: it checks iss, aud and
// sub itself, so a refusal names the claim at fault.
func (c *claims) Validate() error {
	if c.opt.Issuer != "" && c.Issuer != c.opt.Issuer {
		return invalid(ReasonIssuer)
	}
	if c.opt.Audience != "" && !slices.Contains(c.Audience, c.opt.Audience) {
		return invalid(ReasonAudience)
	}
	if n := len(c.Subject); n == 0 || n > MaxSubjectBytes {
		return invalid(ReasonSubject)
	}
	return nil
}

// Verify checks a token and returns who it speaks for. A refusal is an *Error (see
// ErrInvalid, ErrExpired, ErrNotYetValid). ctx bounds a wait for the JWKS.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if _, err := checkShape(token); err != nil {
		return Identity{}, err
	}
	c := claims{opt: &v.opt}
	parsed, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return Identity{}, v.refusal(parsed, err)
	}
	name, _ := c.Name.(string)
	return Identity{User: c.Subject, Name: name, ValidUntil: c.ExpiresAt.Add(v.opt.Leeway)}, nil
}

// key is the key a token's signature must verify with, its algorithm pinned to the key.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(v.algs, alg) { // WithValidMethods refuses it first; kept for clarity
		return nil, invalid(ReasonAlgorithm)
	}
	if v.jwks == nil {
		return v.opt.Secret, nil
	}
	// Keys are cached by issuer and kid together: a token is looked up only among the keys
	// of the issuer it names, and that must be the configured one.
	if iss, _ := t.Claims.GetIssuer(); iss != v.opt.Issuer {
		return nil, invalid(ReasonIssuer)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, invalid(ReasonNoKeyID)
	}
	key, err := v.jwks.key(ctx, v.opt.Issuer, kid, t)
	if err != nil {
		return nil, err
	}
	if !fits(alg, key) {
		return nil, invalid(ReasonKeyMismatch)
	}
	return key, nil
}

// fits pins an algorithm to a key type and size: RS and PS to RSA keys of 2048 bits or more,
// ES256 to P-256, ES384 to P-384, EdDSA to Ed25519.
func fits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return (alg[:2] == "RS" || alg[:2] == "PS") && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return (alg == "ES256" && k.Curve == elliptic.P256()) || (alg == "ES384" && k.Curve == elliptic.P384())
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// refusal maps the parser's error to an *Error. A token with several faults gets the one a
// new token would not fix first (issuer, audience, subject: claims.Validate), then expiry.
func (v *Verifier) refusal(t *jwt.Token, err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid(ReasonMalformed)
	case t != nil && (t.Method == nil || !slices.Contains(v.algs, t.Method.Alg())):
		return invalid(ReasonAlgorithm)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid(ReasonSignature)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid(ReasonNoExpiry)
	case errors.Is(err, jwt.ErrInvalidType):
		return invalid(ReasonClaimType)
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Kind: ErrExpired}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &Error{Kind: ErrNotYetValid}
	}
	return invalid(ReasonMalformed)
}

// redactURL keeps a URL's scheme, host and path: no user info, no query.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
