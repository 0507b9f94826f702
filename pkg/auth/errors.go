package auth

import (
	"errors"
	"strings"
)

// Errors of Verify and of the credential parsers. Every refusal is an *Error that wraps one
// of them.
var (
	// ErrMissing means the request carries no token at all.
	ErrMissing = errors.New("authentication required")
	// ErrInvalid means a token that will never be accepted: malformed, wrong algorithm or
	// key, bad signature, wrong issuer or audience, no usable subject or expiry.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired means the token's exp (plus the leeway) has passed: get a new one.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid means the token's nbf or iat is still in the future (beyond the leeway).
	ErrNotYetValid = errors.New("token not yet valid")
)

// Reasons an *Error gives with ErrInvalid. They are fixed words: never a part of the token.
const (
	ReasonMalformed    = "malformed"
	ReasonTooLong      = "too long"
	ReasonAmbiguous    = "more than one token"
	ReasonAlgorithm    = "algorithm not allowed"
	ReasonNoKeyID      = "no kid"
	ReasonUnknownKey   = "unknown key"
	ReasonKeyMismatch  = "key does not fit the algorithm"
	ReasonSignature    = "bad signature"
	ReasonIssuer       = "wrong issuer"
	ReasonAudience     = "wrong audience"
	ReasonSubject      = "sub missing or longer than 256 bytes"
	ReasonNoExpiry     = "no exp"
	ReasonClaimType    = "a claim has the wrong type"
	ReasonKeysNotReady = "signing keys not available yet"
)

// Error is a refusal: Kind is one of ErrMissing, ErrInvalid, ErrExpired, ErrNotYetValid, and
// Reason says why in a few fixed words (ReasonX, with ErrInvalid).
type Error struct {
	Kind   error
	Reason string
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Kind }

// Detail is the refusal as one sentence for an HTTP error body: "Token expired",
// "Invalid token: wrong issuer", "Authentication required: send Authorization: Bearer <JWT>".
func (e *Error) Detail() string {
	if errors.Is(e.Kind, ErrMissing) {
		return "Authentication required: send Authorization: Bearer <JWT>"
	}
	s := e.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

func invalid(reason string) *Error { return &Error{Kind: ErrInvalid, Reason: reason} }

// AsError returns err as an *Error (an error that is not one reads as an invalid token).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return invalid(ReasonMalformed)
}
