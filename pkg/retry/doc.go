// Package retry is the project's one way to try a step again: exponential backoff whose waits
// end at once when the context does (a time.Sleep in a retry loop would hold up shutdown).
//
// Backoff is the policy (first wait, growth, cap, jitter) and counts the failures in a row:
// Wait sleeps the next delay and Reset starts over after a success, for loops that go on until
// their context ends. Do tries a step a bounded number of times; Stop marks an error that no
// further attempt can fix. Sleep is the context-aware wait they share.
//
// It imports nothing of the project, so every package may use it.
package retry
