package llm_test

import (
	"context"
	"fmt"
	"time"

	"chatbot/pkg/llm"
)

// A model streams its reply piece by piece and returns the whole of it.
func Example() {
	model, err := llm.New(llm.Config{Provider: llm.ProviderEcho})
	if err != nil {
		panic(err)
	}
	reply, err := model.Stream(context.Background(), []llm.Message{
		{Role: llm.RoleSystem, Content: "You are a helpful assistant."},
		{Role: llm.RoleUser, Content: "hello there"},
	}, func(piece string) error {
		fmt.Printf("%q\n", piece)
		return nil
	})
	fmt.Println(reply, err)
	// Output:
	// "echo: "
	// "hello "
	// "there"
	// echo: hello there <nil>
}

// Retry wraps a model call: each attempt gets llm.timeout, failures are retried with backoff.
func ExampleRetry() {
	retry := llm.Retry{MaxRetries: 3, Timeout: time.Minute}
	model := llm.Echo{}
	var reply string
	attempts, err := retry.Do(context.Background(), func(ctx context.Context, _ int) error {
		var err error
		reply, err = model.Stream(ctx, []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, func(string) error { return nil })
		return err
	})
	fmt.Println(reply, attempts, err)
	// Output: echo: hi 1 <nil>
}
