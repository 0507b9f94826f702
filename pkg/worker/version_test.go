package worker_test

import (
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store/storetest"
)

// TestNewerRequestLeftAlone: a request entry of a newer format (a newer worker's, in a rolling
// deploy) is neither answered, acknowledged nor dead-lettered: it stays pending for a newer
// worker, while the entries this worker reads are answered as usual.
func TestNewerRequestLeftAlone(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		if err := e.st.EnsureGroups(e.ctx); err != nil {
			t.Fatal(err)
		}
		rdb := e.st.Client()
		newer := e.session()
		err := rdb.Do(e.ctx, rdb.B().Xadd().Key(e.st.Keys().Requests(0)).Id("*").FieldValue().
			FieldValue(chat.ReqFieldToken, newer).FieldValue(chat.ReqFieldSeq, "1").FieldValue(chat.ReqFieldVersion, "2").Build()).Error()
		if err != nil {
			t.Fatal(err)
		}
		w := e.start(options("old", llm.Echo{}))
		storetest.Eventually(t, 10*time.Second, "the newer entry left", func() bool {
			return w.metric(t, "chatbot_worker_requests_left_newer_total") >= 1
		})
		tok := e.session()
		e.send(tok, "today's format")
		if h := e.waitHistory(tok, 2, 20*time.Second); h[1].Msg != "echo: today's format" {
			t.Fatalf("history %s", texts(h))
		}
		storetest.Eventually(t, 10*time.Second, "only the newer entry pending", func() bool {
			st, err := e.st.RequestGroupStats(e.ctx, 0)
			return err == nil && st.Pending == 1
		})
		if dead, _ := e.st.ReadDeadLetters(e.ctx, 10); len(dead) != 0 {
			t.Errorf("dead letters %+v: a newer entry is not malformed", dead)
		}
		// The counter follows the acknowledgement: wait for it before comparing.
		storetest.Eventually(t, 10*time.Second, "the current request counted", func() bool {
			return w.metric(t, "chatbot_worker_requests_processed_total") >= 1
		})
		if n := w.metric(t, "chatbot_worker_requests_processed_total"); n != 1 {
			t.Errorf("requests processed %v, want 1 (the newer one left pending)", n)
		}
	})
}
