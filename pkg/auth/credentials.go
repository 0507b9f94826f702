package auth

import (
	"net/http"
	"strings"
)

// Where a token travels. A browser cannot set headers on a WebSocket, so it offers two
// subprotocols, `Sec-WebSocket-Protocol: chatbot, bearer.<jwt>`, and the server answers
// `chatbot`: the token never comes back in a response and never sits in a URL.
const (
	// Subprotocol is the WebSocket subprotocol the server selects; a browser that offers
	// bearer.<jwt> must offer it too (a browser fails a handshake whose answer names no
	// subprotocol it offered).
	Subprotocol = "chatbot"
	// SubprotocolPrefix starts the subprotocol entry that carries the token.
	SubprotocolPrefix = "bearer."
	// MaxTokenBytes is the longest token accepted: well above what identity providers issue
	// (1 to 4 KiB) and well under limits.max_header_bytes.
	MaxTokenBytes = 16 << 10
)

// FromRequest finds the token of a request: `Authorization: Bearer <jwt>`, and, for a
// WebSocket upgrade (socket true), the subprotocol entry `bearer.<jwt>`. A request that
// carries two different tokens is refused (ErrInvalid); one that carries none gives
// ErrMissing. The query string is never read.
func FromRequest(h http.Header, socket bool) (string, error) {
	fromHeader, herr := FromAuthorization(h.Values("Authorization"))
	if !socket {
		return fromHeader, herr
	}
	fromProto, perr := FromSubprotocols(h.Values("Sec-WebSocket-Protocol"))
	switch {
	case isMissing(herr):
		return fromProto, perr
	case isMissing(perr):
		return fromHeader, herr
	case herr != nil:
		return "", herr
	case perr != nil:
		return "", perr
	case fromHeader != fromProto:
		return "", invalid(ReasonAmbiguous)
	}
	return fromHeader, nil
}

func isMissing(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Kind == ErrMissing
}

// FromAuthorization returns the token of the Authorization header's values: one value,
// `Bearer <jwt>` (the scheme in any case). No header, or a header of another scheme (Basic,
// ...), is ErrMissing; two headers are ErrInvalid.
func FromAuthorization(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", &Error{Kind: ErrMissing}
	case 1:
	default:
		return "", invalid(ReasonAmbiguous)
	}
	scheme, rest, _ := strings.Cut(strings.TrimLeft(values[0], " \t"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Kind: ErrMissing}
	}
	return checkShape(strings.Trim(rest, " \t"))
}

// FromSubprotocols returns the token of the Sec-WebSocket-Protocol header's values (each a
// comma-separated list): the one entry `bearer.<jwt>`. None is ErrMissing; two are ErrInvalid.
func FromSubprotocols(values []string) (string, error) {
	found, n := "", 0
	for _, v := range values {
		for len(v) > 0 {
			var entry string
			entry, v, _ = strings.Cut(v, ",")
			entry = strings.Trim(entry, " \t")
			if t, ok := strings.CutPrefix(entry, SubprotocolPrefix); ok {
				found, n = t, n+1
			}
		}
	}
	switch n {
	case 0:
		return "", &Error{Kind: ErrMissing}
	case 1:
		return checkShape(found)
	default:
		return "", invalid(ReasonAmbiguous)
	}
}

// checkShape accepts the compact form of a JWS: header.payload.signature, base64url without
// padding, header and payload not empty (an empty signature is left for Verify to refuse by
// its algorithm), at most MaxTokenBytes.
func checkShape(t string) (string, error) {
	if t == "" {
		return "", &Error{Kind: ErrMissing}
	}
	if len(t) > MaxTokenBytes {
		return "", invalid(ReasonTooLong)
	}
	dots, segment := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if segment == 0 {
				return "", invalid(ReasonMalformed)
			}
			dots, segment = dots+1, 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			segment++
		default:
			return "", invalid(ReasonMalformed)
		}
	}
	if dots != 2 {
		return "", invalid(ReasonMalformed)
	}
	return t, nil
}
