package web

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// TestReadyzWaitsForTheSubscriber: Redis answering is not enough to be ready; until the
// notification subscriber is connected, replies would not reach this server's sockets, so
// /readyz is 503 (a server that never served has no subscriber yet), then 200 once it is.
func TestReadyzWaitsForTheSubscriber(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, storetest.Single(t), store.Options{})
	srv, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		srv.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "subscriber") {
		t.Fatalf("/readyz before the subscriber runs: %d %s, want 503 naming the subscriber", code, body)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	storetest.Eventually(t, 10*time.Second, "/readyz 200 once the subscriber is connected", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
}
