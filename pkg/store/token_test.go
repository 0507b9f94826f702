package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"

	"github.com/google/uuid"
)

// TestTokensAreRandomUUIDv4: tokens are version 4 UUIDs (122 random bits), all different, and
// every one of the 122 random bits takes both values across the sessions created (a fixed or
// counter-like bit would not; the chance that a random bit keeps one value 256 times is 2^-255).
func TestTokensAreRandomUUIDv4(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{SessionTTL: time.Minute})
		const n = 256
		seen := map[string]bool{}
		var ones, zeros [16]byte // per byte: bits seen set / seen clear
		for range n {
			sess, err := s.CreateSession(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			if !chat.ValidToken(sess.Token) {
				t.Fatalf("token %q is not of the shape ValidToken accepts", sess.Token)
			}
			u, err := uuid.Parse(sess.Token)
			if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
				t.Fatalf("token %q: version %v variant %v (%v), want a v4 RFC 4122 UUID", sess.Token, u.Version(), u.Variant(), err)
			}
			if seen[sess.Token] {
				t.Fatalf("token %q issued twice", sess.Token)
			}
			seen[sess.Token] = true
			for i, c := range u {
				ones[i] |= c
				zeros[i] |= ^c
			}
		}
		// The version nibble (byte 6, high half) and the variant bits (byte 8, top two) are
		// fixed; the other 122 bits are random.
		fixed := [16]byte{6: 0xf0, 8: 0xc0}
		for i := range 16 {
			if varied := ones[i] & zeros[i]; varied|fixed[i] != 0xff {
				t.Errorf("byte %d of the tokens: bits %08b never changed in %d tokens", i, ^(varied | fixed[i]), n)
			}
		}
	})
}

// TestMalformedTokens: a token of another shape never reaches Redis through any entry point of
// the store: no panic (keys in different hash slots would make rueidis panic on a cluster), no
// key written, and the answer is "no such session".
func TestMalformedTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		s, ctx := setup(t, b, store.Options{})
		real, err := s.CreateSession(ctx, "victim")
		if err != nil {
			t.Fatal(err)
		}
		crafted := []string{
			"", "}x", "a{b}c", "x}:messages{", "{" + real.Token + "}", real.Token + "}:out",
			strings.ToUpper(real.Token), real.Token + "\n", " " + real.Token, "../" + real.Token[3:],
			strings.Repeat("a", 10000), "00000000-0000-0000-0000-00000000000g",
		}
		for _, tok := range crafted {
			notFound := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, store.ErrSessionNotFound) {
					t.Errorf("%s with token %.40q: %v, want ErrSessionNotFound", what, tok, err)
				}
			}
			_, err := s.Send(ctx, tok, human("x"), lim)
			notFound("send", err)
			_, err = s.Stop(ctx, tok)
			notFound("stop", err)
			_, err = s.Emit(ctx, tok, chat.Event{Type: chat.FrameDelta, Text: "x"})
			notFound("emit", err)
			notFound("append history", s.AppendHistory(ctx, tok, human("x")))
			_, err = s.GetSession(ctx, tok, true)
			notFound("get session", err)
			_, _, err = s.BeginTurn(ctx, tok, "w", 10, time.Second)
			notFound("begin turn", err)
			turn := store.Turn{Token: tok, Holder: "w", Seq: 1}
			_, err = s.RenewLease(ctx, turn, time.Second)
			notFound("renew lease", err)
			_, err = s.EmitDelta(ctx, turn, chat.Event{Type: chat.FrameDelta, Text: "x"})
			notFound("emit delta", err)
			_, err = s.FinishTurn(ctx, turn, nil, chat.Event{Type: chat.FrameError})
			notFound("finish turn", err)
			notFound("release lease", s.ReleaseLease(ctx, tok, "w"))
			if ok, err := s.SessionExists(ctx, tok); ok || err != nil {
				t.Errorf("session exists with token %.40q: %v %v", tok, ok, err)
			}
			if ok, err := s.DeleteSession(ctx, tok); ok || err != nil {
				t.Errorf("delete with token %.40q: %v %v", tok, ok, err)
			}
			// Single-key reads cannot span slots; a crafted token names no session's key.
			if evs, err := s.ReadEvents(ctx, tok, "", 10); len(evs) != 0 || err != nil {
				t.Errorf("read events with token %.40q: %d %v", tok, len(evs), err)
			}
			if h, err := s.History(ctx, tok); len(h) != 0 || err != nil {
				t.Errorf("history with token %.40q: %d %v", tok, len(h), err)
			}
		}
		// The real session is untouched.
		got, err := s.GetSession(ctx, real.Token, false)
		if err != nil || got.Name != "victim" || len(got.Messages) != 0 {
			t.Fatalf("the real session after the crafted tokens: %+v %v", got, err)
		}
		if n, err := s.EventCount(ctx, real.Token); err != nil || n != 0 {
			t.Fatalf("the real session got %d events (%v)", n, err)
		}
	})
}
