package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

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
	id, _, err := s.emit(ctx, token, "", "", 0, ev)
	return id, err
}

// emit runs emit.lua: with a holder, under its lease, for its turn seq; stop reports a
// holder's delta written for a turn the user asked to stop (emit_delta, prelude.lua).
func (s *Store) emit(ctx context.Context, token, holder, prev string, seq int64, ev chat.Event) (id string, stop bool, err error) {
	body, err := EncodeEvent(ev)
	if err != nil {
		return "", false, err
	}
	m, err := s.evalSession(ctx, emitScript, token, holder, ev.Type, body, prev, strconv.FormatInt(seq, 10)).ToMessage()
	if err == nil {
		id, stop, err = written(m)
	}
	if isNil(err) {
		if holder != "" {
			return "", false, ErrLeaseLost
		}
		return "", false, ErrSessionNotFound
	}
	if err != nil {
		return "", false, fmt.Errorf("emit %s: %w", ev.Type, err)
	}
	return id, stop, nil
}

// written reads emit_delta's reply: the event's ID, or the ID in an array of one when the
// user asked to stop the turn (stop), or nil (a Redis nil error).
func written(m rueidis.RedisMessage) (id string, stop bool, err error) {
	if arr, err := m.ToArray(); err == nil {
		if len(arr) != 1 {
			return "", false, fmt.Errorf("a delta's reply of %d elements", len(arr))
		}
		id, err := arr[0].ToString()
		return id, true, err
	}
	id, err = m.ToString()
	return id, false, err
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
