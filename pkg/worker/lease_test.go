package worker_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// A stop asked while the reply streams is seen with the reply's next delta, not only with the
// lease's next renewal: here the renewals are half a minute apart and the stop takes effect
// within seconds.
func TestStopSeenWithTheNextDelta(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		opt := options("w", slowWords(strings.Repeat("word ", 100), 100*time.Millisecond)) // 10s unless stopped
		opt.ClaimIdle, opt.Lease, opt.RenewEvery = 2*time.Minute, time.Minute, 30*time.Second
		e.start(opt)
		tok := e.session()
		q := e.send(tok, "long")
		storetest.Eventually(t, 10*time.Second, "a delta", func() bool {
			return len(ofType(e.events(tok), chat.FrameDelta)) > 0
		})
		if n, err := e.st.Stop(e.ctx, tok); err != nil || n != 1 {
			t.Fatalf("stop %d %v", n, err)
		}
		h := e.waitHistory(tok, 2, 5*time.Second)
		if r := h[1]; !r.Stopped || r.ReplyTo != q.ID || r.Msg == "" {
			t.Fatalf("stopped reply %+v", r)
		}
	})
}

// While a reply's deltas are written (each checks the lease), its lease is renewed every
// Lease/3, not every RenewEvery, and never lapses: seen with MONITOR on a Redis of the test's
// own, which shows each renewal (renew_leases.lua's HSET of 'until') and when it ran.
func TestStreamingReplyRenewsItsLeaseEveryThirdOfIt(t *testing.T) {
	const lease, every = 1500 * time.Millisecond, 100 * time.Millisecond
	took, at := renewalsOfOneReply(t, lease, every, slowWords(strings.Repeat("word ", 60), 50*time.Millisecond)) // 3s
	renewals := len(at) - 1
	// Renewed every RenewEvery, it would be about took/every times (30 for a 3s reply); every
	// Lease/3, about took/(lease/3) (6). Half the first leaves room for the renewals a loaded
	// machine adds when a delta comes more than RenewEvery after the one before.
	if most := int(took/every) / 2; renewals > most || renewals < 2 {
		t.Fatalf("a reply of %s renewed its lease %d times, want 2..%d (every %s, a third of the lease, is about %d)",
			took.Round(time.Millisecond), renewals, most, lease/3, int(took/(lease/3)))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap > 2*lease/3+2*every {
			t.Fatalf("the lease went %s without a renewal (renewal %d of %d), want at most %s of its %s", gap, i, renewals, 2*lease/3+2*every, lease)
		}
	}
}

// A reply that writes no delta yet (the model thinking before its first token) is renewed every
// RenewEvery, its renewals then the only way it sees a stop: a renewal does not count as a
// delta heard.
func TestSilentReplyRenewsItsLeaseEveryRenewEvery(t *testing.T) {
	const lease, every = 3 * time.Second, 100 * time.Millisecond
	silent := llm.Func(func(ctx context.Context, _ []llm.Message, _ func(string) error) (string, error) {
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(1500 * time.Millisecond): // a timer standing for the model, not a wait for an event
		}
		return "at last", nil
	})
	took, at := renewalsOfOneReply(t, lease, every, silent)
	// A tick a loaded machine runs late skips a grid point: 0.7 of the ticks leaves room for
	// that, and a renewal counted as heard halves them (every other tick skipped).
	if renewals, least := len(at)-1, int(took/every)*7/10; renewals < least {
		t.Fatalf("a silent reply of %s renewed its lease %d times, want at least %d (every %s)", took.Round(time.Millisecond), renewals, least, every)
	}
}

// renewalsOfOneReply answers one message with model on a worker of the given lease and
// RenewEvery, against a Redis of its own, and returns how long the reply took and when the lease
// was written (MONITOR): the turn begun, then each renewal.
func renewalsOfOneReply(t *testing.T, lease, every time.Duration, model llm.Model) (time.Duration, []time.Time) {
	t.Helper()
	node := redistest.NewNode(t, redistest.Options{Name: "lease"})
	sopt := store.Options{Prefix: storetest.Prefix(t), Partitions: 1}
	e := newEnv(t, 1, func() *store.Store {
		return storetest.Open(t, storetest.Backend{Name: "single", URL: node.URL()}, sopt)
	})
	opt := options("w", model)
	opt.ClaimIdle, opt.Lease, opt.RenewEvery = 2*lease, lease, every
	e.start(opt)
	tok := e.session()
	mon := node.Monitor(t)
	began := time.Now()
	e.send(tok, "long")
	e.waitHistory(tok, 2, 20*time.Second)
	took := time.Since(began)

	renewal := regexp.MustCompile(`^\+(\d+)\.(\d+) .*"HSET" "[^"]+" "until" "\d+"$`)
	begin := regexp.MustCompile(`^\+(\d+)\.(\d+) .*"HSET" "[^"]+" "lease" "[^"]+" "until"`)
	stamp := func(m []string) time.Time {
		s, _ := strconv.ParseInt(m[1], 10, 64)
		us, _ := strconv.ParseInt(m[2], 10, 64)
		return time.Unix(s, us*1000)
	}
	var at []time.Time
	for _, line := range mon.Until(t, e.ctx) {
		if m := begin.FindStringSubmatch(line); m != nil && len(at) == 0 {
			at = append(at, stamp(m))
		} else if m := renewal.FindStringSubmatch(line); m != nil && len(at) > 0 {
			at = append(at, stamp(m))
		}
	}
	if len(at) == 0 {
		t.Fatal("MONITOR showed no turn begun")
	}
	return took, at
}
