package web_test

import (
	"strings"
	"sync"
	"testing"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/coder/websocket"
)

// offsets reads n frames and returns their offsets.
func (c *client) offsets(n int) []string {
	c.t.Helper()
	var out []string
	for range n {
		out = append(out, c.next().Offset)
	}
	return out
}

// eventIDs is every event ID after "after" in Redis, optionally only message/error types.
func (e *env) eventIDs(token, after string, all bool) []string {
	e.t.Helper()
	entries, err := e.st.ReadEvents(e.ctx, token, after, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, en := range entries {
		if all || !chat.Streaming(en.Type) {
			ids = append(ids, en.ID)
		}
	}
	return ids
}

func TestResume(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.send("one")
		seen := c.offsets(4) // ack, delta, delta, message
		c.send("two")
		seen = append(seen, c.offsets(4)...)
		c.c.Close(websocket.StatusNormalClosure, "")

		// Written while the client is away: another tab sends and gets its reply.
		other := e.dial(tokenQuery(sess, ""))
		other.send("three")
		other.nextOf(chat.FrameMessage)

		resumeAt := seen[2]
		want := e.eventIDs(sess.Token, resumeAt, true)
		if len(want) != 5+4 {
			t.Fatalf("%d events after the resume point, want 9", len(want))
		}
		r := e.dial(tokenQuery(sess, "stream=1&last_id="+resumeAt))
		got := r.offsets(len(want))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("replayed %v, want %v", got, want)
		}
		// Then live, with nothing replayed twice.
		r.send("four")
		f := r.next()
		if f.Type != chat.FrameAck || chat.CompareIDs(f.Offset, want[len(want)-1]) <= 0 {
			t.Fatalf("first live frame %+v", f.raw)
		}
		if f := r.nextOf(chat.FrameMessage); f.Msg != "echo: four" {
			t.Fatalf("live reply %+v", f.raw)
		}

		// Without ?stream=1 the replay has only message (and error) frames.
		plain := e.dial(tokenQuery(sess, "last_id="+seen[0]))
		want = e.eventIDs(sess.Token, seen[0], false)
		if got := plain.offsets(len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("plain replay %v, want %v", got, want)
		}
		// last_id=0 replays everything kept.
		all := e.dial(tokenQuery(sess, "stream=1&last_id=0"))
		want = e.eventIDs(sess.Token, "", true)
		if got := all.offsets(len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("full replay %v, want %v", got, want)
		}
	})
}

// Resuming while events keep coming: the replay and the live events meet with no gap and no
// duplicate.
func TestResumeWhileEventsFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{SendQueueFrames: 4096}, store.Options{EventsMax: 10000})
		sess := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))

		const total = 400
		var mu sync.Mutex
		var written []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range total {
				id, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written = append(written, id)
				mu.Unlock()
			}
		}()
		first := c.offsets(50)
		c.c.CloseNow()
		r := e.dial(tokenQuery(sess, "stream=1&last_id="+first[len(first)-1]))
		<-done
		mu.Lock()
		want := written[50:]
		mu.Unlock()
		if strings.Join(first, ",") != strings.Join(written[:50], ",") {
			t.Fatalf("first socket got %v, want %v", first, written[:50])
		}
		got := r.offsets(len(want))
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("resumed frame %d = %s, want %s (got %v)", i, got[i], want[i], got)
			}
		}
	})
}

func TestResumeTruncated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{EventsMax: 10})
		sess := e.session()
		first, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "0"})
		if err != nil {
			t.Fatal(err)
		}
		// MAXLEN ~ trims whole stream nodes (100 entries each by default): write a few.
		for range 350 {
			if _, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		if tr, _ := e.st.Truncated(e.ctx, sess.Token, first); !tr {
			t.Fatal("the stream was not trimmed; the test cannot check history_truncated")
		}
		r := e.dial(tokenQuery(sess, "stream=1&last_id="+first))
		if f := r.next(); f.Type != chat.FrameError || f.Code != chat.CodeHistoryTruncated || !strings.Contains(f.Msg, "/refresh_token") {
			t.Fatalf("first frame %+v, want history_truncated", f.raw)
		}
		want := e.eventIDs(sess.Token, "", true)
		if got := r.offsets(len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("after history_truncated got %d events, want the %d kept", len(got), len(want))
		}
	})
}

// A last_id that is not an offset gets a bad_frame error, then live events only; one from
// the future is treated as the newest event.
func TestResumeBadLastID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{})
		sess := e.session()
		e.worker(sess.Token, nil)
		warm := e.dial(tokenQuery(sess, ""))
		warm.send("before")
		warm.nextOf(chat.FrameMessage)

		r := e.dial(tokenQuery(sess, "stream=1&last_id=yesterday"))
		if f := r.next(); f.Type != chat.FrameError || f.Code != chat.CodeBadFrame || !strings.Contains(f.Msg, "last_id") {
			t.Fatalf("first frame %+v, want bad_frame about last_id", f.raw)
		}
		r.send("after")
		if f := r.next(); f.Type != chat.FrameAck {
			t.Fatalf("got %+v, want the ack of the new message (no replay)", f.raw)
		}
		r.nextOf(chat.FrameMessage)

		future := e.dial(tokenQuery(sess, "stream=1&last_id=99999999999999-0"))
		future.send("from the future")
		if f := future.next(); f.Type != chat.FrameAck {
			t.Fatalf("got %+v, want the ack of the new message", f.raw)
		}
		future.nextOf(chat.FrameMessage)

		// The last ID of the space has no next one (Redis refuses to read after it): a
		// bad_frame, not 1013 "try again later"; the ID before it is from the future.
		top := e.dial(tokenQuery(sess, "stream=1&last_id=18446744073709551615-18446744073709551615"))
		if f := top.next(); f.Type != chat.FrameError || f.Code != chat.CodeBadFrame || !strings.Contains(f.Msg, "last_id") {
			t.Fatalf("last_id at the top: first frame %+v, want bad_frame about last_id", f.raw)
		}
		top.send("after the top")
		if f := top.next(); f.Type != chat.FrameAck {
			t.Fatalf("got %+v, want the ack of the new message", f.raw)
		}
		top.nextOf(chat.FrameMessage)
		for _, id := range []string{"18446744073709551615", "18446744073709551615-18446744073709551614"} {
			near := e.dial(tokenQuery(sess, "stream=1&last_id="+id))
			near.send("near the top")
			if f := near.next(); f.Type != chat.FrameAck {
				t.Fatalf("last_id=%s: got %+v, want the ack of the new message", id, f.raw)
			}
			near.nextOf(chat.FrameMessage)
		}
	})
}
