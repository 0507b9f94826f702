// Package auth verifies the application's JWTs for `auth.mode: jwt`: who is calling, from the
// `sub` claim of a token the application's own login issued.
//
// A Verifier checks a token against one key source, never both:
//
//   - an HMAC secret (auth.jwt_secret): HS256, HS384, HS512;
//   - a JWKS URL (auth.jwks_url): RS256/384/512, PS256, ES256/384, EdDSA, with the issuer
//     (auth.issuer) required. Keys are cached by issuer and `kid` together, refetched on a
//     timer and, for a `kid` not in the cache, at most once per auth.jwks_refresh; a JWKS that
//     cannot be fetched leaves the cached keys working.
//
// The algorithm is pinned to the key: the token's `alg` must be one the key source allows and
// must fit the key's type and size (an RSA key for RS/PS, the P-256 curve for ES256, ...), so
// `alg: none` and HMAC signed with a public key are refused. `exp` is required; `exp`, `nbf`
// and `iat` are checked with auth.leeway of clock skew; `iss` and `aud` when configured; `sub`
// must be 1 to 256 bytes.
//
// Where the token travels (credentials.go): `Authorization: Bearer <jwt>`, or on a WebSocket
// from a browser, which cannot set headers, the subprotocol pair `chatbot, bearer.<jwt>`.
// Never a query string. Nothing here logs a token.
//
// This package knows nothing of HTTP routes, sessions or Redis: pkg/web asks it who a request
// is from, and cmd builds its Options from the auth.* configuration keys.
package auth
