package store_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// TestTLSWithCAFile: rediss:// with redis.tls_ca_file set to a private CA connects, and the
// session flows (create, send, read events, a whole turn) run over TLS.
func TestTLSWithCAFile(t *testing.T) {
	t.Parallel()
	srv := redistest.TLSNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, store.Options{URL: srv.URL(), TLSCAFile: srv.CAFile(), Prefix: storetest.Prefix(t)})
	if err != nil {
		t.Fatalf("open over TLS with the CA file: %v", err)
	}
	defer s.Close()
	exerciseSessionFlows(t, ctx, s)
}

// TestTLSUntrustedServer: a server whose certificate the client cannot verify (system roots,
// or another CA) is a startup error that names the address and says the certificate is not
// trusted, returned at once (before the connect timeout), not after a retry loop.
func TestTLSUntrustedServer(t *testing.T) {
	t.Parallel()
	srv := redistest.TLSNode(t)
	for _, tc := range []struct{ name, caFile string }{
		{"system roots", ""},
		{"another CA", redistest.CAFile(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const connectTimeout = 20 * time.Second
			start := time.Now()
			s, err := store.Open(context.Background(), store.Options{URL: srv.URL(), TLSCAFile: tc.caFile, ConnectTimeout: connectTimeout})
			if err == nil {
				s.Close()
				t.Fatal("open succeeded against a server whose certificate is not trusted")
			}
			msg := err.Error()
			for _, want := range []string{srv.Addr(), "certificate", "not trusted", "redis.tls_ca_file"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			// Not a limit on speed: a client that kept retrying would only give up at the
			// connect timeout.
			if took := time.Since(start); took >= connectTimeout {
				t.Errorf("open took %s: the connect timeout, not the certificate check, ended it", took)
			}
		})
	}
}

// TestTLSMismatch: speaking plain Redis to a TLS port, or TLS to a plain port, gives an error
// that points at the URL scheme.
func TestTLSMismatch(t *testing.T) {
	t.Parallel()
	srv := redistest.TLSNode(t)
	plain := storetest.Single(t).URL
	u, err := url.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, want string
		timeout         time.Duration
	}{
		{"redis:// to a TLS port", "redis://" + srv.Addr() + "/0", "rediss://", 10 * time.Second},
		// A plain server never answers the TLS handshake: only the timeout ends it.
		{"rediss:// to a plain port", "rediss://" + u.Host + "/0", "serving TLS on this port", time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := store.Open(context.Background(), store.Options{URL: tc.url, ConnectTimeout: tc.timeout})
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestTLSCAFileErrors: an unreadable CA file or one without a certificate is reported with
// the config key, before any connection is tried.
func TestTLSCAFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"missing", filepath.Join(dir, "missing.pem"), "no such file"},
		{"no PEM", notPEM, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Port 1 on loopback: nothing there, the file is checked first.
			_, err := store.Open(context.Background(), store.Options{URL: "rediss://127.0.0.1:1/0", TLSCAFile: tc.file})
			if err == nil || !strings.Contains(err.Error(), "redis.tls_ca_file") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want redis.tls_ca_file ... %s", err, tc.want)
			}
		})
	}
}

// exerciseSessionFlows runs what serve and work do with a session through s, failing the test
// on any error: create, read, send, stop, events, a whole turn, history, delete.
func exerciseSessionFlows(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	sess, err := s.CreateSession(ctx, "tls")
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	if ok, err := s.SessionExists(ctx, sess.Token); err != nil || !ok {
		t.Fatalf("session exists: %v %v", ok, err)
	}
	if _, err := s.GetSession(ctx, sess.Token, true); err != nil {
		t.Fatalf("get session: %v", err)
	}
	if ttl, err := s.TTL(ctx, sess.Token); err != nil || ttl <= 0 {
		t.Fatalf("ttl: %s %v", ttl, err)
	}
	_, err = s.Send(ctx, sess.Token, human("one"), lim)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := s.Send(ctx, sess.Token, human("two"), lim); err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := s.Stop(ctx, sess.Token); err != nil {
		t.Fatalf("stop: %v", err)
	}
	turn, state, err := s.BeginTurn(ctx, sess.Token, "w1", 10, 5*time.Second)
	if err != nil || state != store.TurnReady || turn.Message.Msg != "one" {
		t.Fatalf("begin turn: %+v %v %v", turn, state, err)
	}
	if _, err := s.RenewLease(ctx, turn, 5*time.Second); err != nil {
		t.Fatalf("renew lease: %v", err)
	}
	if _, err := s.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, ReplyTo: turn.Message.ID, Text: "ec"}); err != nil {
		t.Fatalf("emit delta: %v", err)
	}
	answer, ev := botReply(turn, "echo: one")
	fin, err := s.FinishTurn(ctx, turn, answer, ev)
	if err != nil || !fin.More {
		t.Fatalf("finish turn: %+v %v", fin, err)
	}
	if err := s.ReleaseLease(ctx, sess.Token, "w1"); err != nil {
		t.Fatalf("release lease: %v", err)
	}
	evs, err := s.ReadEvents(ctx, sess.Token, "", 100)
	if err != nil || len(evs) != 4 { // ack, ack, delta, message
		t.Fatalf("read events: %d %v", len(evs), err)
	}
	if last, err := s.LastEventID(ctx, sess.Token); err != nil || last != fin.Offset {
		t.Fatalf("last event id %q (%v), want %q", last, err, fin.Offset)
	}
	if _, err := s.Truncated(ctx, sess.Token, evs[0].ID); err != nil {
		t.Fatalf("truncated: %v", err)
	}
	if n, err := s.EventCount(ctx, sess.Token); err != nil || n != 4 {
		t.Fatalf("event count %d %v", n, err)
	}
	if err := s.AppendHistory(ctx, sess.Token, human("note")); err != nil {
		t.Fatalf("append history: %v", err)
	}
	if h, err := s.History(ctx, sess.Token); err != nil || len(h) != 3 {
		t.Fatalf("history: %d %v", len(h), err)
	}
	if existed, err := s.DeleteSession(ctx, sess.Token); err != nil || !existed {
		t.Fatalf("delete: %v %v", existed, err)
	}
	if _, err := s.GetSession(ctx, sess.Token, false); !errors.Is(err, store.ErrSessionNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
