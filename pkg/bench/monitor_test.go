package bench

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"chatbot/pkg/store"

	"net"
	"os"
	"slices"
	"strconv"
	"testing"
)

func TestParseMonitorLine(t *testing.T) {
	t.Parallel()
	ts, addr, args, ok := parseMonitorLine(`1795751279.528386 [0 127.0.0.1:47220] "XADD" "chat:requests:{1}" "*" "e" "{\"type\":\"ack\",\"msg\":\"a b\\c\"}" "\xe2\x82\xac"`)
	want := []string{"XADD", "chat:requests:{1}", "*", "e", `{"type":"ack","msg":"a b\c"}`, "€"}
	if !ok || ts != 1795751279.528386 || addr != "127.0.0.1:47220" || !slices.Equal(args, want) {
		t.Fatalf("got %v %q %q %v", ts, addr, args, ok)
	}
	if _, addr, args, ok := parseMonitorLine(`+1795751279.5 [0 lua] "HGET" "k" "f"`); !ok || addr != "lua" || len(args) != 3 {
		t.Fatalf("lua line: %q %q %v", addr, args, ok)
	}
	for _, bad := range []string{"OK", "", "x [0 a] \"GET\"", "1.5 no bracket"} {
		if _, _, _, ok := parseMonitorLine(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Scripts are named exactly, by the SHA1 pkg/store runs them by: every script the store has.
func TestScriptName(t *testing.T) {
	t.Parallel()
	names := store.ScriptNames()
	if len(names) < 10 {
		t.Fatalf("store.ScriptNames() has %d scripts", len(names))
	}
	seen := map[string]bool{}
	for sha, file := range names {
		want := "EVALSHA " + strings.TrimSuffix(file, ".lua")
		if got := scriptName([]string{"evalsha", sha, "1", "k"}); got != want {
			t.Errorf("%s (%s): %q, want %q", sha, file, got, want)
		}
		seen[file] = true
	}
	for _, f := range []string{"send.lua", "begin_turn.lua", "finish_turn.lua", "emit.lua", "renew_lease.lua", "set_idle.lua", "touch_user.lua"} {
		if !seen[f] {
			t.Errorf("store.ScriptNames() has no %s", f)
		}
	}
	sum := sha1.Sum([]byte("return 1"))
	if got := scriptName([]string{"EVALSHA", hex.EncodeToString(sum[:]), "0"}); got != "EVALSHA (unknown script)" {
		t.Errorf("an unknown script: %q", got)
	}
	if got := scriptName([]string{"xack", "k", "g", "1-1"}); got != "XACK" {
		t.Errorf("XACK: %q", got)
	}
}

func TestConnAddrs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port, _ := strconv.Atoi(ln.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.1:"):])
	addrs, err := connAddrs(os.Getpid(), port)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(addrs, c.LocalAddr().String()) {
		t.Fatalf("connections to :%d: %v, want %s among them", port, addrs, c.LocalAddr())
	}
	if _, err := connAddrs(1<<30, port); err == nil {
		t.Fatal("a process that does not exist: no error")
	}
}
