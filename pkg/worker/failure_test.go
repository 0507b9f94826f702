package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// A model that keeps failing: after its retries the user gets a model_error for that message,
// the request lands in chat:dead, and the session goes on with its next message.
func TestModelFailureReachesTheUserAndTheDeadLetters(t *testing.T) {
	each(t, 2, func(t *testing.T, e *env) {
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			if llm.LastUser(msgs) == "fail" {
				onDelta("partial ")
				// A model that fails a moment after it began: its text goes out as a delta.
				select {
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
				}
				return "partial ", errors.New("upstream exploded")
			}
			return llm.Echo{}.Stream(ctx, msgs, onDelta)
		}}
		w := e.start(options("w", model))
		tok := e.session()
		bad := e.send(tok, "fail")
		good := e.send(tok, "then this")
		h := e.waitHistory(tok, 3, 20*time.Second)
		if h[0].ID != bad.ID || h[1].ID != good.ID || h[2].Msg != "echo: then this" || h[2].ReplyTo != good.ID {
			t.Fatalf("history %s", texts(h))
		}
		if n := len(model.callsFor("fail")); n != 3 {
			t.Fatalf("%d calls for the failing message, want 1 + 2 retries", n)
		}
		// The second message's context holds the failed one, without a reply.
		ctx := model.callsFor("then this")[0]
		if len(ctx) != 3 || ctx[1].Content != "fail" || ctx[2].Content != "then this" {
			t.Fatalf("context %+v", ctx)
		}
		evs := e.events(tok)
		errs := ofType(evs, chat.FrameError)
		if len(errs) != 1 || errs[0].Code != chat.CodeModelError || errs[0].ReplyTo != bad.ID ||
			!strings.Contains(errs[0].Msg, "could not answer") || strings.Contains(errs[0].Msg, "exploded") {
			t.Fatalf("error events %+v", errs)
		}
		// Each retry after streamed text starts the deltas over.
		var restarts []bool
		for _, d := range ofType(evs, chat.FrameDelta) {
			if d.ReplyTo == bad.ID {
				restarts = append(restarts, d.Restart)
			}
		}
		if !slices.Equal(restarts, []bool{false, true, true}) {
			t.Fatalf("restart flags of the failing message's deltas: %v, want one per attempt, the retries' restarting", restarts)
		}
		if msgs := ofType(evs, chat.FrameMessage); len(msgs) != 1 || msgs[0].ReplyTo != good.ID {
			t.Fatalf("message events %+v", msgs)
		}
		dead, err := e.st.ReadDeadLetters(e.ctx, 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("dead letters %+v %v", dead, err)
		}
		f := dead[0].Fields
		if f[chat.ReqFieldToken] != tok || f[chat.ReqFieldSeq] != "1" || f[store.DeadFieldAttempts] != "3" ||
			f[store.DeadFieldConsumer] != "w-0" || f[store.DeadFieldMessageID] != bad.ID ||
			!strings.Contains(f[store.DeadFieldError], "upstream exploded") || f[store.DeadFieldRequestID] == "" {
			t.Fatalf("dead letter %v", f)
		}
		e.waitIdle(10 * time.Second)
		for name, want := range map[string]float64{
			"chatbot_worker_requests_failed_total":        1,
			"chatbot_worker_requests_dead_lettered_total": 1,
			"chatbot_llm_retries_total":                   2,
		} {
			if got := w.metric(t, name); got != want {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
		}
		// One request per message, or one in all: a message sent while the first one's lease
		// is held queues no request (the holder answers it). Counted once its XACK returns.
		storetest.Eventually(t, 5*time.Second, "both messages' requests processed", func() bool {
			n := w.metric(t, "chatbot_worker_requests_processed_total")
			return n >= 1 && n <= 2
		})
	})
}

// An entry of a request stream that is not a request is dead-lettered and acknowledged; the
// worker goes on.
func TestMalformedRequestIsDeadLettered(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		if err := e.st.EnsureGroups(e.ctx); err != nil {
			t.Fatal(err)
		}
		rdb := e.st.Client()
		key := e.st.Keys().Requests(0)
		for _, fields := range [][]string{{"token", "not-a-token", "seq", "1"}, {"seq", "x"}, {"garbage", strings.Repeat("z", 10000)}} {
			cmd := rdb.B().Xadd().Key(key).Id("*").FieldValue()
			for i := 0; i < len(fields); i += 2 {
				cmd = cmd.FieldValue(fields[i], fields[i+1])
			}
			if err := rdb.Do(e.ctx, cmd.Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		w := e.start(options("w", llm.Echo{}))
		tok := e.session()
		e.send(tok, "still here")
		if h := e.waitHistory(tok, 2, 20*time.Second); h[1].Msg != "echo: still here" {
			t.Fatalf("history %s", texts(h))
		}
		var dead []store.RequestEntry
		storetest.Eventually(t, 10*time.Second, "three dead letters", func() bool {
			dead, _ = e.st.ReadDeadLetters(e.ctx, 10)
			return len(dead) == 3
		})
		var tokens, seqs, garbage int
		for _, d := range dead {
			if !strings.Contains(d.Fields[store.DeadFieldError], "malformed") || d.Fields[store.DeadFieldConsumer] != "w-0" {
				t.Fatalf("dead letter error %q consumer %q", d.Fields[store.DeadFieldError], d.Fields[store.DeadFieldConsumer])
			}
			switch {
			case d.Fields["token"] == "not-a-token" && d.Fields["seq"] == "1":
				tokens++
			case d.Fields["seq"] == "x":
				seqs++
			case len(d.Fields["garbage"]) == 4096: // copied, clipped
				garbage++
			}
		}
		if tokens != 1 || seqs != 1 || garbage != 1 {
			t.Fatalf("dead letters: %d bad token, %d bad seq, %d garbage", tokens, seqs, garbage)
		}
		e.waitIdle(10 * time.Second)
		if n := w.metric(t, "chatbot_worker_requests_dead_lettered_total", "reason", "malformed"); n != 3 {
			t.Fatalf("dead-lettered %v", n)
		}
	})
}

// {"type":"stop"} (store.Stop, from any web host) ends the generation within a second: the
// partial reply is stored and published with stopped:true, and the next message is answered.
func TestStopStoresThePartialReply(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		var words []string
		for i := range 100 {
			words = append(words, "w"+strconv.Itoa(i))
		}
		full := strings.Join(words, " ")
		model := &recorder{step: func(ctx context.Context, msgs []llm.Message, onDelta func(string) error) (string, error) {
			if llm.LastUser(msgs) == "long" {
				return slowWords(full, 100*time.Millisecond)(ctx, msgs, onDelta) // 10s unless stopped
			}
			return llm.Echo{}.Stream(ctx, msgs, onDelta)
		}}
		e.start(options("w", model))
		tok := e.session()
		q := e.send(tok, "long")
		storetest.Eventually(t, 10*time.Second, "a delta", func() bool {
			return len(ofType(e.events(tok), chat.FrameDelta)) > 0
		})
		asked := time.Now()
		if n, err := e.st.Stop(e.ctx, tok); err != nil || n != 1 {
			t.Fatalf("stop %d %v", n, err)
		}
		h := e.waitHistory(tok, 2, 5*time.Second)
		took := time.Since(asked)
		r := h[1]
		if !r.Stopped || r.ReplyTo != q.ID || r.Msg == "" || !strings.HasPrefix(full, r.Msg) || r.Msg == full {
			t.Fatalf("stopped reply %+v", r)
		}
		t.Logf("stopped %s after the request", took)
		msgs := ofType(e.events(tok), chat.FrameMessage)
		if len(msgs) != 1 || !msgs[0].Stopped || msgs[0].Msg != r.Msg {
			t.Fatalf("message events %+v", msgs)
		}
		var raw map[string]any
		last, _ := e.st.ReadEvents(e.ctx, tok, "", 1000)
		json.Unmarshal(last[len(last)-1].Frame(), &raw)
		if raw["stopped"] != true {
			t.Fatalf("frame %s", last[len(last)-1].Frame())
		}
		e.send(tok, "next")
		if h := e.waitHistory(tok, 4, 10*time.Second); h[3].Msg != "echo: next" || h[3].Stopped {
			t.Fatalf("history %s", texts(h))
		}
	})
}

// A stop that arrives before the worker begins the turn: the reply is stored empty and stopped,
// without calling the model.
func TestStopBeforeTheTurnBegins(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		tok := e.session()
		e.send(tok, "never mind")
		if n, err := e.st.Stop(e.ctx, tok); err != nil || n != 1 {
			t.Fatalf("stop %d %v", n, err)
		}
		model := &recorder{}
		e.start(options("w", model))
		h := e.waitHistory(tok, 2, 10*time.Second)
		if !h[1].Stopped || h[1].Msg != "" || model.count() != 0 {
			t.Fatalf("history %s, %d model calls", texts(h), model.count())
		}
	})
}

// A session whose data Redis refuses to work with (here its pending list has the wrong type) does
// not hold a request forever: after a few refusals it is dead-lettered and acknowledged, and
// other sessions are answered meanwhile.
func TestRefusedSessionIsDeadLettered(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		broken := e.session()
		e.send(broken, "hello?")
		rdb := e.st.Client()
		if err := rdb.Do(e.ctx, rdb.B().Del().Key(e.st.Keys().Pending(broken)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Do(e.ctx, rdb.B().Hset().Key(e.st.Keys().Pending(broken)).FieldValue().FieldValue("not", "a list").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		w := e.start(options("w", llm.Echo{}))
		fine := e.session()
		e.send(fine, "fine")
		e.waitHistory(fine, 2, 10*time.Second)
		var dead []store.RequestEntry
		storetest.Eventually(t, 20*time.Second, "a dead letter", func() bool {
			dead, _ = e.st.ReadDeadLetters(e.ctx, 10)
			return len(dead) == 1
		})
		f := dead[0].Fields
		if f[chat.ReqFieldToken] != broken || !strings.Contains(f[store.DeadFieldError], "WRONGTYPE") {
			t.Fatalf("dead letter %v", f)
		}
		e.waitIdle(10 * time.Second)
		if n := w.metric(t, "chatbot_worker_requests_dead_lettered_total", "reason", "refused"); n != 1 {
			t.Fatalf("dead-lettered %v", n)
		}
	})
}

// A pending message that cannot be decoded is answered with an error event and dead-lettered;
// the session goes on with its next message.
func TestDamagedPendingMessageIsSkipped(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		tok := e.session()
		e.send(tok, "soon damaged")
		rdb := e.st.Client()
		if err := rdb.Do(e.ctx, rdb.B().Lset().Key(e.st.Keys().Pending(tok)).Index(0).Element("{not json").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		e.send(tok, "after")
		w := e.start(options("w", llm.Echo{}))
		// The damaged entry is not readable history: only the second turn shows.
		h := e.waitHistory(tok, 2, 10*time.Second)
		if h[0].Msg != "after" || h[1].Msg != "echo: after" {
			t.Fatalf("history %s", texts(h))
		}
		errs := ofType(e.events(tok), chat.FrameError)
		if len(errs) != 1 || errs[0].Code != chat.CodeModelError || !strings.Contains(errs[0].Msg, "could not be read") {
			t.Fatalf("error events %+v", errs)
		}
		dead, _ := e.st.ReadDeadLetters(e.ctx, 10)
		if len(dead) != 1 || dead[0].Fields[chat.ReqFieldSeq] != "1" || !strings.Contains(dead[0].Fields[store.DeadFieldError], "damaged") {
			t.Fatalf("dead letters %+v", dead)
		}
		if n := w.metric(t, "chatbot_worker_requests_dead_lettered_total", "reason", "damaged"); n != 1 {
			t.Fatalf("dead-lettered %v", n)
		}
		e.waitIdle(10 * time.Second)
	})
}
