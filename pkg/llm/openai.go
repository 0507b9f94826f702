package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// OpenAI streams replies from an OpenAI-compatible /v1/chat/completions endpoint.
type OpenAI struct {
	client      openai.Client // its Options only: the client reads no environment
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
		hc = &http.Client{Transport: modelTransport(c.Calls)}
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
		client:      openai.Client{Options: opts},
		model:       c.Model,
		maxTokens:   c.MaxTokens,
		temperature: c.Temperature,
	}, nil
}

// modelTransport is Go's default transport, but keeping up to calls idle connections to the
// model's host instead of 2: with more calls than that in flight, most calls would dial (and
// over HTTPS, shake hands) anew, adding the round trips to every reply's first token, while
// the connections of the calls just finished closed. Idle connections close after 90 s.
func modelTransport(calls int) *http.Transport {
	if calls <= 0 {
		calls = 100
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no limit over all hosts; one host is called
	t.MaxIdleConnsPerHost = calls
	return t
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
	// The request goes through the SDK (headers, the key, API errors as *openai.Error); the
	// reply's events are decoded here, into the few fields the worker reads: the SDK's own
	// decoding of every chunk into its full type was most of a worker's CPU per token.
	var res *http.Response
	if err := o.client.Post(ctx, "chat/completions", params, &res, option.WithJSONSet("stream", true)); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", fmt.Errorf("chat completion: %w", err)
	}
	events := ssestream.NewDecoder(res)
	defer events.Close()
	var (
		sb       strings.Builder
		finished bool
		c        chunk
	)
	for events.Next() {
		ev := events.Event()
		if bytes.HasPrefix(ev.Data, doneEvent) {
			// The end of the body too (a chunked body's last chunk), so the connection goes
			// back to the pool rather than closed with the body unread.
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
			break
		}
		c = chunk{}
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			return sb.String(), fmt.Errorf("chat completion: a chunk: %w", err)
		}
		if len(c.Error) > 0 && !bytes.Equal(c.Error, jsonNull) {
			return sb.String(), fmt.Errorf("chat completion: %w", &ssestream.StreamError{
				Message: "received error while streaming: " + string(c.Error), Event: ev})
		}
		if u := c.Usage; u != nil && (u.PromptTokens > 0 || u.CompletionTokens > 0) {
			reportUsage(ctx, Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens})
		}
		for _, ch := range c.Choices {
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
	if err := events.Err(); err != nil {
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

// chunk is what Stream reads of a chat.completion.chunk event (or of an error event).
type chunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

var (
	doneEvent = []byte("[DONE]")
	jsonNull  = []byte("null")
)
