// Package llmtest is a fake OpenAI-compatible chat completions server for tests: an
// httptest.Server that records every request and answers with streamed server-sent events
// shaped like the real API's (chat.completion.chunk objects, then "data: [DONE]").
package llmtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Request is what the server received in one call.
type Request struct {
	Auth        string // the Authorization header
	Model       string
	Messages    []Message
	MaxTokens   *int
	Temperature *float64
	Stream      bool
	// IncludeUsage: stream_options.include_usage was asked for (the last chunk carries usage).
	IncludeUsage bool
	User         string // the OpenAI user field, "" when not sent
}

// Message is one message of a request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Handler answers call n (from 1) of the server.
type Handler func(w http.ResponseWriter, r *http.Request, req Request, n int)

// Server is the fake API. Its URL (with /v1) is the base URL to configure.
type Server struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	handler  Handler
	requests []Request
	conns    int // connections accepted
}

// New starts a server answering with h (nil: Echo) and stops it when the test ends.
func New(t testing.TB, h Handler) *Server {
	t.Helper()
	s := &Server{handler: h}
	if s.handler == nil {
		s.handler = Echo
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL + "/v1"
	t.Cleanup(s.srv.Close)
	return s
}

// SetHandler replaces the handler for the calls to come.
func (s *Server) SetHandler(h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// Requests is every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Conns is how many connections the server has accepted so far.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		Fail(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path)
		return
	}
	var body struct {
		Model       string    `json:"model"`
		Messages    []Message `json:"messages"`
		MaxTokens   *int      `json:"max_tokens"`
		Temperature *float64  `json:"temperature"`
		Stream      bool      `json:"stream"`
		Options     struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		User string `json:"user"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		Fail(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	req := Request{Auth: r.Header.Get("Authorization"), Model: body.Model, Messages: body.Messages,
		MaxTokens: body.MaxTokens, Temperature: body.Temperature, Stream: body.Stream,
		IncludeUsage: body.Options.IncludeUsage, User: body.User}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	n, h := len(s.requests), s.handler
	s.mu.Unlock()
	h(w, r, req, n)
}

// Echo answers "echo: <last user message>", one chunk per word.
func Echo(w http.ResponseWriter, _ *http.Request, req Request, _ int) {
	last := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			last = m.Content
		}
	}
	Stream(w, strings.SplitAfter("echo: "+last, " ")...)
}

// EchoUsage is Echo that also reports usage when the request asks for it, as OpenAI does:
// one token per word, the prompt's (every message) and the reply's.
func EchoUsage(w http.ResponseWriter, r *http.Request, req Request, n int) {
	last, prompt := "", 0
	for _, m := range req.Messages {
		prompt += len(strings.Fields(m.Content))
		if m.Role == "user" {
			last = m.Content
		}
	}
	reply := "echo: " + last
	Start(w)
	Chunk(w, `{"role":"assistant","content":""}`, "")
	for _, p := range strings.SplitAfter(reply, " ") {
		Text(w, p)
	}
	Finish(w, "stop")
	if req.IncludeUsage {
		Usage(w, prompt, len(strings.Fields(reply)))
	}
	Done(w)
}

// Usage sends the chunk of stream_options.include_usage: no choices, the call's usage.
func Usage(w http.ResponseWriter, prompt, completion int) {
	event(w, fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		prompt, completion, prompt+completion))
}

// Stream answers with the chunks of a whole reply: a first chunk with the role, one chunk per
// piece of text, a chunk with finish_reason "stop", and [DONE].
func Stream(w http.ResponseWriter, pieces ...string) {
	Start(w)
	Chunk(w, `{"role":"assistant","content":""}`, "")
	for _, p := range pieces {
		Text(w, p)
	}
	Finish(w, "stop")
	Done(w)
}

// Start sends the headers of an event stream.
func Start(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}

// Text sends a chunk with a piece of the reply.
func Text(w http.ResponseWriter, text string) {
	b, _ := json.Marshal(map[string]string{"content": text})
	Chunk(w, string(b), "")
}

// Finish sends the last chunk, with its finish_reason ("stop", "length").
func Finish(w http.ResponseWriter, reason string) { Chunk(w, `{}`, reason) }

// Done sends the end of the stream.
func Done(w http.ResponseWriter) { event(w, "[DONE]") }

// Chunk sends one chat.completion.chunk whose choice has delta (a JSON object) and
// finish_reason (null when empty).
func Chunk(w http.ResponseWriter, delta, finish string) {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	event(w, fmt.Sprintf(`{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`, delta, fr))
}

// StreamError sends an error event in the middle of a stream, as the API does when it fails
// after it began answering.
func StreamError(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "type": "server_error"}})
	event(w, string(b))
}

func event(w http.ResponseWriter, data string) {
	fmt.Fprintf(w, "data: %s\n\n", data)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// Fail answers with an HTTP error and a JSON error body like the API's.
func Fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}})
	w.Write(b)
}
