package cmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"chatbot/internal/redistest"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
)

// runCLI runs the command line in-process and returns stdout and the error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Chdir(t.TempDir()) // no stray ./config.yaml
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestTokenCreatesSession(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			out, err := runCLI(t, "token", "--name", "  ops  ", "--redis.url", b.URL, "--session.ttl", "90m")
			if err != nil {
				t.Fatal(err)
			}
			tok := strings.TrimSpace(out)
			if !chat.ValidToken(tok) {
				t.Fatalf("printed %q, want a token", out)
			}
			s := storetest.Open(t, b, store.Options{Prefix: store.DefaultPrefix})
			ctx := context.Background()
			h, err := s.Client().Do(ctx, s.Client().B().Hgetall().Key(s.Keys().Session(tok)).Build()).AsStrMap()
			if err != nil || h["name"] != "ops" || h["start"] == "" {
				t.Fatalf("chat:{%s} = %v (%v)", tok, h, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, h["start"]); err != nil {
				t.Fatalf("session_start %q: %v", h["start"], err)
			}
			ttl, _ := s.TTL(ctx, tok)
			if ttl <= 89*time.Minute || ttl > 90*time.Minute {
				t.Fatalf("TTL %s, want session.ttl 90m", ttl)
			}
			s.DeleteSession(ctx, tok)
		})
	}
}

func TestTokenJSONAndTTLFlag(t *testing.T) {
	b := storetest.Single(t)
	out, err := runCLI(t, "token", "--name", "ops", "--json", "--ttl", "2h", "--redis.url", b.URL)
	if err != nil {
		t.Fatal(err)
	}
	var sess chat.Session
	if err := json.Unmarshal([]byte(out), &sess); err != nil || sess.Name != "ops" || !chat.ValidToken(sess.Token) || sess.Messages == nil {
		t.Fatalf("json %q: %v", out, err)
	}
	s := storetest.Open(t, b, store.Options{Prefix: store.DefaultPrefix})
	if ttl, _ := s.TTL(context.Background(), sess.Token); ttl <= 119*time.Minute {
		t.Fatalf("--ttl 2h gave %s", ttl)
	}
	s.DeleteSession(context.Background(), sess.Token)
}

func TestTokenBadName(t *testing.T) {
	for _, name := range []string{"", "   ", strings.Repeat("x", 101)} {
		_, err := runCLI(t, "token", "--name", name, "--redis.url", "redis://127.0.0.1:1/0")
		if err == nil || !strings.Contains(err.Error(), "valid name") {
			t.Errorf("name %q: got %v", name, err)
		}
	}
	if _, err := runCLI(t, "token", "--name", strings.Repeat("é", 100), "--redis.url", storetest.Single(t).URL); err != nil {
		t.Errorf("100 characters must be accepted: %v", err)
	}
}

func TestTokenRedisRefused(t *testing.T) {
	addr := redistest.FreeAddr(t) // nothing listens there now
	start := time.Now()
	_, err := runCLI(t, "token", "--name", "ops", "--redis.url", "redis://:s3cret@"+addr+"/0")
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
}

// TestTokenRedisSilent: a server that accepts but never answers gives an error within the
// connect timeout, never a hang.
func TestTokenRedisSilent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err = runCLI(t, "token", "--name", "ops", "--redis.url", "redis://"+l.Addr().String()+"/0")
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Fatalf("took %s, want about redis.connect_timeout (5s)", d)
	}
}

func TestVersion(t *testing.T) {
	out, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(out, "chatbot ") {
		t.Fatalf("%q %v", out, err)
	}
}

// chatbot token --user SUB: a session that belongs to SUB and is in their list.
func TestTokenForUser(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			user := "auth0|" + newID()
			out, err := runCLI(t, "token", "--name", "Support", "--user", user, "--redis.url", b.URL)
			if err != nil {
				t.Fatal(err)
			}
			tok := strings.TrimSpace(out)
			s := storetest.Open(t, b, store.Options{Prefix: store.DefaultPrefix})
			ctx := context.Background()
			defer s.DeleteSessionOf(ctx, user, tok)
			if ok, err := s.IsSessionOf(ctx, user, tok); err != nil || !ok {
				t.Fatalf("the session is not %s's: %v %v", user, ok, err)
			}
			list, err := s.ListSessions(ctx, user, "", 10)
			if err != nil || len(list.Sessions) != 1 || list.Sessions[0].Token != tok || list.Sessions[0].Name != "Support" {
				t.Fatalf("%s's list: %+v %v", user, list, err)
			}
			for _, bad := range []string{"", strings.Repeat("u", 257)} {
				if _, err := runCLI(t, "token", "--name", "x", "--user", bad, "--redis.url", b.URL); err == nil || !strings.Contains(err.Error(), "--user: ") {
					t.Errorf("--user %q: %v, want a refusal", bad, err)
				}
			}
		})
	}
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
