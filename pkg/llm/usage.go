package llm

import "context"

// Usage is what a model call consumed, in tokens, as the provider reports it.
type Usage struct {
	InputTokens  int64
	OutputTokens int64
}

type usageKey struct{}

// WithUsage returns a context for one Stream call in which the model records the usage it
// reports into u (left zero when the provider reports none). The worker reads it for the model
// call's span (gen_ai.usage.input_tokens, gen_ai.usage.output_tokens).
func WithUsage(ctx context.Context, u *Usage) context.Context {
	return context.WithValue(ctx, usageKey{}, u)
}

// reportUsage records u for the caller of Stream, if it asked (WithUsage).
func reportUsage(ctx context.Context, u Usage) {
	if p, ok := ctx.Value(usageKey{}).(*Usage); ok && p != nil {
		*p = u
	}
}
