package llm

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Roles of a Message, as the chat completions API names them.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one entry of the conversation sent to a model.
type Message struct {
	Role    string
	Content string
}

// Model generates the reply to a conversation.
type Model interface {
	// Stream generates the assistant's reply to msgs (oldest first, the user's message last).
	// It calls onDelta with each piece of the reply as the model produces it, in order, from
	// the calling goroutine; the pieces concatenated are the reply. It returns the whole reply.
	// When ctx ends or onDelta returns an error, it stops and returns the text so far with
	// that error.
	Stream(ctx context.Context, msgs []Message, onDelta func(text string) error) (string, error)
}

// Providers.
const (
	ProviderEcho   = "echo"
	ProviderOpenAI = "openai"
)

// Config selects and shapes a model (the llm.* configuration keys).
type Config struct {
	Provider    string        // ProviderEcho or ProviderOpenAI
	BaseURL     string        // openai: the API's base URL, including /v1
	APIKey      string        // openai: sent as a bearer token; empty sends none (local servers)
	Model       string        // openai: the model name
	MaxTokens   int           // openai: the longest reply, in tokens; 0 leaves it to the server
	Temperature float64       // openai: sampling temperature
	EchoDelay   time.Duration // echo: how long a reply takes, spread over its words
	// HTTPClient makes the openai requests; nil uses a client of its own. Time limits come
	// from the context of each call (Retry.Timeout), not from the client.
	HTTPClient *http.Client
	// Calls is how many calls may run at once (the worker's slots); a client of its own keeps
	// as many connections to the model's host open between calls, so that a call does not
	// open a connection (and, over HTTPS, a TLS session) of its own. 0: 100.
	Calls int
}

// New builds the model c describes.
func New(c Config) (Model, error) {
	switch c.Provider {
	case ProviderEcho:
		return Echo{Delay: c.EchoDelay}, nil
	case ProviderOpenAI:
		return NewOpenAI(c)
	}
	return nil, fmt.Errorf("llm.provider: want %s or %s, got %q", ProviderEcho, ProviderOpenAI, c.Provider)
}

// Func adapts a function to Model (tests, wrappers).
type Func func(ctx context.Context, msgs []Message, onDelta func(string) error) (string, error)

// Stream calls f.
func (f Func) Stream(ctx context.Context, msgs []Message, onDelta func(string) error) (string, error) {
	return f(ctx, msgs, onDelta)
}

// LastUser is the content of the last user message of msgs, "" when there is none.
func LastUser(msgs []Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == RoleUser {
			return msgs[i].Content
		}
	}
	return ""
}
