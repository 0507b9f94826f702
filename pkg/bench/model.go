package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ModelOptions configure the fake model of `chatbot bench --model-addr`: an OpenAI-compatible
// chat completions endpoint that streams Words words, one every Interval (the first one too),
// as a real model streams tokens. A worker started with --llm.provider openai and
// --llm.base_url http://ADDR/v1 then streams replies at the pace of an LLM, which the echo
// model does not.
type ModelOptions struct {
	// Addr is the loopback address to listen on, host:port.
	Addr string
	// Words is the length of every reply, in words (one word a chunk: a token). Default 100.
	Words int
	// Interval is the time before each word. Default 25ms.
	Interval time.Duration
}

// modelWords are the words of a fake reply, repeated: about 5.5 bytes a word with its space,
// as English text is.
var modelWords = strings.Fields("the quick brown fox jumps over a lazy dog while seven tall " +
	"ships sail past old harbour lights under clear autumn skies")

// ServeModel serves the fake model on o.Addr until ctx ends; ready, if not nil, is called
// with the address once it listens.
func ServeModel(ctx context.Context, o ModelOptions, ready func(addr string)) error {
	if o.Words <= 0 {
		o.Words = 100
	}
	if o.Interval <= 0 {
		o.Interval = 25 * time.Millisecond
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("--model-addr %q: %w", o.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--model-addr %q: only a loopback address", o.Addr)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("--model-addr: %w", err)
	}
	srv := &http.Server{Handler: fakeModel(o), ReadHeaderTimeout: 5 * time.Second}
	context.AfterFunc(ctx, func() { srv.Close() })
	if ready != nil {
		ready(ln.Addr().String())
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// fakeModel answers POST /v1/chat/completions like the OpenAI API: with "stream": true as
// server-sent chat.completion.chunk events and "data: [DONE]", else one chat.completion.
func fakeModel(o ModelOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"no such route","type":"invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		var req struct {
			Stream bool `json:"stream"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, `{"error":{"message":"bad JSON","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		t := time.NewTimer(o.Interval)
		defer t.Stop()
		wait := func() bool {
			select {
			case <-r.Context().Done():
				return false
			case <-t.C:
				t.Reset(o.Interval)
				return true
			}
		}
		word := func(i int) string {
			s := modelWords[i%len(modelWords)]
			if i < o.Words-1 {
				s += " "
			}
			return s
		}
		if !req.Stream {
			var b strings.Builder
			for i := range o.Words {
				if !wait() {
					return
				}
				b.WriteString(word(i))
			}
			text, _ := json.Marshal(b.String())
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}]}`, text)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		flusher, _ := w.(http.Flusher)
		chunk := func(delta, finish string) bool {
			_, err := fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", delta, finish)
			if flusher != nil {
				flusher.Flush()
			}
			return err == nil
		}
		if !chunk(`{"role":"assistant","content":""}`, "null") {
			return
		}
		for i := range o.Words {
			if !wait() {
				return
			}
			text, _ := json.Marshal(word(i))
			if !chunk(`{"content":`+string(text)+`}`, "null") {
				return
			}
		}
		chunk(`{}`, `"stop"`)
		fmt.Fprint(w, "data: [DONE]\n\n")
		if flusher != nil {
			flusher.Flush()
		}
	})
}
