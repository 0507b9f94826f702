package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/devredis"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

type notice struct {
	token string
	n     chat.Notification
}

// runSubscriber starts a subscriber with a unique connection name; notifications arrive on
// the returned channel, resubscriptions on the other.
func runSubscriber(t *testing.T, s *store.Store) (*store.Subscriber, string, <-chan notice, <-chan struct{}) {
	t.Helper()
	notes := make(chan notice, 1024)
	resub := make(chan struct{}, 16)
	name := "chatbot-sub-test-" + uuid.NewString()[:8]
	sub := s.NewSubscriber(store.SubscriberOptions{
		OnNotify:      func(tok string, n chat.Notification) { notes <- notice{tok, n} },
		OnResubscribe: func() { resub <- struct{}{} },
		ClientName:    name,
		Batch:         100,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return sub, name, notes, resub
}

// subscribedSession creates a session and subscribes sub to it, waiting for Redis to confirm;
// it returns the session's token.
func subscribedSession(t *testing.T, ctx context.Context, s *store.Store, sub *store.Subscriber) string {
	t.Helper()
	sess, err := s.CreateSession(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, sub.Subscribe(sess.Token), "the subscription")
	return sess.Token
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func nextNotice(t *testing.T, notes <-chan notice) notice {
	t.Helper()
	select {
	case n := <-notes:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a notification")
		return notice{}
	}
}

// numsub is how many connections subscribe to channel, summed over the nodes.
func numsub(t *testing.T, s *store.Store, channel string) int64 {
	t.Helper()
	var total int64
	for _, c := range s.Client().Nodes() {
		res, err := c.Do(context.Background(), c.B().PubsubNumsub().Channel(channel).Build()).ToArray()
		if err != nil || len(res) != 2 {
			t.Fatalf("PUBSUB NUMSUB: %v", err)
		}
		n, _ := res[1].AsInt64()
		total += n
	}
	return total
}

// connections lists "node id" of every connection named name, over the nodes.
func connections(t *testing.T, s *store.Store, name string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for addr, c := range s.Client().Nodes() {
		list, err := c.Do(context.Background(), c.B().ClientList().Build()).ToString()
		if err != nil {
			t.Fatalf("CLIENT LIST: %v", err)
		}
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if id, ok := strings.CutPrefix(f, "id="); ok {
					out[addr] = append(out[addr], id)
				}
			}
		}
	}
	return out
}

func TestSubscriberDeliversInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sub, _, notes, _ := runSubscriber(t, s)
		tok := subscribedSession(t, ctx, s, sub)
		if n := numsub(t, s, s.Keys().Notify(tok)); n != 1 {
			t.Fatalf("NUMSUB after Subscribe = %d, want 1", n)
		}
		var ids []string
		for i := range 20 {
			id, err := s.Emit(ctx, tok, chat.Event{Type: chat.FrameDelta, Text: strings.Repeat("x", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		prev := ""
		for i, id := range ids {
			got := nextNotice(t, notes)
			if got.token != tok || got.n.ID != id || got.n.Prev != prev || got.n.Type != chat.FrameDelta {
				t.Fatalf("notification %d = %+v, want id %s prev %q", i, got, id, prev)
			}
			prev = id
		}
		if _, err := s.DeleteSession(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if got := nextNotice(t, notes); !got.n.Deleted || got.token != tok {
			t.Fatalf("after delete got %+v, want the deleted notice", got)
		}
		sub.Unsubscribe(tok)
		storetest.Eventually(t, 10*time.Second, "the unsubscription", func() bool {
			return numsub(t, s, s.Keys().Notify(tok)) == 0 && sub.Subscribed() == 0
		})
	})
}

func TestSubscriberOneConnectionForManySessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, _ := setup(t, b, store.Options{})
		sub, name, _, _ := runSubscriber(t, s)
		var waits []<-chan struct{}
		tokens := make([]string, 1000)
		for i := range tokens {
			tokens[i] = uuid.NewString()
			waits = append(waits, sub.Subscribe(tokens[i]))
		}
		for _, w := range waits {
			waitClosed(t, w, "1000 subscriptions")
		}
		if n := sub.Subscribed(); n != 1000 {
			t.Fatalf("Subscribed() = %d, want 1000", n)
		}
		conns := connections(t, s, name)
		total := 0
		for _, ids := range conns {
			total += len(ids)
		}
		if total != 1 {
			t.Fatalf("subscriber holds %d connections (%v), want 1", total, conns)
		}
		// Withdrawing and renewing at once leaves the channel subscribed.
		sub.Unsubscribe(tokens[0])
		waitClosed(t, sub.Subscribe(tokens[0]), "the renewed subscription")
		for _, tok := range tokens[1:] {
			sub.Unsubscribe(tok)
		}
		storetest.Eventually(t, 10*time.Second, "999 unsubscriptions", func() bool { return sub.Subscribed() == 1 })
		if n := numsub(t, s, s.Keys().Notify(tokens[0])); n != 1 {
			t.Fatalf("renewed channel NUMSUB = %d, want 1", n)
		}
	})
}

func TestSubscriberReconnects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		sub, name, notes, resub := runSubscriber(t, s)
		tok := subscribedSession(t, ctx, s, sub)

		for addr, ids := range connections(t, s, name) {
			c := s.Client().Nodes()[addr]
			for _, id := range ids {
				n, _ := strconv.ParseInt(id, 10, 64)
				if err := c.Do(ctx, c.B().ClientKill().Id(n).Build()).Error(); err != nil {
					t.Fatalf("CLIENT KILL: %v", err)
				}
			}
		}
		waitClosed(t, resub, "the resubscription")
		if n := numsub(t, s, s.Keys().Notify(tok)); n != 1 {
			t.Fatalf("NUMSUB after reconnect = %d, want 1", n)
		}
		id, err := s.Emit(ctx, tok, chat.Event{Type: chat.FrameDelta, Text: "after"})
		if err != nil {
			t.Fatal(err)
		}
		if got := nextNotice(t, notes); got.n.ID != id {
			t.Fatalf("after reconnect got %+v, want %s", got, id)
		}
	})
}

// chatbot dev's embedded Redis speaks RESP2, where rueidis subscribes on a connection of its
// own: the subscriber works there too.
func TestSubscriberOnDevRedis(t *testing.T) {
	t.Parallel()
	srv, err := devredis.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, srv.StoreOptions(store.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub, _, notes, _ := runSubscriber(t, s)
	tok := subscribedSession(t, ctx, s, sub)
	for range 3 {
		id, err := s.Emit(ctx, tok, chat.Event{Type: chat.FrameDelta, Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if got := nextNotice(t, notes); got.n.ID != id || got.token != tok {
			t.Fatalf("got %+v, want %s", got, id)
		}
	}
	sub.Unsubscribe(tok)
	storetest.Eventually(t, 10*time.Second, "the unsubscription", func() bool { return sub.Subscribed() == 0 })
	// The store's other commands still work beside the subscription.
	if _, err := s.GetSession(ctx, tok, true); err != nil {
		t.Fatal(err)
	}
}
