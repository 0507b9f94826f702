package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"chatbot/pkg/chat"

	"github.com/redis/rueidis"
)

// TurnState says what BeginTurn found.
type TurnState int

const (
	// TurnFailed is what BeginTurn returns with an error: nothing is known.
	TurnFailed TurnState = iota
	// TurnReady: the lease is ours and Turn holds the next message to answer. With
	// ErrDamagedMessage, the lease is ours but the message cannot be read.
	TurnReady
	// TurnDone: nothing of the session is pending; acknowledge the request.
	TurnDone
	// TurnBusy: another worker attempt holds the lease: it answers what is pending, and its
	// request stays pending until nothing is (RetryAfter: the lease's time left).
	TurnBusy
	// TurnGone: the session no longer exists; acknowledge the request.
	TurnGone
)

// Turn is one message to answer, with the context the model gets.
type Turn struct {
	Token   string
	Holder  string
	User    string // the session's owner (auth.mode jwt), "" for none
	Seq     int64
	Message chat.Message   // the user's message
	History []chat.Message // earlier messages, oldest first
	// Regen is set when the turn answers a regenerate command: Message (the history's last user
	// message) again, its reply to replace Regen.Replaces. History then ends before Message.
	Regen   *chat.Regeneration
	Restart bool // an earlier attempt at this turn began (and may have streamed)
	Stop    bool // the user asked to stop before it began
	// Deltas are the IDs of the delta events written for this turn (EmitDelta): storing the
	// turn drops them, since its message event has the whole reply.
	Deltas []string
	// raw is the message as stored: storing the turn moves it to the history as it is.
	raw string
	// PromptEstimate is the tokens of the prompt the model gets, estimated by BeginTurn from
	// the stored message and history: with Budget.ReplyTokens, what the turn reserves.
	PromptEstimate int64
	// Quota: the day's budget of the session's user is spent (auth.mode none: BeginTurn checked
	// it; jwt: Reserve does): answer the turn with the quota error, without calling the model.
	Quota bool
	// Usage is what the turn's model calls used, for FinishTurn to count (nil: no call made).
	Usage *chat.Usage
	// RetryAfter is set with TurnBusy: the lease's time left.
	RetryAfter time.Duration
	// Traceparent is the W3C traceparent the turn's events carry (chat.Event.Traceparent): set
	// by a worker that traces, "" otherwise. (The message's own, the trace of its queueing, is
	// Message.Traceparent.)
	Traceparent string
}

// Safe to repeat for the same holder: the lease is its own already, the turn the same (the
// second run sees the turn begun and marks it a restart, which only clears a reply not yet
// streamed).
var beginScript = repeatableScript(sessionScript("begin_turn.lua"))

// BeginTurn takes the session's lease for holder (or renews it if holder has it) and reads
// the next pending message with up to historyN earlier messages; TurnDone when nothing is
// pending. A request only says "the session may have work": whoever holds the lease answers
// everything pending, in order, whichever request brought it there.
func (s *Store) BeginTurn(ctx context.Context, token, holder string, historyN int, lease time.Duration) (Turn, TurnState, error) {
	status, rest, err := reply(s.evalSession(ctx, beginScript, token, holder, ms(lease.Milliseconds()), strconv.Itoa(historyN),
		day(s.opt.Budget.Now()), strconv.FormatInt(s.opt.Budget.TokensPerDay, 10)))
	if err != nil {
		return Turn{}, TurnFailed, fmt.Errorf("begin turn: %w", err)
	}
	t := Turn{Token: token, Holder: holder}
	switch status {
	case "gone":
		return t, TurnGone, nil
	case "done":
		return t, TurnDone, nil
	case "busy":
		left, _ := rest[0].AsInt64()
		t.RetryAfter = time.Duration(left) * time.Millisecond
		return t, TurnBusy, nil
	case "turn":
	default:
		return t, TurnFailed, fmt.Errorf("begin turn: unexpected reply %q", status)
	}
	t.Seq, _ = rest[0].AsInt64()
	raw, _ := rest[1].ToString()
	t.raw = raw
	switch {
	case chat.IsRegeneration([]byte(raw)):
		r, m, err := chat.DecodeRegeneration([]byte(raw))
		if err != nil {
			return t, TurnReady, fmt.Errorf("begin turn: %w: %w", ErrDamagedMessage, err)
		}
		t.Regen, t.Message = &r, m
	case raw != "":
		if t.Message, err = chat.DecodeMessage([]byte(raw)); err != nil {
			return t, TurnReady, fmt.Errorf("begin turn: %w: %w", ErrDamagedMessage, err)
		}
	}
	restart, _ := rest[2].AsInt64()
	stop, _ := rest[3].AsInt64()
	t.Restart, t.Stop = restart == 1, stop == 1
	hist, _ := rest[4].AsStrSlice()
	t.History = decodeMessages(hist)
	if t.Regen != nil {
		// The message answered again, and the reply it replaces, are the history's last.
		for i := len(t.History) - 1; i >= 0; i-- {
			if t.History[i].ID == t.Message.ID {
				t.History = t.History[:i]
				break
			}
		}
	}
	t.User, _ = rest[5].ToString()
	t.PromptEstimate, _ = rest[6].AsInt64()
	quota, _ := rest[7].AsInt64()
	t.Quota = quota == 1
	return t, TurnReady, nil
}

// Safe to repeat: they extend the same leases.
var (
	renewScript  = repeatableScript(sessionScript("renew_lease.lua", "lease.lua"))
	renewsScript = repeatableScript(sessionScript("renew_leases.lua", "lease.lua"))
)

// RenewLease extends the lease of a turn being worked on. It reports whether the user asked
// to stop it; ErrLeaseLost when the lease is no longer the turn's.
func (s *Store) RenewLease(ctx context.Context, t Turn, lease time.Duration) (stop bool, err error) {
	arr, err := s.evalSession(ctx, renewScript, t.Token, t.Holder, ms(lease.Milliseconds()), strconv.FormatInt(t.Seq, 10)).AsIntSlice()
	if err != nil {
		return false, fmt.Errorf("renew lease: %w", err)
	}
	if len(arr) != 2 || arr[0] != 1 {
		return false, ErrLeaseLost
	}
	return arr[1] == 1, nil
}

// Renewal is a turn's lease to renew for Lease more, for RenewLeases; Stop and Err are what
// renewing it gave (as RenewLease's).
type Renewal struct {
	Turn  Turn
	Lease time.Duration
	Stop  bool
	Err   error
}

// RenewLeases renews the leases of many turns (rs, a turn each, in any sessions), each as
// RenewLease does, and sets each one's Stop or Err: on a single Redis up to stepMax in one
// script, on a cluster each in its own (inSteps).
func (s *Store) RenewLeases(ctx context.Context, rs []Renewal) {
	s.inSteps(len(rs), func(i int) {
		rs[i].Stop, rs[i].Err = s.RenewLease(ctx, rs[i].Turn, rs[i].Lease)
	}, func(lo, hi int) { s.renewLeases(ctx, rs[lo:hi]) })
}

func (s *Store) renewLeases(ctx context.Context, rs []Renewal) {
	fail := func(err error) {
		for i := range rs {
			rs[i].Err = err
		}
	}
	tokens := make([]string, len(rs))
	args := make([]string, 0, 3*len(rs))
	for i, r := range rs {
		tokens[i] = r.Turn.Token
		args = append(args, r.Turn.Holder, ms(r.Lease.Milliseconds()), strconv.FormatInt(r.Turn.Seq, 10))
	}
	arr, err := s.evalStep(ctx, renewsScript, tokens, false, args)
	if err != nil {
		fail(fmt.Errorf("renew leases: %w", err))
		return
	}
	for i, a := range arr {
		held, err := a.AsIntSlice()
		switch {
		case err != nil:
			rs[i].Err = fmt.Errorf("renew leases: %w", err)
		case len(held) != 2 || held[0] != 1:
			rs[i].Err = ErrLeaseLost
		default:
			rs[i].Stop = held[1] == 1
		}
	}
}

// stepMax bounds what one step of EmitDeltas or RenewLeases writes: Redis runs nothing else
// while a script runs (a few µs an item).
const stepMax = 64

// inSteps runs the steps of n items all at once (rueidis pipelines concurrent commands on a
// connection: they go out together) and waits for them: on a single Redis many for each run of
// at most stepMax items (one script a run), on a cluster one for each item (its own script:
// the items' sessions are on any slot).
func (s *Store) inSteps(n int, one func(i int), many func(lo, hi int)) {
	size := stepMax
	if !s.oneNode {
		size = 1
	}
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		wg.Go(func() {
			if size == 1 {
				one(lo)
				return
			}
			many(lo, hi)
		})
	}
	wg.Wait()
}

// evalStep runs a script of many sessions (one step of inSteps, a single Redis) with the keys
// of each session of tokens (its hash, and with out its event stream) and args, and returns its
// reply for each. A token the project never issues fails the step before it reaches Redis.
func (s *Store) evalStep(ctx context.Context, sc *rueidis.Lua, tokens []string, out bool, args []string) ([]rueidis.RedisMessage, error) {
	keys := make([]string, 0, 2*len(tokens))
	for _, t := range tokens {
		if !chat.ValidToken(t) {
			return nil, ErrSessionNotFound
		}
		keys = append(keys, s.keys.Session(t))
		if out {
			keys = append(keys, s.keys.Out(t))
		}
	}
	arr, err := s.evalSessionKeys(ctx, sc, tokens[0], keys, args...).ToArray()
	if err == nil && len(arr) != len(tokens) {
		err = fmt.Errorf("%d results for %d sessions", len(arr), len(tokens))
	}
	return arr, err
}

// EmitDelta writes an event (a delta) of the turn, only while the lease is the turn's. It does
// not know the turn's delta before it, so after the first the script reads the stream's tail
// for it (one command more): the worker writes through EmitDeltas, with Delta.Prev, and learns
// there of a stop (Delta.Stop).
func (s *Store) EmitDelta(ctx context.Context, t Turn, ev chat.Event) (string, error) {
	id, _, err := s.emit(ctx, t.Token, t.Holder, "", t.Seq, ev)
	return id, err
}

// Delta is a delta event of a turn, for EmitDeltas; ID and Err are what writing it gave (as
// EmitDelta's).
type Delta struct {
	Turn  Turn
	Event chat.Event
	// Prev is the ID of the delta the turn's holder wrote before this one, "" for none or not
	// known (a write that failed): with it the script reads nothing more to announce the
	// delta after its predecessor (prelude.lua).
	Prev string
	ID   string
	// Stop: the delta was written, and the user has asked to stop its turn (Store.Stop), which
	// the lease's renewal would report too (Renewal.Stop).
	Stop bool
	Err  error
}

var emitDeltasScript = sessionScript("emit_deltas.lua")

// EmitDeltas writes the delta events of many turns (ds, a delta each, in any sessions), each
// only while its lease is its turn's as EmitDelta does, and sets each one's ID or Err. On a
// single Redis one script writes up to stepMax of them, which costs Redis a fraction of a
// script for each; on a cluster each is its own script (inSteps).
func (s *Store) EmitDeltas(ctx context.Context, ds []Delta) {
	s.inSteps(len(ds), func(i int) {
		d := &ds[i]
		d.ID, d.Stop, d.Err = s.emit(ctx, d.Turn.Token, d.Turn.Holder, d.Prev, d.Turn.Seq, d.Event)
	}, func(lo, hi int) { s.emitDeltas(ctx, ds[lo:hi]) })
}

func (s *Store) emitDeltas(ctx context.Context, ds []Delta) {
	fail := func(err error) {
		for i := range ds {
			ds[i].Err = err
		}
	}
	tokens := make([]string, len(ds))
	args := make([]string, 0, 5*len(ds))
	for i, d := range ds {
		body, err := EncodeEvent(d.Event)
		if err != nil {
			fail(err)
			return
		}
		tokens[i] = d.Turn.Token
		args = append(args, s.keys.Notify(d.Turn.Token), d.Turn.Holder, strconv.FormatInt(d.Turn.Seq, 10), d.Prev, body)
	}
	arr, err := s.evalStep(ctx, emitDeltasScript, tokens, true, args)
	if err != nil {
		fail(fmt.Errorf("emit deltas: %w", err))
		return
	}
	for i, r := range arr {
		ds[i].ID, ds[i].Stop, ds[i].Err = written(r)
		if isNil(ds[i].Err) {
			ds[i].Err = ErrLeaseLost
		}
	}
}

// Finished is the outcome of FinishTurn.
type Finished struct {
	Offset string // the event's offset
	More   bool   // more messages are pending: the lease is still ours for the next turn
	// Acked: FinishTurnAck acknowledged the request in the same step.
	Acked bool
	// Unsettled: counting the turn's usage for its user failed (auth.mode jwt; the turn is
	// stored all the same, and its reservation lapses on its own).
	Unsettled error
}

// RequestRef names the request a turn is worked on for: its entry in a partition stream and
// the seq it asks to be answered up to.
type RequestRef struct {
	Partition int
	ID        string
	Seq       int64
}

// FinishTurn stores a turn in one step: the user's message moves from pending to the history,
// followed by answer (nil when the turn failed; a regeneration's answer replaces the reply it
// names, and one that failed leaves it there), the turn is marked done, ev (the message or
// error event) is written and the turn's deltas (t.Deltas) are dropped. ErrLeaseLost: another attempt owns the session; ErrSessionNotFound:
// it was deleted or expired; ErrStaleTurn: the turn was answered already (nothing is stored).
func (s *Store) FinishTurn(ctx context.Context, t Turn, answer *chat.Message, ev chat.Event) (Finished, error) {
	return s.finishTurn(ctx, t, answer, ev, nil)
}

// FinishTurnAck is FinishTurn for a turn worked on for request req. When the turn answers
// req (t.Seq >= req.Seq), nothing else is pending and Redis is a single node, the request is
// acknowledged in the same step (Finished.Acked), which saves the worker its XACK round trip;
// otherwise the caller acknowledges it as usual.
func (s *Store) FinishTurnAck(ctx context.Context, t Turn, answer *chat.Message, ev chat.Event, req RequestRef) (Finished, error) {
	if !s.oneNode || t.Seq < req.Seq || req.ID == "" {
		return s.finishTurn(ctx, t, answer, ev, nil)
	}
	return s.finishTurn(ctx, t, answer, ev, &req)
}

var finishScript = sessionScript("finish_turn.lua")

// maxDroppedDeltas bounds the delta IDs one finish drops (a Lua unpack holds a few thousand).
const maxDroppedDeltas = 1000

func (s *Store) finishTurn(ctx context.Context, t Turn, answer *chat.Message, ev chat.Event, req *RequestRef) (Finished, error) {
	replyJSON := ""
	if answer != nil {
		b, err := chat.Marshal(answer)
		if err != nil {
			return Finished{}, err
		}
		replyJSON = string(b)
	}
	body, err := EncodeEvent(ev)
	if err != nil {
		return Finished{}, err
	}
	args := make([]string, 0, 13+min(len(t.Deltas), maxDroppedDeltas))
	// The history keeps the message without the trace of its queueing.
	args = append(args, t.Holder, strconv.FormatInt(t.Seq, 10), chat.WithoutTraceparent(t.raw, t.Message.Traceparent), replyJSON, ev.Type, body, s.historyCaps())
	var more []string
	if req != nil {
		more = []string{s.keys.Requests(req.Partition)}
		args = append(args, Group, req.ID)
	} else {
		args = append(args, "", "")
	}
	// The newest deltas, if there are more than a script's arguments hold: the oldest stay until
	// the stream's cap trims them.
	var used chat.Usage
	count := "0"
	if t.Usage != nil {
		used, count = *t.Usage, "1"
	}
	args = append(args, day(s.opt.Budget.Now()), strconv.FormatInt(used.PromptTokens, 10),
		strconv.FormatInt(used.CompletionTokens, 10), count)
	args = append(args, t.Deltas[max(len(t.Deltas)-maxDroppedDeltas, 0):]...)
	var settled chan error
	if t.User != "" && t.Usage != nil {
		// The user's usage (another slot) is settled beside the finish: rueidis pipelines the
		// two, so it costs no round trip of its own.
		settled = make(chan error, 1)
		go func() { settled <- s.settle(ctx, t) }()
	}
	status, rest, err := reply(s.evalSessionKeys(ctx, finishScript, t.Token, more, args...))
	var unsettled error
	if settled != nil {
		unsettled = <-settled
	}
	if err != nil {
		return Finished{}, fmt.Errorf("finish turn: %w", err)
	}
	switch status {
	case "ok":
		off, _ := rest[0].ToString()
		more, _ := rest[1].AsInt64()
		acked, _ := rest[2].AsInt64()
		return Finished{Offset: off, More: more == 1, Acked: acked == 1, Unsettled: unsettled}, nil
	case "gone":
		return Finished{}, ErrSessionNotFound
	case "lost":
		return Finished{}, ErrLeaseLost
	case "stale":
		return Finished{}, ErrStaleTurn
	}
	return Finished{}, fmt.Errorf("finish turn: unexpected reply %q", status)
}

// Safe to repeat: a released lease is not the holder's any more.
var releaseScript = repeatableScript(sessionScript("release_lease.lua"))

// ReleaseLease gives the session's lease back if holder still has it (a worker that stops
// without finishing, e.g. on shutdown).
func (s *Store) ReleaseLease(ctx context.Context, token, holder string) error {
	return s.evalSession(ctx, releaseScript, token, holder, "0").Error()
}

// LeaseQueued is the lease of a session whose worker gave it back with YieldLease (QUEUED in
// lua/prelude.lua): no worker attempt holds it.
const LeaseQueued = "queued"

// YieldLease gives holder's lease back for a session whose request the caller puts back at the
// end of its stream (Requeue), and marks the session queued for up to hold: a message sent to
// it meanwhile queues no request of its own (the request put back answers it), so a session
// waiting for a slot has one request in the stream, not one per message. The first turn begun
// takes the session as if free; a BeginTurn that finds nothing to answer clears the mark.
func (s *Store) YieldLease(ctx context.Context, token, holder string, hold time.Duration) error {
	return s.evalSession(ctx, releaseScript, token, holder, ms(max(hold.Milliseconds(), 1))).Error()
}
