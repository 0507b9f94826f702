package worker

import (
	"context"
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

// The deltas of many replies written at the same moment go to Redis as a group: a few script
// steps, not one per delta; each still lands in its own session's stream. Counted on a Redis
// of this test's own (INFO commandstats).
func TestDeltaWriterWritesTogether(t *testing.T) {
	node := redistest.NewNode(t, redistest.Options{Name: "deltas"})
	st := storetest.Open(t, storetest.Backend{Name: "single", URL: "redis://" + node.Addr() + "/0"}, store.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const replies = 40
	turns := make([]store.Turn, replies+1)
	for i := range turns {
		sess, err := st.CreateSession(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		msg := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: "hi", Timestamp: time.Now().UTC()}
		if _, err := st.Send(ctx, sess.Token, msg, store.SendLimits{MaxPending: 16, MessagesPerMinute: 60}); err != nil {
			t.Fatal(err)
		}
		if turns[i], _, err = st.BeginTurn(ctx, sess.Token, "w"+strconv.Itoa(i), 10, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	w := &deltaWriter{st: st}
	delta := func(t store.Turn) chat.Event {
		return chat.Event{Type: chat.FrameDelta, ReplyTo: t.Message.ID, Text: "to " + t.Holder}
	}
	if _, err := w.write(ctx, turns[0], delta(turns[0])); err != nil { // the script loaded
		t.Fatal(err)
	}
	turns = turns[1:]
	steps := func() int {
		n, err := node.Calls(ctx, "evalsha", "eval")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := steps()
	ids := make([]string, replies)
	errs := make([]error, replies)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, turn := range turns {
		wg.Go(func() {
			<-start
			ids[i], errs[i] = w.write(ctx, turn, delta(turn))
		})
	}
	close(start)
	wg.Wait()
	n := steps() - before
	for i, turn := range turns {
		evs, err := st.ReadEvents(ctx, turn.Token, "", 10)
		if errs[i] != nil || err != nil || len(evs) != 2 || evs[1].ID != ids[i] || !strings.Contains(string(evs[1].Body), "to "+turn.Holder) {
			t.Fatalf("reply %d: wrote %q %v; its events %+v %v", i, ids[i], errs[i], evs, err)
		}
	}
	if n > replies/4 {
		t.Fatalf("%d deltas written at once took %d script steps: they are not written together", replies, n)
	}
	t.Logf("%d deltas written at once in %d script steps", replies, n)
}
