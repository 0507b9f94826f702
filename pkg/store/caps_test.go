package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
	"github.com/redis/rueidis"
)

// turn answers one message as the worker does: send, begin, two deltas, finish with the reply
// "echo: " + text (whose message event has the whole reply, so the deltas are deleted).
func turn(t *testing.T, ctx context.Context, s *store.Store, token, text string) {
	t.Helper()
	if _, err := s.Send(ctx, token, human(text), store.SendLimits{MaxPending: 16, MessagesPerMinute: 1 << 20}); err != nil {
		t.Fatalf("send: %v", err)
	}
	answerTurn(t, ctx, s, token, "echo: "+text)
}

// answerTurn answers the next pending turn with reply, streamed as two deltas first.
func answerTurn(t *testing.T, ctx context.Context, s *store.Store, token, reply string) {
	t.Helper()
	tn, state, err := s.BeginTurn(ctx, token, "caps-test", 10, time.Minute)
	if err != nil || state != store.TurnReady {
		t.Fatalf("begin: %v %v", state, err)
	}
	for _, piece := range []string{reply[:len(reply)/2], reply[len(reply)/2:]} {
		id, err := s.EmitDelta(ctx, tn, chat.Event{Type: chat.FrameDelta, ReplyTo: tn.Message.ID, Text: piece})
		if err != nil {
			t.Fatalf("delta: %v", err)
		}
		tn.Deltas = append(tn.Deltas, id)
	}
	bot := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: reply, Timestamp: time.Now().UTC(), ReplyTo: tn.Message.ID}
	if _, err := s.FinishTurn(ctx, tn, &bot, chat.MessageEvent(bot)); err != nil {
		t.Fatalf("finish: %v", err)
	}
}

// kept is what a session holds: its history's entries and bytes, its events and the bytes of
// those but deltas, and the counters of its hash.
type kept struct {
	hist, histBytes, events, evBytes int
	fields                           map[string]string
	lastReply                        string
}

func keptOf(t *testing.T, ctx context.Context, s *store.Store, token string) kept {
	t.Helper()
	c, k := s.Client(), s.Keys()
	hist, err := c.Do(ctx, c.B().Lrange().Key(k.Messages(token)).Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	var out kept
	out.hist = len(hist)
	for _, m := range hist {
		out.histBytes += len(m)
	}
	if len(hist) > 0 {
		var m chat.Message
		json.Unmarshal([]byte(hist[len(hist)-1]), &m)
		out.lastReply = m.Msg
	}
	evs, err := s.ReadEvents(ctx, token, "0", 100000)
	if err != nil {
		t.Fatal(err)
	}
	out.events = len(evs)
	for _, e := range evs {
		if e.Type != chat.FrameDelta {
			out.evBytes += len(e.Type) + len(e.Body)
		}
	}
	out.fields, err = c.Do(ctx, c.B().Hgetall().Key(k.Session(token)).Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSessionCaps: a session filled past session.history_max_bytes and
// session.events_max_bytes (with turns of 4 KB messages, as a client may send) keeps within
// them, the oldest dropped first and the newest turn kept; its counters say exactly what is
// kept; and the count caps hold with them.
func TestSessionCaps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		const maxBytes = 48 << 10
		s, ctx := setup(t, b, store.Options{HistoryMaxBytes: maxBytes, EventsMaxBytes: maxBytes})
		sess, _ := s.CreateSession(ctx, "full")
		for i := range 30 {
			text := strconv.Itoa(i) + strings.Repeat("<", 4000)
			turn(t, ctx, s, sess.Token, text)
			got := keptOf(t, ctx, s, sess.Token)
			if got.histBytes > maxBytes || got.evBytes > maxBytes {
				t.Fatalf("turn %d: history %d bytes, events %d bytes; want at most %d each", i, got.histBytes, got.evBytes, maxBytes)
			}
			if got.fields["hist_bytes"] != strconv.Itoa(got.histBytes) || got.fields["ev_bytes"] != strconv.Itoa(got.evBytes) ||
				got.fields["ev_n"] != strconv.Itoa(got.events) {
				t.Fatalf("turn %d: counters hist_bytes %s ev_bytes %s ev_n %s, kept %d, %d bytes and %d events",
					i, got.fields["hist_bytes"], got.fields["ev_bytes"], got.fields["ev_n"], got.histBytes, got.evBytes, got.events)
			}
			if got.lastReply != "echo: "+text {
				t.Fatalf("turn %d: the newest reply is not kept", i)
			}
		}
		// A regeneration replaces the last reply in place: counted too.
		if _, err := s.Regenerate(ctx, sess.Token, uuid.NewString(), "", store.SendLimits{MaxPending: 16, MessagesPerMinute: 1 << 20}); err != nil {
			t.Fatalf("regenerate: %v", err)
		}
		answerTurn(t, ctx, s, sess.Token, "again: "+strings.Repeat(">", 6000))
		got := keptOf(t, ctx, s, sess.Token)
		if got.fields["hist_bytes"] != strconv.Itoa(got.histBytes) || got.fields["ev_bytes"] != strconv.Itoa(got.evBytes) ||
			got.fields["ev_n"] != strconv.Itoa(got.events) || !strings.HasPrefix(got.lastReply, "again: ") ||
			got.histBytes > maxBytes || got.evBytes > maxBytes {
			t.Fatalf("after a regeneration: counters hist_bytes %s ev_bytes %s ev_n %s, kept %d, %d bytes and %d events; last %.10q",
				got.fields["hist_bytes"], got.fields["ev_bytes"], got.fields["ev_n"], got.histBytes, got.evBytes, got.events, got.lastReply)
		}
		// Full: within a message of the caps (each entry is about 4 KB).
		if got.histBytes < maxBytes-9<<10 || got.evBytes < maxBytes-9<<10 {
			t.Fatalf("history %d bytes, events %d bytes: want each close to %d", got.histBytes, got.evBytes, maxBytes)
		}

		// The count caps still hold, with small entries.
		s2, _ := setup(t, b, store.Options{HistoryMax: 5, EventsMax: 7})
		sess2, _ := s2.CreateSession(ctx, "counted")
		for i := range 12 {
			turn(t, ctx, s2, sess2.Token, "m"+strconv.Itoa(i))
		}
		got = keptOf(t, ctx, s2, sess2.Token)
		// A turn's deltas count while they are kept, and make room: after the turn, one or two
		// events fewer than the cap may be left.
		if got.hist != 5 || got.events > 7 || got.events < 5 || got.fields["ev_n"] != strconv.Itoa(got.events) || got.lastReply != "echo: m11" {
			t.Fatalf("history %d, events %d (ev_n %s), last %q: want 5, 5 to 7, echo: m11", got.hist, got.events, got.fields["ev_n"], got.lastReply)
		}
	})
}

// TestBytesPerMessage: a message of N bytes (its client frame, at limits.max_message_bytes)
// costs Redis at most about 4N, whatever it holds: plain text, '<' (which HTML escaping made
// six bytes) or control characters (escaped by JSON in the frame already). Measured with MEMORY
// USAGE of the session's keys after 16 turns (a whole batch of pending messages trimmed),
// against the same turns of a one-letter message. The constant, 2 KB a message, is Redis's
// own: list and stream nodes, the allocator's size classes, the deleted deltas' room in a
// stream node that still holds other events (3.1N of payload measure 4.4N).
func TestBytesPerMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		const turns, frameMax = 16, 4096
		usage := func(text string) int64 {
			sess, _ := s.CreateSession(ctx, "bytes")
			for range turns {
				turn(t, ctx, s, sess.Token, text)
			}
			c := s.Client()
			var total int64
			for _, k := range s.Keys().SessionKeys(sess.Token) {
				n, err := c.Do(ctx, c.B().MemoryUsage().Key(k).Samples(0).Build()).AsInt64()
				if err != nil && !rueidis.IsRedisNil(err) {
					t.Fatal(err)
				}
				total += n
			}
			return total
		}
		base := usage("a")
		for _, tc := range []struct{ name, char string }{{"plain", "a"}, {"<", "<"}, {`\x01`, "\x01"}} {
			text := tc.char
			for len(frame(text+tc.char)) <= frameMax {
				text += tc.char
			}
			n := len(frame(text))
			per := (usage(text) - base) / turns
			if limit := int64(4*n + 2048); per > limit {
				t.Errorf("%s: a %d-byte message costs Redis %d bytes (%.1fx), want at most 4N + 2048 = %d", tc.name, n, per, float64(per)/float64(n), limit)
			} else {
				t.Logf("%s: a %d-byte message costs Redis %d bytes (%.2fx)", tc.name, n, per, float64(per)/float64(n))
			}
		}
	})
}

// frame is the client frame that sends text, as a browser's JSON.stringify writes it ('<'
// as is, control characters escaped).
func frame(text string) []byte {
	b, _ := chat.Marshal(map[string]string{"type": "message", "msg": text})
	return b
}

// A session at its caps drops its oldest entries at every step, and the step reads just those
// to drop them: the ack a send adds drops one event (XRANGE COUNT 1), the message and reply a
// turn adds drop two history entries (LRANGE 0 1). Before, each read 64 (converted into Lua
// every time: most of what the step cost Redis). Seen with MONITOR on a Redis of the test's own.
func TestTrimAtTheCapsReadsWhatItDrops(t *testing.T) {
	node := redistest.NewNode(t, redistest.Options{Name: "trim"})
	s, ctx := setup(t, storetest.Backend{Name: "single", URL: node.URL()}, store.Options{HistoryMax: 6, EventsMax: 8})
	sess, _ := s.CreateSession(ctx, "a")
	for i := range 10 {
		turn(t, ctx, s, sess.Token, "m"+strconv.Itoa(i))
	}
	mon := node.Monitor(t)
	turn(t, ctx, s, sess.Token, "one more")
	var xrange, lrange []string
	for _, line := range mon.Until(t, ctx) {
		switch {
		case strings.Contains(line, `"XRANGE"`):
			xrange = append(xrange, line[strings.Index(line, `"XRANGE"`):])
		case strings.Contains(line, `"LRANGE"`) && strings.Contains(line, ":messages"):
			lrange = append(lrange, line[strings.Index(line, `"LRANGE"`):])
		}
	}
	if len(xrange) != 2 || !strings.HasSuffix(xrange[0], `"COUNT" "1"`) || !strings.HasSuffix(xrange[1], `"COUNT" "1"`) {
		t.Errorf("the events trimmed were read with %q, want two XRANGE ... COUNT 1 (the send's and the finish's)", xrange)
	}
	// begin_turn reads the newest entries for the prompt (negative indexes); the trim reads the
	// oldest two.
	trims := 0
	for _, l := range lrange {
		if strings.HasSuffix(l, `"0" "1"`) {
			trims++
		} else if !strings.Contains(l, `"-`) {
			t.Errorf("history read %s, want the prompt's (negative indexes) or the trim's two", l)
		}
	}
	if trims != 1 {
		t.Errorf("history reads %q: want one trim reading the two oldest entries", lrange)
	}
	k := keptOf(t, ctx, s, sess.Token)
	if k.hist != 6 || k.events != 8 {
		t.Fatalf("kept %d history entries and %d events, want the caps 6 and 8", k.hist, k.events)
	}
}
