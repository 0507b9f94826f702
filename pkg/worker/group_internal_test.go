package worker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

// groupEnv is a store on a Redis of the test's own (its INFO commandstats counts the script
// steps) with turns begun in n sessions of their own, each by its own holder.
type groupEnv struct {
	node  *redistest.Node
	st    *store.Store
	ctx   context.Context
	turns []store.Turn
}

func newGroupEnv(t *testing.T, n int) *groupEnv {
	t.Helper()
	node := redistest.NewNode(t, redistest.Options{Name: "group"})
	e := &groupEnv{node: node, st: storetest.Open(t, storetest.Backend{Name: "single", URL: "redis://" + node.Addr() + "/0"}, store.Options{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	e.ctx = ctx
	for i := range n {
		sess, err := e.st.CreateSession(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		msg := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: "hi", Timestamp: time.Now().UTC()}
		if _, err := e.st.Send(ctx, sess.Token, msg, store.SendLimits{MaxPending: 16, MessagesPerMinute: 60}); err != nil {
			t.Fatal(err)
		}
		turn, _, err := e.st.BeginTurn(ctx, sess.Token, "w"+strconv.Itoa(i), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		e.turns = append(e.turns, turn)
	}
	return e
}

// steps is the script steps the node has run.
func (e *groupEnv) steps(t *testing.T) int {
	t.Helper()
	n, err := e.node.Calls(e.ctx, "evalsha", "eval")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// together calls f for every turn from a goroutine of its own, all at once, and returns the
// script steps they took.
func (e *groupEnv) together(t *testing.T, f func(i int, turn store.Turn)) int {
	t.Helper()
	before := e.steps(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, turn := range e.turns {
		wg.Go(func() {
			<-start
			f(i, turn)
		})
	}
	close(start)
	wg.Wait()
	return e.steps(t) - before
}

// The deltas of many replies written at the same moment go to Redis as a group: a few script
// steps, not one per delta; each still lands in its own session's stream.
func TestGroupWritesDeltasTogether(t *testing.T) {
	const replies = 40
	e := newGroupEnv(t, replies+1)
	g := &group[store.Delta]{write: e.st.EmitDeltas}
	delta := func(t store.Turn) store.Delta {
		return store.Delta{Turn: t, Event: chat.Event{Type: chat.FrameDelta, ReplyTo: t.Message.ID, Text: "to " + t.Holder}}
	}
	if d := g.do(e.ctx, delta(e.turns[0])); d.Err != nil { // the script loaded
		t.Fatal(d.Err)
	}
	e.turns = e.turns[1:]
	written := make([]store.Delta, replies)
	n := e.together(t, func(i int, turn store.Turn) { written[i] = g.do(e.ctx, delta(turn)) })
	for i, turn := range e.turns {
		evs, err := e.st.ReadEvents(e.ctx, turn.Token, "", 10)
		if d := written[i]; d.Err != nil || err != nil || len(evs) != 2 || evs[1].ID != d.ID || !strings.Contains(string(evs[1].Body), "to "+turn.Holder) {
			t.Fatalf("reply %d: wrote %q %v; its events %+v %v", i, d.ID, d.Err, evs, err)
		}
	}
	if n > replies/4 {
		t.Fatalf("%d deltas written at once took %d script steps: they are not written together", replies, n)
	}
	t.Logf("%d deltas written at once in %d script steps", replies, n)
}

// The leases of many replies renewed at the same moment are renewed as a group, each with its
// own result: renewed, a stop the user asked for, or lost to another holder.
func TestGroupRenewsLeasesTogether(t *testing.T) {
	const replies = 40
	e := newGroupEnv(t, replies+1)
	g := &group[store.Renewal]{write: e.st.RenewLeases}
	if r := g.do(e.ctx, store.Renewal{Turn: e.turns[0], Lease: time.Minute}); r.Err != nil { // the script loaded
		t.Fatal(r.Err)
	}
	e.turns = e.turns[1:]
	if _, err := e.st.Stop(e.ctx, e.turns[1].Token); err != nil {
		t.Fatal(err)
	}
	e.turns[2].Holder = "another attempt"
	renewed := make([]store.Renewal, replies)
	n := e.together(t, func(i int, turn store.Turn) {
		renewed[i] = g.do(e.ctx, store.Renewal{Turn: turn, Lease: 2 * time.Minute})
	})
	for i, r := range renewed {
		switch {
		case i == 1 && (r.Err != nil || !r.Stop):
			t.Errorf("reply %d, asked to stop: stop %v, %v", i, r.Stop, r.Err)
		case i == 2 && !errors.Is(r.Err, store.ErrLeaseLost):
			t.Errorf("reply %d, held by another attempt: %v, want ErrLeaseLost", i, r.Err)
		case i != 1 && i != 2 && (r.Err != nil || r.Stop):
			t.Errorf("reply %d: stop %v, %v", i, r.Stop, r.Err)
		}
	}
	if n > replies/4 {
		t.Fatalf("%d leases renewed at once took %d script steps: they are not renewed together", replies, n)
	}
	t.Logf("%d leases renewed at once in %d script steps", replies, n)
}

// A group whose write panics gives every other item of it an error and passes the lead on:
// none waits for ever, and the groups after it are written.
func TestGroupWriteThatPanicsReleasesTheOthers(t *testing.T) {
	type item struct {
		v   int
		err error
	}
	var (
		mu      sync.Mutex
		calls   int
		started = make(chan struct{})
		release = make(chan struct{})
	)
	g := &group[item]{
		write: func(_ context.Context, items []item) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			switch n {
			case 1: // holds the line while the next group gathers
				close(started)
				<-release
			case 2:
				panic("boom")
			}
			for i := range items {
				items[i].v *= 10
			}
		},
		fail: func(it *item, err error) { it.err = err },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type outcome struct {
		it       item
		panicked bool
	}
	do := func(v int, out chan<- outcome) {
		defer func() {
			if r := recover(); r != nil {
				out <- outcome{panicked: true}
			}
		}()
		out <- outcome{it: g.do(ctx, item{v: v})}
	}
	first := make(chan outcome, 1)
	go do(1, first)
	<-started
	next := make(chan outcome, 2)
	go do(2, next)
	go do(3, next)
	storetest.Eventually(t, 10*time.Second, "two items waiting behind the write", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.queue) == 2
	})
	close(release)
	if o := <-first; o.panicked || o.it.v != 10 || o.it.err != nil {
		t.Fatalf("the first group: %+v", o)
	}
	var got []outcome
	for range 2 {
		select {
		case o := <-next:
			got = append(got, o)
		case <-ctx.Done():
			t.Fatalf("the items of the group whose write panicked still wait (got %+v)", got)
		}
	}
	if got[0].panicked == got[1].panicked {
		t.Fatalf("the panicking group: %+v, want its writer's panic and the other's error", got)
	}
	other := got[0]
	if other.panicked {
		other = got[1]
	}
	if !errors.Is(other.it.err, errGroupPanicked) {
		t.Fatalf("the other item of the panicking group: %+v, want errGroupPanicked", other)
	}
	if it := g.do(ctx, item{v: 4}); it.v != 40 || it.err != nil {
		t.Fatalf("a group after the panic: %+v", it)
	}
}
