package worker_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
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
	node := redistest.NewNode(t, redistest.Options{Name: "lease"})
	sopt := store.Options{Prefix: storetest.Prefix(t), Partitions: 1}
	e := newEnv(t, 1, func() *store.Store {
		return storetest.Open(t, storetest.Backend{Name: "single", URL: node.URL()}, sopt)
	})
	const lease, every = 1500 * time.Millisecond, 100 * time.Millisecond
	opt := options("w", slowWords(strings.Repeat("word ", 60), 50*time.Millisecond)) // 3s
	opt.ClaimIdle, opt.Lease, opt.RenewEvery = 3*time.Second, lease, every
	e.start(opt)
	tok := e.session()
	mon := node.Monitor(t)
	began := time.Now()
	e.send(tok, "long")
	e.waitHistory(tok, 2, 20*time.Second)
	took := time.Since(began)

	renewal := regexp.MustCompile(`^\+(\d+)\.(\d+) .*"HSET" "[^"]+" "until" "\d+"$`)
	begin := regexp.MustCompile(`^\+(\d+)\.(\d+) .*"HSET" "[^"]+" "lease" "[^"]+" "until"`)
	var at []time.Time // the lease written: begun, then each renewal
	stamp := func(m []string) time.Time {
		s, _ := strconv.ParseInt(m[1], 10, 64)
		us, _ := strconv.ParseInt(m[2], 10, 64)
		return time.Unix(s, us*1000)
	}
	renewals := 0
	for _, line := range mon.Until(t, e.ctx) {
		if m := begin.FindStringSubmatch(line); m != nil && len(at) == 0 {
			at = append(at, stamp(m))
		} else if m := renewal.FindStringSubmatch(line); m != nil && len(at) > 0 {
			at = append(at, stamp(m))
			renewals++
		}
	}
	if len(at) == 0 {
		t.Fatal("MONITOR showed no turn begun")
	}
	// Renewed every RenewEvery, it would be about took/every times (30 for a 3s reply); every
	// Lease/3, about took/(lease/3) (6). Half the first leaves room for the renewals a loaded
	// machine adds when a delta comes more than RenewEvery after the one before.
	if most := int(took/every) / 2; renewals > most || renewals < 2 {
		t.Fatalf("a reply of %s renewed its lease %d times, want 2..%d (every %s, a third of the lease, is about %d)",
			took.Round(time.Millisecond), renewals, most, lease/3, int(took/(lease/3)))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap > 2*lease/3+2*every {
			t.Fatalf("the lease went %s without a renewal (renewal %d of %d), want at most %s of its %s", gap, i, len(at)-1, 2*lease/3+2*every, lease)
		}
	}
}
