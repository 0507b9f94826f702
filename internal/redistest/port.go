package redistest

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Data ports are drawn from [portLow, portHigh); a cluster node's bus is port+busOffset. Both
// ranges stay below the kernel's ephemeral range (32768 up), so no client connection holds
// one, and apart, so a node's data port never collides with another's bus.
const (
	portLow, portHigh = 11000, 21000
	busOffset         = 10000
)

// portFree reports whether nothing listens on 127.0.0.1:port now.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// freePort is a random port free now, with port+busOffset free too if bus. Another process may
// still take it before the server binds it: callers start again on another port then.
func freePort(bus bool) (int, error) {
	for range 1000 {
		p := portLow + rand.IntN(portHigh-portLow)
		if portFree(p) && (!bus || portFree(p+busOffset)) {
			return p, nil
		}
	}
	return 0, errors.New("redistest: no free port")
}

// FreeAddr is a loopback host:port nothing listens on right now, for a server a test starts
// (another process may take it first: retry on a bind error), or for a test that needs an
// address where nothing answers.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
