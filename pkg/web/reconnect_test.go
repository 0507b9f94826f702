package web_test

import (
	"strconv"
	"strings"
	"testing"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"
)

// killClients kills every Redis connection named name, on every node.
func (e *env) killClients(name string) int {
	e.t.Helper()
	killed := 0
	for _, c := range e.st.Client().Nodes() {
		list, err := c.Do(e.ctx, c.B().ClientList().Build()).ToString()
		if err != nil {
			e.t.Fatalf("CLIENT LIST: %v", err)
		}
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") {
				continue
			}
			idField, _, _ := strings.Cut(line, " ")
			id, _ := strconv.ParseInt(strings.TrimPrefix(idField, "id="), 10, 64)
			if err := c.Do(e.ctx, c.B().ClientKill().Id(id).Build()).Error(); err != nil {
				e.t.Fatalf("CLIENT KILL: %v", err)
			}
			killed++
		}
	}
	return killed
}

// The subscriber's connection dies: it reconnects, resubscribes, and every hub reads what
// was published meanwhile, so sockets get every event once, in order.
func TestSubscriberReconnectNoGap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		name := "chatbot-sub-" + newToken()[:8]
		e := setup(t, b, web.Options{SubscriberName: name}, store.Options{})
		sess := e.session()
		other := e.session()
		c := e.dial(tokenQuery(sess, "stream=1"))
		quiet := e.dial(tokenQuery(other, "stream=1"))
		// Usually one; under load an earlier attempt's connection may sit named in rueidis's
		// dedicated pool too. Killing it as well does no harm.
		if n := e.killClients(name); n < 1 {
			t.Fatalf("killed %d subscriber connections, want at least 1", n)
		}
		// Written right away: some of these are published while no subscriber listens.
		var want []string
		for range 30 {
			id, err := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameDelta, Text: "x"})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		// A session with one event, written during the outage and nothing after: only the
		// resync after resubscribing can deliver it.
		lone, err := e.st.Emit(e.ctx, other.Token, chat.Event{Type: chat.FrameDelta, Text: "lone"})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.offsets(len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("after the reconnect got %v, want %v", got, want)
		}
		if f := quiet.next(); f.Offset != lone {
			t.Fatalf("quiet session got %+v, want %s", f.raw, lone)
		}
		storetest.Eventually(t, wait, "the reconnect counted", func() bool {
			n, _ := strconv.ParseFloat(metric(t, e.ts, "chatbot_web_subscriber_reconnects_total"), 64)
			return n >= 1
		})
		// And live delivery goes on.
		id, _ := e.st.Emit(e.ctx, sess.Token, chat.Event{Type: chat.FrameMessage, Msg: "live"})
		if f := c.next(); f.Offset != id || f.Msg != "live" {
			t.Fatalf("live after reconnect: %+v, want %s", f.raw, id)
		}
	})
}
