package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// This file is the consumer side of the request streams chat:requests:{p}: the workers group,
// reading, acknowledging, keeping requests alive, taking over those of dead consumers, and the
// dead-letter stream. Every command names one partition stream (one hash slot).

// RequestEntry is one entry of a request stream as a consumer got it. Fields is nil when the
// entry was trimmed away from the stream while it was pending.
type RequestEntry struct {
	Partition int
	ID        string
	Fields    map[string]string
	// Deliveries is how many times the group delivered the entry, this time included: 1 for a
	// new one (ReadRequests), counted by Redis for one taken over (ClaimRequests); 0 when not
	// known (ReadOwnPending, dead letters).
	Deliveries int64
}

// EnsureGroups creates the workers group on every partition stream, creating the streams too
// (MKSTREAM). A group that exists already is fine. New groups start at the beginning of the
// stream, so requests sent before any worker ran are answered.
func (s *Store) EnsureGroups(ctx context.Context) error {
	for p := range s.opt.Partitions {
		if err := s.ensureGroup(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ensureGroup(ctx context.Context, p int) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	err := s.rdb.Do(ctx, s.rdb.B().XgroupCreate().Key(key).Group(Group).Id("0").Mkstream().Build()).Error()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create group %s on %s: %w", Group, key, err)
	}
	return nil
}

// ReadRequests reads up to count new requests of partition p for consumer, waiting up to block
// for one to arrive (block <= 0: no wait). Keep block short (about a second) and never cancel
// ctx to interrupt it: cancelling a blocking call closes its connection. A missing group is
// created again and the read returns nothing.
func (s *Store) ReadRequests(ctx context.Context, p int, consumer string, count int, block time.Duration) ([]RequestEntry, error) {
	got, err := s.readGroup(ctx, p, consumer, ">", count, block)
	for i := range got {
		got[i].Deliveries = 1
	}
	return got, err
}

// ReadOwnPending reads up to count requests of partition p that consumer was given but has not
// acknowledged, with IDs after after ("0" for all): what an earlier process of the same name
// left behind.
func (s *Store) ReadOwnPending(ctx context.Context, p int, consumer, after string, count int) ([]RequestEntry, error) {
	return s.readGroup(ctx, p, consumer, after, count, 0)
}

func (s *Store) readGroup(ctx context.Context, p int, consumer, id string, count int, block time.Duration) ([]RequestEntry, error) {
	key := s.keys.Requests(p)
	cmd := s.rdb.B().Xreadgroup().Group(Group, consumer).Count(int64(max(count, 1)))
	var built rueidis.Completed
	if block > 0 {
		built = cmd.Block(block.Milliseconds()).Streams().Key(key).Id(id).Build()
	} else {
		built = cmd.Streams().Key(key).Id(id).Build()
	}
	ctx, cancel := context.WithTimeout(ctx, max(block, 0)+s.opt.CommandTimeout)
	defer cancel()
	res, err := s.rdb.Do(ctx, built).AsXRead()
	if isNil(err) {
		return nil, nil
	}
	if isNoGroup(err) {
		return nil, s.ensureGroup(ctx, p)
	}
	if err != nil {
		return nil, fmt.Errorf("read requests %s: %w", key, err)
	}
	return entries(p, res[key]), nil
}

func entries(p int, in []rueidis.XRangeEntry) []RequestEntry {
	out := make([]RequestEntry, 0, len(in))
	for _, e := range in {
		out = append(out, RequestEntry{Partition: p, ID: e.ID, Fields: e.FieldValues})
	}
	return out
}

// AckRequests acknowledges requests of partition p: they leave the group's pending list.
// Safe to repeat: a request acknowledged twice is acknowledged.
func (s *Store) AckRequests(ctx context.Context, p int, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	err := againResult(ctx, func() rueidis.RedisResult {
		return s.rdb.Do(ctx, s.rdb.B().Xack().Key(key).Group(Group).Id(ids...).Build())
	}).Error()
	if err != nil && !isNoGroup(err) {
		return fmt.Errorf("ack %s on %s: %w", strings.Join(ids, ","), key, err)
	}
	return nil
}

var requeueScript = luaScript("requeue.lua")

// Requeue puts consumer's request id of partition p back at the end of its stream: a new
// request for token up to seq is added and the old one acknowledged, in one step. ok is
// false when the old one is no longer consumer's (taken over meanwhile; nothing is done).
// traceparent (the old request's, "" for none) goes with the new one.
func (s *Store) Requeue(ctx context.Context, p int, consumer, id, token string, seq int64, traceparent string) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	_, err := requeueScript.Exec(ctx, s.rdb, []string{s.keys.Requests(p)},
		[]string{Group, consumer, id, token, strconv.FormatInt(seq, 10), strconv.Itoa(s.opt.StreamMaxLen), traceparent}).ToString()
	switch {
	case isNil(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("requeue %s: %w", id, err)
	}
	return true, nil
}

// ClaimRequests takes over, for consumer, up to count requests of partition p that have been
// pending with any consumer for at least minIdle (XAUTOCLAIM), scanning the pending list from
// start ("0-0" for the beginning). It returns them, the start of the next scan ("0-0" once the
// scan wrapped around) and the IDs of pending requests that were trimmed from the stream (Redis
// drops them from the pending list; their content is lost).
func (s *Store) ClaimRequests(ctx context.Context, p int, consumer string, minIdle time.Duration, start string, count int) (claimed []RequestEntry, next string, deleted []string, err error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	arr, err := s.rdb.Do(ctx, s.rdb.B().Xautoclaim().Key(key).Group(Group).Consumer(consumer).
		MinIdleTime(strconv.FormatInt(minIdle.Milliseconds(), 10)).Start(start).Count(int64(max(count, 1))).Build()).ToArray()
	if isNoGroup(err) {
		return nil, "0-0", nil, s.ensureGroup(ctx, p)
	}
	if err != nil || len(arr) < 2 {
		return nil, start, nil, fmt.Errorf("claim requests on %s: %w", key, errOr(err, "short reply"))
	}
	next, _ = arr[0].ToString()
	got, err := arr[1].AsXRange()
	if err != nil {
		return nil, start, nil, fmt.Errorf("claim requests on %s: %w", key, err)
	}
	if len(arr) > 2 {
		deleted, _ = arr[2].AsStrSlice()
	}
	claimed = entries(p, got)
	s.countDeliveries(ctx, key, consumer, claimed)
	return claimed, next, deleted, nil
}

// countDeliveries sets the Deliveries of entries just claimed by consumer, from XPENDING (one
// round trip for them all). What it cannot read stays 0: the entry is worked on as usual.
func (s *Store) countDeliveries(ctx context.Context, key, consumer string, claimed []RequestEntry) {
	if len(claimed) == 0 {
		return
	}
	cmds := make(rueidis.Commands, 0, len(claimed))
	for _, e := range claimed {
		cmds = append(cmds, s.rdb.B().Xpending().Key(key).Group(Group).Start(e.ID).End(e.ID).Count(1).Consumer(consumer).Build())
	}
	for i, res := range s.rdb.DoMulti(ctx, cmds...) {
		arr, err := res.ToArray()
		if err != nil || len(arr) != 1 {
			continue
		}
		if f, err := arr[0].ToArray(); err == nil && len(f) == 4 {
			claimed[i].Deliveries, _ = f[3].AsInt64()
		}
	}
}

func errOr(err error, why string) error {
	if err != nil {
		return err
	}
	return errors.New(why)
}

// KeepRequests tells the group that consumer still works on the requests ids of partition p:
// their idle time goes back to zero, so no other consumer takes them over (XAUTOCLAIM with
// worker.claim_idle). Requests another consumer took meanwhile are left alone; the result is
// the IDs that are still the consumer's.
func (s *Store) KeepRequests(ctx context.Context, p int, consumer string, ids []string) ([]string, error) {
	return s.setIdle(ctx, p, consumer, ids, 0)
}

// HandBackRequests makes the requests ids of partition p that consumer still owns look idle
// for idle, so that any consumer's next XAUTOCLAIM with that min-idle takes them at once
// (a consumer that stops without finishing them). It returns how many it handed back.
func (s *Store) HandBackRequests(ctx context.Context, p int, consumer string, ids []string, idle time.Duration) (int, error) {
	owned, err := s.setIdle(ctx, p, consumer, ids, idle)
	return len(owned), err
}

var setIdleScript = luaScript("set_idle.lua")

func (s *Store) setIdle(ctx context.Context, p int, consumer string, ids []string, idle time.Duration) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	args := append([]string{Group, consumer, strconv.FormatInt(idle.Milliseconds(), 10)}, ids...)
	owned, err := setIdleScript.Exec(ctx, s.rdb, []string{key}, args).AsStrSlice()
	if isNoGroup(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keep requests on %s: %w", key, err)
	}
	return owned, nil
}

var takenScript = luaScript("taken_requests.lua")

// TakenRequests returns which of ids (of partition p) another consumer than consumer holds
// now. IDs acknowledged meanwhile are not in the result: they were not taken, only done.
func (s *Store) TakenRequests(ctx context.Context, p int, consumer string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	taken, err := takenScript.Exec(ctx, s.rdb, []string{key}, append([]string{Group, consumer}, ids...)).AsStrSlice()
	if isNoGroup(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("taken requests on %s: %w", key, err)
	}
	return taken, nil
}

// PendingRequest is one entry of the group's pending list.
type PendingRequest struct {
	ID         string
	Consumer   string
	Idle       time.Duration
	Deliveries int64
}

// PendingRequests lists up to count requests of partition p delivered and not acknowledged
// (tests and ops).
func (s *Store) PendingRequests(ctx context.Context, p int, count int) ([]PendingRequest, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	arr, err := s.rdb.Do(ctx, s.rdb.B().Xpending().Key(key).Group(Group).Start("-").End("+").Count(int64(count)).Build()).ToArray()
	if isNoGroup(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending requests on %s: %w", key, err)
	}
	out := make([]PendingRequest, 0, len(arr))
	for _, m := range arr {
		f, err := m.ToArray()
		if err != nil || len(f) != 4 {
			return nil, fmt.Errorf("pending requests on %s: unexpected reply", key)
		}
		var pr PendingRequest
		pr.ID, _ = f[0].ToString()
		pr.Consumer, _ = f[1].ToString()
		idle, _ := f[2].AsInt64()
		pr.Idle = time.Duration(idle) * time.Millisecond
		pr.Deliveries, _ = f[3].AsInt64()
		out = append(out, pr)
	}
	return out, nil
}

// GroupStats is the state of the workers group on one partition.
type GroupStats struct {
	// Pending is the number of requests delivered and not yet acknowledged.
	Pending int64
	// Lag is the number of requests not yet delivered to any consumer; -1 when Redis cannot
	// tell (after entries were deleted from the middle of the stream).
	Lag int64
}

// RequestGroupStats reads the workers group's pending count and lag on partition p.
func (s *Store) RequestGroupStats(ctx context.Context, p int) (GroupStats, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	groups, err := s.rdb.Do(ctx, s.rdb.B().XinfoGroups().Key(key).Build()).ToArray()
	if err != nil {
		return GroupStats{}, fmt.Errorf("group stats of %s: %w", key, err)
	}
	for _, g := range groups {
		m, err := g.AsMap()
		if err != nil {
			return GroupStats{}, fmt.Errorf("group stats of %s: %w", key, err)
		}
		name := m["name"]
		if n, _ := name.ToString(); n != Group {
			continue
		}
		st := GroupStats{Lag: -1}
		pending := m["pending"]
		st.Pending, _ = pending.AsInt64()
		if lag, ok := m["lag"]; ok {
			if n, err := lag.AsInt64(); err == nil {
				st.Lag = n
			}
		}
		return st, nil
	}
	return GroupStats{}, fmt.Errorf("group stats of %s: no group %s", key, Group)
}

var removeConsumerScript = luaScript("remove_consumer.lua")

// RemoveIdleConsumers deletes, from the group of every partition, the consumers idle longer
// than maxIdle (no read nor claim: their process is gone) that hold nothing pending, except
// those keep names (the caller's own). It returns the names removed, as "name@partition".
func (s *Store) RemoveIdleConsumers(ctx context.Context, maxIdle time.Duration, keep func(name string) bool) ([]string, error) {
	var removed []string
	var errs []error
	for p := range s.opt.Partitions {
		key := s.keys.Requests(p)
		cctx, cancel := s.timeout(ctx)
		consumers, err := s.rdb.Do(cctx, s.rdb.B().XinfoConsumers().Key(key).Group(Group).Build()).ToArray()
		cancel()
		if isNoSuchKey(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("consumers of %s: %w", key, err))
			continue
		}
		for _, c := range consumers {
			m, err := c.AsMap()
			if err != nil {
				continue
			}
			nameMsg, pendingMsg, idleMsg := m["name"], m["pending"], m["idle"]
			name, _ := nameMsg.ToString()
			pending, _ := pendingMsg.AsInt64()
			idle, err := idleMsg.AsInt64()
			if err != nil || name == "" || pending > 0 || time.Duration(idle)*time.Millisecond <= maxIdle || keep(name) {
				continue
			}
			// The script checks again that it holds nothing: a consumer that just came back
			// and took a request keeps it.
			ok, err := s.RemoveConsumer(ctx, p, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				removed = append(removed, name+"@"+strconv.Itoa(p))
			}
		}
	}
	return removed, errors.Join(errs...)
}

// RemoveConsumer deletes consumer from the group of partition p when it holds nothing, so
// the group does not collect the names of stopped processes. It reports whether it did.
func (s *Store) RemoveConsumer(ctx context.Context, p int, consumer string) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	key := s.keys.Requests(p)
	n, err := removeConsumerScript.Exec(ctx, s.rdb, []string{key}, []string{Group, consumer}).AsInt64()
	if isNoGroup(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove consumer %s from %s: %w", consumer, key, err)
	}
	return n == 1, nil
}

// Fields a dead letter adds to the request's own fields.
const (
	DeadFieldError     = "error"
	DeadFieldConsumer  = "consumer"
	DeadFieldAttempts  = "attempts"
	DeadFieldStream    = "stream"
	DeadFieldRequestID = "request_id"
	DeadFieldMessageID = "message_id"
)

// maxDeadValue bounds each copied field of a dead letter (a malformed entry may be anything).
const maxDeadValue = 4096

// DeadLetter is a request that failed past its retries, or could not be read.
type DeadLetter struct {
	Partition int
	RequestID string            // the request entry's ID
	Fields    map[string]string // the request's fields (token, seq), or whatever a malformed entry held
	MessageID string            // the user's message that failed, when known
	Error     string            // what went wrong, readable
	Consumer  string            // who gave up
	Attempts  int               // model calls made
}

// AddDeadLetter appends d to chat:dead (capped at the request streams' max length) and
// returns its ID.
func (s *Store) AddDeadLetter(ctx context.Context, d DeadLetter) (string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	ours := map[string]string{
		DeadFieldError:     d.Error,
		DeadFieldConsumer:  d.Consumer,
		DeadFieldAttempts:  strconv.Itoa(d.Attempts),
		DeadFieldStream:    s.keys.Requests(d.Partition),
		DeadFieldRequestID: d.RequestID,
		DeadFieldMessageID: d.MessageID,
	}
	names := make([]string, 0, len(d.Fields))
	for k := range d.Fields {
		if _, clash := ours[k]; !clash {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	fv := s.rdb.B().Xadd().Key(s.keys.Dead()).Maxlen().Almost().Threshold(strconv.Itoa(s.opt.StreamMaxLen)).Id("*").FieldValue()
	for _, k := range names {
		fv = fv.FieldValue(clip(k), clip(d.Fields[k]))
	}
	for _, k := range []string{DeadFieldError, DeadFieldConsumer, DeadFieldAttempts, DeadFieldStream, DeadFieldRequestID, DeadFieldMessageID} {
		fv = fv.FieldValue(k, clip(ours[k]))
	}
	id, err := s.rdb.Do(ctx, fv.Build()).ToString()
	if err != nil {
		return "", fmt.Errorf("dead-letter request %s: %w", d.RequestID, err)
	}
	return id, nil
}

func clip(v string) string {
	if len(v) > maxDeadValue {
		return v[:maxDeadValue]
	}
	return v
}

// ReadDeadLetters returns up to count entries of chat:dead, oldest first (tests and ops).
func (s *Store) ReadDeadLetters(ctx context.Context, count int) ([]RequestEntry, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.rdb.Do(ctx, s.rdb.B().Xrange().Key(s.keys.Dead()).Start("-").End("+").Count(int64(count)).Build()).AsXRange()
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	return entries(-1, res), nil
}
