package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"go.uber.org/goleak"
)

// These tests run their backends one after the other (not storetest.Each): each checks that
// no goroutine of its own is left, which another test running alongside would spoil.

// ignoreStore leaves out the store's goroutines: its connections (the test's store stays open)
// and what TestMain leaves out.
var ignoreStore = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*pipe)._backgroundRead"),
	goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*pipe)._backgroundWrite"),
	goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"),
	goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"),
}

// New starts nothing (Serve starts the subscriber), so a server that is never served needs
// no Close.
func TestNewStartsNoGoroutine(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := storetest.Open(t, b, store.Options{})
			before := goleak.IgnoreCurrent()
			srv, err := web.New(web.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			goleak.VerifyNone(t, append(ignoreStore, before)...)
			srv.Close()
		})
	}
}

// Once Serve returns, every goroutine the server started has ended: the subscriber, the
// hubs', the sockets' readers, writers and closers.
func TestServeEndsEveryGoroutine(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := storetest.Open(t, b, store.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			a, _ := st.CreateSession(ctx, "a")
			gone, _ := st.CreateSession(ctx, "b")
			before := goleak.IgnoreCurrent()

			base, stop := serveOn(t, st, web.Options{ShutdownTimeout: 5 * time.Second})
			ts := &httptest.Server{URL: base}
			var socks []*client
			for _, q := range []string{tokenQuery(a, "stream=1"), tokenQuery(a, ""), tokenQuery(gone, "")} {
				socks = append(socks, dial(t, ts, q))
			}
			socks[0].send("hello")
			socks[0].nextOf(chat.FrameAck)
			// Events through the hub, a gap to read, and a deleted session's sockets closing.
			for range 20 {
				if _, err := st.Emit(ctx, a.Token, chat.Event{Type: chat.FrameDelta, Text: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.DeleteSession(ctx, gone.Token); err != nil {
				t.Fatal(err)
			}
			socks[2].closed()

			closed := make(chan struct{}, 2)
			for _, c := range socks[:2] {
				go func() {
					c.closed() // answers the server's 1001
					closed <- struct{}{}
				}()
			}
			if err, _ := stop(); err != nil {
				t.Fatalf("Serve returned %v", err)
			}
			for range 2 {
				<-closed
			}
			for _, c := range socks {
				c.c.CloseNow()
			}
			goleak.VerifyNone(t, append(ignoreStore, before)...)
		})
	}
}
