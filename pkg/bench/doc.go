// Package bench is the load generator behind `chatbot bench`: it drives a running `chatbot
// serve` over its public protocol only (POST /token, WebSocket /chat with client_id commands,
// ack/delta/message frames), as real users do, and measures what they would see.
//
// Two modes:
//   - Load (Run): sessions with one socket each (or more), messages at a fixed total rate or
//     closed-loop (the next when the reply is back), for a bounded duration; turns per second,
//     errors by kind, latency percentiles from send to the full reply, to the ack and (with
//     stream) to the first delta.
//   - Idle (RunIdle): N sockets held open without traffic; how many stayed up, and the serve's
//     memory and Redis connections per socket compared with a handful of sockets.
//
// WriteBenchmarks writes docs/BENCHMARKS.md from the results scripts/bench.sh collects (the
// scenarios' JSON and printed output, the Go benchmarks, the run's own figures), through
// pkg/bench/cmd/benchreport.
//
// It only talks to the URL it is given (loopback unless allowed otherwise), spreads its
// sockets over 127.0.0.x source addresses when one address's ephemeral ports would not be
// enough, and always stops by itself.
package bench
