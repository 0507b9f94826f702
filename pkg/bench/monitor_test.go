package bench

import (
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

func TestScriptName(t *testing.T) {
	t.Parallel()
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "chan", "3600000", "2000"}
	eval := func(own ...string) []string {
		return append(append([]string{"EVALSHA", "sha", "7"}, keys...), own...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{eval("{}", "id", "cid", "16", "60", "{}", "1000"), "EVALSHA send"},
		{eval("{}", "id", "cid", "16", "60", "{}", "1000", "100000", "token"), "EVALSHA send"},
		{eval("holder", "7500", "3", "20"), "EVALSHA begin"},
		{eval("holder", "3", "{}", "message", "{}", "1000"), "EVALSHA finish"},
		{eval("holder", "7500", "3"), "EVALSHA renew"},
		{eval("holder", "delta", "{}"), "EVALSHA emit"},
		{eval("holder"), "EVALSHA release"},
		{eval("1"), "EVALSHA get"},
		{[]string{"EVALSHA", "sha", "1", "chat:requests:{0}", "workers", "c", "0", "1-1"}, "EVALSHA request-stream script"},
		{[]string{"xack", "k", "g", "1-1"}, "XACK"},
	} {
		if got := scriptName(c.args); got != c.want {
			t.Errorf("%v: %q, want %q", c.args[3:], got, c.want)
		}
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
