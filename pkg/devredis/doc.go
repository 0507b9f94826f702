// Package devredis runs an in-memory Redis inside the process, for `chatbot dev` on a machine
// with nothing installed. It is github.com/alicebob/miniredis/v2 listening on a loopback port,
// reached through the same rueidis client as a real Redis (store.Options.Embedded), with key
// expiry that follows the wall clock so sessions really expire.
//
// It is not durable: everything is lost when the process exits. It is for laptops, demos and
// tests, never for production.
package devredis
