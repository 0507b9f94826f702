package worker_test

import (
	"strconv"
	"testing"
	"time"

	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// TestWorkerTrimsByAge: a running worker trims the request streams and chat:dead by
// stream.max_age, so that neither keeps its entries for good; young entries stay.
func TestWorkerTrimsByAge(t *testing.T) {
	embedded(t, 1, func(t *testing.T, e *env) {
		rdb, keys := e.st.Client(), e.st.Keys()
		old := strconv.FormatInt(time.Now().Add(-48*time.Hour).UnixMilli(), 10) + "-1"
		if err := rdb.Do(e.ctx, rdb.B().Xadd().Key(keys.Dead()).Id(old).FieldValue().FieldValue("error", "long ago").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.AddDeadLetter(e.ctx, store.DeadLetter{RequestID: "1-1", Error: "just now"}); err != nil {
			t.Fatal(err)
		}
		tok := e.session()
		e.send(tok, "answered, then trimmed")
		opt := options("trimmer", llm.Echo{})
		opt.TrimEvery = 50 * time.Millisecond
		opt.Store = e.open()
		w := e.start(opt)
		e.waitHistory(tok, 2, 10*time.Second)
		storetest.Eventually(t, 10*time.Second, "chat:dead trimmed to its young entry", func() bool {
			dead, err := e.st.ReadDeadLetters(e.ctx, 10)
			return err == nil && len(dead) == 1 && dead[0].Fields["error"] == "just now"
		})
		if n, err := rdb.Do(e.ctx, rdb.B().Xlen().Key(keys.Requests(0)).Build()).AsInt64(); err != nil || n != 1 {
			t.Errorf("the request stream holds %d entries (%v), want the young request kept", n, err)
		}
		w.stop(t)
	})
}
