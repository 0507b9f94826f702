package store

import (
	"context"
	"fmt"

	"chatbot/pkg/chat"
)

// Entry is one event of chat:{T}:out: its ID (the offset), frame type and JSON body without
// the offset (chat.WithOffset adds it).
type Entry struct {
	ID   string
	Type string
	Body []byte
}

// Frame is the entry as the JSON frame a client gets.
func (e Entry) Frame() []byte { return chat.WithOffset(e.Body, e.ID) }

// EncodeEvent is the stream body of ev: its JSON without the offset.
func EncodeEvent(ev chat.Event) (string, error) {
	ev.Offset = ""
	b, err := chat.Marshal(ev)
	return string(b), err
}

var emitScript = sessionScript("emit.lua")

// Emit writes an event to the session's stream and announces it, outside any worker lease
// (tests, ops). It reports ErrSessionNotFound when the session does not exist.
func (s *Store) Emit(ctx context.Context, token string, ev chat.Event) (string, error) {
	return s.emit(ctx, token, "", "", ev)
}

func (s *Store) emit(ctx context.Context, token, holder, prev string, ev chat.Event) (string, error) {
	body, err := EncodeEvent(ev)
	if err != nil {
		return "", err
	}
	id, err := s.evalSession(ctx, emitScript, token, holder, ev.Type, body, prev).ToString()
	if isNil(err) {
		if holder != "" {
			return "", ErrLeaseLost
		}
		return "", ErrSessionNotFound
	}
	if err != nil {
		return "", fmt.Errorf("emit %s: %w", ev.Type, err)
	}
	return id, nil
}

// ReadEvents returns up to count events after the offset after ("" or "0" for all kept).
func (s *Store) ReadEvents(ctx context.Context, token, after string, count int) ([]Entry, error) {
	start := "-"
	if after != "" && after != "0" && after != "0-0" {
		start = "(" + after
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.rdb.Do(ctx, s.rdb.B().Xrange().Key(s.keys.Out(token)).Start(start).End("+").Count(int64(count)).Build()).AsXRange()
	if err != nil {
		if isNil(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read events: %w", err)
	}
	out := make([]Entry, 0, len(res))
	for _, e := range res {
		out = append(out, Entry{ID: e.ID, Type: e.FieldValues[chat.OutFieldType], Body: []byte(e.FieldValues[chat.OutFieldBody])})
	}
	return out, nil
}

// LastEventID is the ID of the session's newest event, "" when it has none.
func (s *Store) LastEventID(ctx context.Context, token string) (string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.rdb.Do(ctx, s.rdb.B().Xrevrange().Key(s.keys.Out(token)).End("+").Start("-").Count(1).Build()).AsXRange()
	if err != nil && !isNil(err) {
		return "", fmt.Errorf("read last event: %w", err)
	}
	if len(res) == 0 {
		return "", nil
	}
	return res[0].ID, nil
}

// Truncated reports whether events after the offset after may have been trimmed away, so a
// resume from it would have a gap: after is older than the oldest event kept.
func (s *Store) Truncated(ctx context.Context, token, after string) (bool, error) {
	if after == "" || after == "0" || after == "0-0" {
		return false, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.rdb.Do(ctx, s.rdb.B().Xrange().Key(s.keys.Out(token)).Start("-").End("+").Count(1).Build()).AsXRange()
	if err != nil && !isNil(err) {
		return false, fmt.Errorf("read first event: %w", err)
	}
	if len(res) == 0 {
		return false, nil
	}
	return chat.CompareIDs(after, res[0].ID) < 0, nil
}

// EventCount is the number of events kept for the session (tests, metrics).
func (s *Store) EventCount(ctx context.Context, token string) (int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	return s.rdb.Do(ctx, s.rdb.B().Xlen().Key(s.keys.Out(token)).Build()).AsInt64()
}
