// Package chat is the schema every role shares: sessions, messages, the WebSocket frames of
// DESIGN.md and their JSON encoding, the decoder of client frames, and the fields of the Redis
// stream entries that carry them. It imports nothing from the project.
package chat
