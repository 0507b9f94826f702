package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// OpenAI streams replies from an OpenAI-compatible /v1/chat/completions endpoint.
type OpenAI struct {
	svc         openai.ChatCompletionService
	model       string
	maxTokens   int
	temperature float64
}

// NewOpenAI builds the openai provider of c. It reads nothing from the environment (no
// OPENAI_API_KEY or OPENAI_BASE_URL): the key goes only where llm.base_url says. The client
// makes one attempt per call; Retry decides about more.
func NewOpenAI(c Config) (*OpenAI, error) {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llm.base_url: want http(s)://host/v1, got %q", c.BaseURL)
	}
	if c.Model == "" {
		return nil, errors.New("llm.model: must not be empty with provider openai")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(strings.TrimSuffix(c.BaseURL, "/") + "/"),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	}
	if c.APIKey != "" {
		opts = append(opts, option.WithAPIKey(c.APIKey))
	}
	return &OpenAI{
		svc:         openai.NewChatCompletionService(opts...),
		model:       c.Model,
		maxTokens:   c.MaxTokens,
		temperature: c.Temperature,
	}, nil
}

// Stream implements Model with a streamed chat completion (server-sent events). A stream that
// ends without a finish_reason (the connection dropped) is ErrIncomplete.
func (o *OpenAI) Stream(ctx context.Context, msgs []Message, onDelta func(string) error) (string, error) {
	params := openai.ChatCompletionNewParams{
		Model:       o.model,
		Messages:    make([]openai.ChatCompletionMessageParamUnion, 0, len(msgs)),
		Temperature: openai.Float(o.temperature),
	}
	if o.maxTokens > 0 {
		params.MaxTokens = openai.Int(int64(o.maxTokens))
	}
	// The last chunk then carries the call's usage (servers that do not know the option ignore
	// it, and send none: the worker estimates it).
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	if u := userOf(ctx); u != "" {
		params.User = openai.String(u)
	}
	for _, m := range msgs {
		switch m.Role {
		case RoleSystem:
			params.Messages = append(params.Messages, openai.SystemMessage(m.Content))
		case RoleAssistant:
			params.Messages = append(params.Messages, openai.AssistantMessage(m.Content))
		default:
			params.Messages = append(params.Messages, openai.UserMessage(m.Content))
		}
	}
	stream := o.svc.NewStreaming(ctx, params)
	defer stream.Close()
	var (
		sb       strings.Builder
		finished bool
	)
	for stream.Next() {
		chunk := stream.Current()
		if u := chunk.Usage; u.PromptTokens > 0 || u.CompletionTokens > 0 {
			reportUsage(ctx, Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens})
		}
		for _, ch := range chunk.Choices {
			if ch.Index != 0 {
				continue
			}
			if ch.FinishReason != "" {
				finished = true
			}
			if d := ch.Delta.Content; d != "" {
				sb.WriteString(d)
				if err := onDelta(d); err != nil {
					return sb.String(), err
				}
			}
		}
	}
	if err := stream.Err(); err != nil {
		if ctx.Err() != nil {
			return sb.String(), context.Cause(ctx)
		}
		return sb.String(), fmt.Errorf("chat completion: %w", err)
	}
	if ctx.Err() != nil {
		return sb.String(), context.Cause(ctx)
	}
	if !finished {
		return sb.String(), ErrIncomplete
	}
	return sb.String(), nil
}
