// Package chat is the schema every role shares: sessions, messages, the WebSocket frames of
// docs/PROTOCOL.md and their JSON encoding, their error codes (errors.go), the decoder of
// client frames, and the fields of the Redis stream entries that carry them
// (docs/ARCHITECTURE.md). It imports nothing from the project.
package chat
