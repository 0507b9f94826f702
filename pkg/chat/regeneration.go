package chat

import (
	"bytes"
	"encoding/json"
	"errors"
)

// RegenerationPrefix starts the pending entry of a regenerate command (a Regeneration), and
// no Message: it is how the worker, and the readers of the pending list, tell them apart.
const RegenerationPrefix = `{"regenerate":`

// ErrRegeneration means DecodeMessage was given a pending Regeneration, not a Message.
var ErrRegeneration = errors.New("a regeneration, not a message")

// Regeneration is the pending entry of a regenerate command: answer Message (the last user
// message of the history) again; the reply replaces Replaces, the reply it had ("" when its
// turn failed and it has none). The send step writes it (store.Store.Regenerate), the worker
// answers it like a message.
type Regeneration struct {
	ID       string `json:"regenerate"` // the command's id (its ack's)
	ClientID string `json:"client_id,omitempty"`
	// Traceparent is the W3C traceparent of the span that queued it (as Message.Traceparent).
	Traceparent string          `json:"traceparent,omitempty"`
	Replaces    string          `json:"replaces,omitempty"`
	Message     json.RawMessage `json:"message"` // as stored in the history
}

// IsRegeneration reports whether a pending entry is a Regeneration.
func IsRegeneration(raw []byte) bool { return bytes.HasPrefix(raw, []byte(RegenerationPrefix)) }

// RegenerationHead is the start of the pending entry of the regenerate command id, up to the
// fields the store's script adds from the history (replaces, message) and the closing brace;
// traceparent is "" for none.
func RegenerationHead(id, clientID, traceparent string) (string, error) {
	b, err := Marshal(struct {
		ID          string `json:"regenerate"`
		ClientID    string `json:"client_id,omitempty"`
		Traceparent string `json:"traceparent,omitempty"`
	}{id, clientID, traceparent})
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(b, []byte("}"))), nil
}

// DecodeRegeneration decodes a pending Regeneration and the message it answers again.
func DecodeRegeneration(raw []byte) (Regeneration, Message, error) {
	var r Regeneration
	if !IsRegeneration(raw) {
		return r, Message{}, errors.New("not a regeneration")
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, Message{}, err
	}
	m, err := DecodeMessage(r.Message)
	if err == nil && (m.ID == "" || m.Role != RoleHuman) {
		err = errors.New("a regeneration of no user message")
	}
	return r, m, err
}
