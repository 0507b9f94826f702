package llm

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// EchoPrefix starts every reply of the echo model.
const EchoPrefix = "echo: "

// Echo is the offline model: it answers "echo: <the last user message>", word by word, the
// words spread evenly over Delay (all at once when Delay is 0). It is deterministic.
type Echo struct {
	Delay time.Duration
}

// Stream implements Model. It reports its usage as one token per word: the words of every
// message sent (the prompt) and of the reply.
func (e Echo) Stream(ctx context.Context, msgs []Message, onDelta func(string) error) (string, error) {
	words := Words(EchoPrefix + LastUser(msgs))
	if ctx.Value(usageKey{}) != nil {
		var prompt int
		for _, m := range msgs {
			prompt += len(Words(m.Content))
		}
		reportUsage(ctx, Usage{InputTokens: int64(prompt), OutputTokens: int64(len(words))})
	}
	var step time.Duration
	if e.Delay > 0 && len(words) > 0 {
		step = e.Delay / time.Duration(len(words))
	}
	var (
		sb    strings.Builder
		timer *time.Timer
	)
	for _, w := range words {
		if step > 0 {
			if timer == nil {
				timer = time.NewTimer(step)
				defer timer.Stop()
			} else {
				timer.Reset(step)
			}
			select {
			case <-ctx.Done():
				return sb.String(), ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return sb.String(), err
		}
		sb.WriteString(w)
		if err := onDelta(w); err != nil {
			return sb.String(), err
		}
	}
	return sb.String(), nil
}

// Words splits s into words, each followed by the white space after it (the first also keeps
// the white space before it), so that the words concatenated are s.
func Words(s string) []string {
	var out []string
	start, inSpace := 0, true
	for i, r := range s {
		space := unicode.IsSpace(r)
		if !space && inSpace && i > 0 && start < i && !isBlank(s[start:i]) {
			out = append(out, s[start:i])
			start = i
		}
		inSpace = space
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }
