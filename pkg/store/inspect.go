package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"chatbot/pkg/chat"

	"github.com/redis/rueidis"
)

// This file is what the operator's commands read (chatbot inspect, chatbot dead): plain
// read-only commands, never a script, never a write, so inspecting a live system changes
// nothing in it. The dead-letter writes (replay, purge) are at the end, each named so.

// SessionState is a session as Redis holds it now, for an operator.
type SessionState struct {
	Token  string
	Exists bool
	Name   string
	User   string // the owner's sub (auth.mode jwt), "" for none
	Title  string
	Start  time.Time
	// Seq is the last message queued, Done the last answered, Started the turn a worker last
	// began, Stop the turn the user asked to stop (0: none).
	Seq, Done, Started, Stop int64
	LastEvent                string        // the newest event's offset
	TTL                      time.Duration // until the session expires
	Partition                int           // its request stream
	// Lease is the worker attempt working on the session ("consumer/nonce/attempt"), "" when
	// none; LeaseTTL how long it lasts unless renewed.
	Lease    string
	LeaseTTL time.Duration
	// Pending is the messages waiting for a reply, oldest first (at most MaxInspectPending);
	// PendingCount is how many there are.
	Pending      []chat.Message
	PendingCount int64
	HistoryCount int64
	EventCount   int64
	Events       []Entry // the newest events, newest first
	// Fields is the session hash as it is, for fields this version does not know (usage, ...).
	Fields map[string]string
}

// MaxInspectPending bounds the pending messages InspectSession returns.
const MaxInspectPending = 100

// InspectSession reads a session and its state (read-only: the TTL does not slide), with its
// newest events (up to events). A token that names no session gives Exists false.
func (s *Store) InspectSession(ctx context.Context, token string, events int) (SessionState, error) {
	st := SessionState{Token: token, Partition: Partition(token, s.opt.Partitions)}
	if !chat.ValidToken(token) {
		return st, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	k := s.keys
	res := s.rdb.DoMulti(ctx,
		s.rdb.B().Hgetall().Key(k.Session(token)).Build(),
		s.rdb.B().Pttl().Key(k.Session(token)).Build(),
		// Pending keeps the answered messages after seq base until a batch is trimmed.
		s.rdb.B().Lrange().Key(k.Pending(token)).Start(0).Stop(-1).Build(),
		s.rdb.B().Llen().Key(k.Messages(token)).Build(),
		s.rdb.B().Xrevrange().Key(k.Out(token)).End("+").Start("-").Count(int64(max(events, 1))).Build(),
		s.rdb.B().Xlen().Key(k.Out(token)).Build(),
	)
	for _, r := range res {
		if err := r.Error(); err != nil && !isNil(err) {
			return st, fmt.Errorf("inspect session: %w", err)
		}
	}
	h, _ := res[0].AsStrMap()
	if len(h) == 0 {
		return st, nil
	}
	st.Exists, st.Fields = true, h
	st.Name, st.User, st.Title, st.LastEvent = h["name"], h["user"], h["title"], h["last"]
	st.Start, _ = time.Parse(time.RFC3339Nano, h["start"])
	st.Seq, st.Done, st.Started, st.Stop = atoi(h["seq"]), atoi(h["done"]), atoi(h["started"]), atoi(h["stop"])
	st.TTL = pttl(res[1])
	raw, _ := res[2].AsStrSlice()
	base := st.Done // a session written before 'base' kept only the unanswered messages
	if b, ok := h["base"]; ok {
		base = atoi(b)
	}
	if skip := st.Done - base; skip > 0 {
		raw = raw[min(int(skip), len(raw)):]
	}
	for _, r := range raw[:min(len(raw), MaxInspectPending)] {
		if m, err := chat.DecodeMessage([]byte(r)); err == nil {
			st.Pending = append(st.Pending, m)
		} else if rg, m, err := chat.DecodeRegeneration([]byte(r)); err == nil {
			// A regenerate command: shown as the message it answers again.
			m.ID, m.ClientID, m.Msg = rg.ID, rg.ClientID, "(regenerate) "+m.Msg
			st.Pending = append(st.Pending, m)
		} else {
			st.Pending = append(st.Pending, chat.Message{Msg: "(damaged entry: " + err.Error() + ")"})
		}
	}
	st.PendingCount = max(st.Seq-st.Done, 0)
	st.HistoryCount, _ = res[3].AsInt64()
	st.Lease = h["lease"]
	if st.Lease != "" {
		// The lease's end is a time by the workers' clocks (Unix ms).
		st.LeaseTTL = time.Until(time.UnixMilli(atoi(h["until"])))
	}
	xr, _ := res[4].AsXRange()
	if h["deltas"] == deltasStreaming && len(xr) > 0 {
		// A turn is streaming: its deltas do not write 'last' (prelude.lua).
		st.LastEvent = xr[0].ID
	}
	if events > 0 {
		for _, e := range xr {
			st.Events = append(st.Events, Entry{ID: e.ID, Type: e.FieldValues[chat.OutFieldType], Body: []byte(e.FieldValues[chat.OutFieldBody])})
		}
	}
	st.EventCount, _ = res[5].AsInt64()
	return st, nil
}

// deltasStreaming is the session hash's 'deltas' while a turn's deltas are written: its
// 'last' is behind them (prelude.lua's STREAMING; lua_test.go keeps them equal).
const deltasStreaming = "1"

func atoi(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// pttl reads a PTTL reply: 0 for a key without expiry or gone.
func pttl(r rueidis.RedisResult) time.Duration {
	n, err := r.AsInt64()
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Millisecond
}

// PartitionState is the workers group on one request stream, for an operator.
type PartitionState struct {
	Partition int
	Stream    string
	Length    int64 // entries kept in the stream (XLEN)
	Group     bool  // the workers group exists
	// Lag is the number of entries not yet delivered to any consumer; -1 when Redis cannot
	// tell. Pending: delivered and not acknowledged.
	Lag, Pending int64
	// LastDelivered is the newest entry delivered to a consumer; OldestWaiting the oldest entry
	// not yet delivered ("" when none).
	LastDelivered string
	OldestWaiting string
	// OldestPending is the oldest entry delivered and not acknowledged ("" when none).
	OldestPending string
	Consumers     []ConsumerState
}

// ConsumerState is one consumer of the workers group on one partition.
type ConsumerState struct {
	Name    string
	Pending int64
	// Idle is the time since its last read or claim; Inactive since its last successful
	// one (-1 when Redis does not say: before 7.2).
	Idle, Inactive time.Duration
}

// InspectQueue reads every partition's stream and group, and the time on the Redis server (the
// clock of the entry IDs, which ages are counted against).
func (s *Store) InspectQueue(ctx context.Context) ([]PartitionState, time.Time, error) {
	now, err := s.ServerTime(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	out := make([]PartitionState, 0, s.opt.Partitions)
	for p := range s.opt.Partitions {
		ps, err := s.inspectPartition(ctx, p)
		if err != nil {
			return nil, now, err
		}
		out = append(out, ps)
	}
	return out, now, nil
}

func (s *Store) inspectPartition(ctx context.Context, p int) (PartitionState, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	ps := PartitionState{Partition: p, Stream: key, Lag: -1}
	res := s.rdb.DoMulti(ctx,
		s.rdb.B().Xlen().Key(key).Build(),
		s.rdb.B().XinfoGroups().Key(key).Build(),
		s.rdb.B().XinfoConsumers().Key(key).Group(Group).Build(),
		s.rdb.B().Xpending().Key(key).Group(Group).Start("-").End("+").Count(1).Build(),
	)
	ps.Length, _ = res[0].AsInt64()
	groups, err := res[1].ToArray()
	if err != nil {
		if isNoSuchKey(err) {
			return ps, nil // no stream yet: nothing was ever sent, no worker ever ran
		}
		return ps, fmt.Errorf("inspect %s: %w", key, err)
	}
	for _, g := range groups {
		m, err := g.AsMap()
		if err != nil {
			return ps, fmt.Errorf("inspect %s: %w", key, err)
		}
		name, pending, last := m["name"], m["pending"], m["last-delivered-id"]
		if n, _ := name.ToString(); n != Group {
			continue
		}
		ps.Group = true
		ps.Pending, _ = pending.AsInt64()
		ps.LastDelivered, _ = last.ToString()
		if lag, ok := m["lag"]; ok {
			if n, err := lag.AsInt64(); err == nil {
				ps.Lag = n
			}
		}
	}
	if !ps.Group {
		return ps, nil
	}
	consumers, _ := res[2].ToArray()
	for _, c := range consumers {
		m, err := c.AsMap()
		if err != nil {
			continue
		}
		cs := ConsumerState{Inactive: -1}
		name, pending, idleMsg := m["name"], m["pending"], m["idle"]
		cs.Name, _ = name.ToString()
		cs.Pending, _ = pending.AsInt64()
		idle, _ := idleMsg.AsInt64()
		cs.Idle = time.Duration(idle) * time.Millisecond
		if in, ok := m["inactive"]; ok {
			if n, err := in.AsInt64(); err == nil && n >= 0 {
				cs.Inactive = time.Duration(n) * time.Millisecond
			}
		}
		ps.Consumers = append(ps.Consumers, cs)
	}
	if pend, err := res[3].ToArray(); err == nil && len(pend) > 0 {
		if f, err := pend[0].ToArray(); err == nil && len(f) > 0 {
			ps.OldestPending, _ = f[0].ToString()
		}
	}
	if ps.Lag != 0 {
		start := "-"
		if ps.LastDelivered != "" && ps.LastDelivered != "0-0" {
			start = "(" + ps.LastDelivered
		}
		first, err := s.rdb.Do(ctx, s.rdb.B().Xrange().Key(key).Start(start).End("+").Count(1).Build()).AsXRange()
		if err != nil && !isNil(err) {
			return ps, fmt.Errorf("inspect %s: %w", key, err)
		}
		if len(first) > 0 {
			ps.OldestWaiting = first[0].ID
		}
	}
	return ps, nil
}

// isNoSuchKey reports XINFO's answer about a stream that does not exist.
func isNoSuchKey(err error) bool {
	return err != nil && (isNoGroup(err) || strings.Contains(err.Error(), "no such key"))
}

// ServerTime is the Redis server's clock (TIME): the clock stream entry IDs are made from.
func (s *Store) ServerTime(ctx context.Context) (time.Time, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	arr, err := s.rdb.Do(ctx, s.rdb.B().Time().Build()).AsStrSlice()
	if err != nil || len(arr) != 2 {
		return time.Time{}, fmt.Errorf("redis TIME: %v", errOr(err, "short reply"))
	}
	sec, _ := strconv.ParseInt(arr[0], 10, 64)
	usec, _ := strconv.ParseInt(arr[1], 10, 64)
	return time.Unix(sec, usec*1000), nil
}

// DeadLetters returns up to count entries of chat:dead after the ID after ("" from the
// oldest), oldest first, and how many the stream holds.
func (s *Store) DeadLetters(ctx context.Context, after string, count int) ([]RequestEntry, int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	start := "-"
	if after != "" {
		start = "(" + after
	}
	res := s.rdb.DoMulti(ctx,
		s.rdb.B().Xrange().Key(s.keys.Dead()).Start(start).End("+").Count(int64(max(count, 1))).Build(),
		s.rdb.B().Xlen().Key(s.keys.Dead()).Build(),
	)
	got, err := res[0].AsXRange()
	if err != nil && !isNil(err) {
		return nil, 0, fmt.Errorf("read dead letters: %w", err)
	}
	n, _ := res[1].AsInt64()
	return entries(-1, got), n, nil
}

// DeadLetter reads the dead letter id; ok is false when there is none.
func (s *Store) DeadLetter(ctx context.Context, id string) (RequestEntry, bool, error) {
	if !chat.ValidID(id) {
		return RequestEntry{}, false, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	got, err := s.rdb.Do(ctx, s.rdb.B().Xrange().Key(s.keys.Dead()).Start(id).End(id).Build()).AsXRange()
	if err != nil && !isNil(err) {
		return RequestEntry{}, false, fmt.Errorf("read dead letter %s: %w", id, err)
	}
	if len(got) == 0 {
		return RequestEntry{}, false, nil
	}
	return RequestEntry{Partition: -1, ID: got[0].ID, Fields: got[0].FieldValues}, true, nil
}

// DeleteDeadLetters removes dead letters by ID (a write: chatbot dead replay and purge) and
// returns how many were there.
func (s *Store) DeleteDeadLetters(ctx context.Context, ids ...string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	n, err := s.rdb.Do(ctx, s.rdb.B().Xdel().Key(s.keys.Dead()).Id(ids...).Build()).AsInt64()
	if err != nil {
		return 0, fmt.Errorf("delete dead letters: %w", err)
	}
	return n, nil
}

// FindMessage looks for the message id in the session's history and pending list (chatbot
// dead replay). It returns the message, whether it is still pending, and whether the history
// holds a bot message replying to it (not an error: errors are events, not history).
func (s *Store) FindMessage(ctx context.Context, token, id string) (msg chat.Message, found, pending, replied bool, err error) {
	if !chat.ValidToken(token) {
		return msg, false, false, false, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res := s.rdb.DoMulti(ctx,
		s.rdb.B().Lrange().Key(s.keys.Messages(token)).Start(0).Stop(-1).Build(),
		s.rdb.B().Lrange().Key(s.keys.Pending(token)).Start(0).Stop(-1).Build(),
		s.rdb.B().Hmget().Key(s.keys.Session(token)).Field("done", "base").Build(),
	)
	hist, err := res[0].AsStrSlice()
	if err != nil && !isNil(err) {
		return msg, false, false, false, fmt.Errorf("read history: %w", err)
	}
	pend, err := res[1].AsStrSlice()
	if err != nil && !isNil(err) {
		return msg, false, false, false, fmt.Errorf("read pending: %w", err)
	}
	// Pending keeps the answered messages after seq base until a batch is trimmed: those
	// before done are not waiting.
	if h, err := res[2].ToArray(); err == nil && len(h) == 2 {
		done, _ := h[0].ToString()
		base, berr := h[1].ToString()
		if berr != nil {
			base = done // a session written before 'base' kept only the unanswered messages
		}
		if skip := atoi(done) - atoi(base); skip > 0 {
			pend = pend[min(int(skip), len(pend)):]
		}
	}
	for _, m := range decodeMessages(pend) {
		if m.ID == id {
			return m, true, true, false, nil
		}
	}
	for _, m := range decodeMessages(hist) {
		switch {
		case m.ID == id:
			msg, found = m, true
		case m.ReplyTo == id && m.Role == chat.RoleBot:
			replied = true
		}
	}
	return msg, found, false, replied, nil
}
