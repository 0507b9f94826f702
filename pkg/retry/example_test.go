package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"chatbot/pkg/retry"
)

// Do tries a step a few times; Stop ends the retries on an error no attempt can fix.
func ExampleDo() {
	errRefused := errors.New("refused")
	err := retry.Do(context.Background(), retry.Backoff{Base: time.Millisecond}, 3, func(attempt int) error {
		fmt.Println("attempt", attempt)
		if attempt == 2 {
			return retry.Stop(errRefused)
		}
		return errors.New("timeout")
	})
	fmt.Println(err)
	// Output:
	// attempt 1
	// attempt 2
	// refused
}

// A loop that runs until its context ends keeps a Backoff: Wait after a failure, Reset after a
// success.
func ExampleBackoff() {
	ctx, cancel := context.WithCancel(context.Background())
	fails := retry.Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	for range 3 {
		fmt.Println(fails.Next())
	}
	fails.Reset()
	fmt.Println(fails.Next())
	cancel()
	fmt.Println(fails.Wait(ctx)) // ends at once: ctx is done
	// Output:
	// 100ms
	// 200ms
	// 400ms
	// 100ms
	// false
}
