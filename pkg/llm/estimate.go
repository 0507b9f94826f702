package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// EstimateTokens is a model-agnostic guess of the tokens in s, for a provider that reports no
// usage and for the budget's reservation: about four bytes a token (OpenAI's rule of thumb for
// English), and never fewer than the words (the echo model's count).
func EstimateTokens(s string) int64 {
	if s == "" {
		return 0
	}
	est := int64((len(s) + 3) / 4)
	if w := int64(len(Words(s))); w > est {
		est = w
	}
	return est
}

// EstimateUsage is the usage of a call with prompt msgs and reply, estimated (EstimateTokens).
func EstimateUsage(msgs []Message, reply string) Usage {
	var u Usage
	for _, m := range msgs {
		u.InputTokens += EstimateTokens(m.Content)
	}
	u.OutputTokens = EstimateTokens(reply)
	return u
}

type userKey struct{}

// WithUser returns a context whose model calls name user as the end user (the OpenAI `user`
// field, llm.send_user): a stable id the provider can attribute and cap spend by, never a
// credential.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

func userOf(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// UserID is the id sent as the `user` of a session's model calls (llm.send_user): the sub
// with auth.mode jwt; otherwise a hash of the session token (32 hex digits of its SHA-256
// with a fixed prefix), never the token itself, which is a credential.
func UserID(sub, token string) string {
	if sub != "" {
		if !utf8.ValidString(sub) {
			return "sub-" + hashHex(sub)
		}
		return sub
	}
	return "session-" + hashHex(token)
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte("chatbot session " + s))
	return hex.EncodeToString(sum[:16])
}
