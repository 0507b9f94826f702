package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client reaches one serve: HTTP for POST /token, WebSocket dials spread over source
// addresses.
type client struct {
	base    *url.URL
	api     *http.Client
	ws      *http.Client
	sources []net.IP // empty: the kernel picks the source address
	next    atomic.Uint64
	timeout time.Duration
}

func newClient(base *url.URL, sockets int, o Options) (*client, error) {
	c := &client{base: base, timeout: o.ConnectTimeout}
	n := o.SourceAddrs
	if n == 0 {
		n = sourcesNeeded(sockets, ephemeralPorts())
	}
	if n > 1 || o.SourceAddrs > 0 {
		ip := net.ParseIP(base.Hostname())
		if base.Hostname() == "localhost" {
			ip = net.IPv4(127, 0, 0, 1)
		}
		if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
			if o.SourceAddrs > 0 {
				return nil, fmt.Errorf("--source-addrs: only for a 127.x.x.x URL, not %s", base.Host)
			}
		} else {
			for i := 1; i <= n; i++ {
				c.sources = append(c.sources, net.IPv4(127, 0, 0, byte(i)))
			}
		}
	}
	c.api = &http.Client{
		Timeout:   o.ConnectTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.ConnectConcurrency, DisableCompression: true},
	}
	c.ws = &http.Client{Transport: &http.Transport{
		DialContext:        c.dial,
		DisableKeepAlives:  true, // every dial is an upgrade: the connection is the socket's
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}}
	return c, nil
}

// dial connects from the next source address in turn.
func (c *client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.timeout}
	if len(c.sources) > 0 {
		ip := c.sources[c.next.Add(1)%uint64(len(c.sources))]
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d.DialContext(ctx, network, addr)
}

// socketURL is the /chat URL of a session.
func (c *client) socketURL(token string, stream bool) string {
	u := *c.base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/chat"
	q := url.Values{"token": {token}}
	if stream {
		q.Set("stream", "1")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// open dials one socket of a session.
func (c *client) open(ctx context.Context, token string, stream bool) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, c.socketURL(token, stream), &websocket.DialOptions{
		HTTPClient:      c.ws,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil {
			return nil, &kindError{kind: fmt.Sprintf("dial_http_%d", resp.StatusCode), err: err}
		}
		return nil, &kindError{kind: dialKind(err), err: err}
	}
	conn.SetReadLimit(1 << 20)
	return conn, nil
}

// dialKind names a dial failure for the error counts.
func dialKind(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "address not available"), strings.Contains(msg, "cannot assign requested address"):
		return "dial_no_source_port"
	case strings.Contains(msg, "too many open files"):
		return "dial_too_many_files"
	case strings.Contains(msg, "connection refused"):
		return "dial_refused"
	case strings.Contains(msg, "deadline exceeded"), strings.Contains(msg, "timeout"):
		return "dial_timeout"
	case strings.Contains(msg, "reset by peer"), strings.Contains(msg, "EOF"):
		return "dial_reset"
	}
	return "dial_error"
}

// kindError is an error with the name it is counted under.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

func kindOf(err error) string {
	if k, ok := err.(*kindError); ok {
		return k.kind
	}
	return "error"
}

// sourcesNeeded is how many source addresses n sockets need when each may use half of the
// ephemeral ports (the other half is left for TIME_WAIT and the rest of the machine).
func sourcesNeeded(n, ports int) int {
	per := max(ports/2, 1)
	return min(max((n+per-1)/per, 1), 254)
}

// ephemeralPorts is the size of the kernel's ephemeral port range (28232 if unknown).
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}
