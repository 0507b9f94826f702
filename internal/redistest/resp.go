package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// commandTimeout bounds one command of the admin connection.
const commandTimeout = 3 * time.Second

// conn is a node's admin connection: RESP2, one command at a time, dialed on first use and
// again after an error. It is all these tests need to drive a server (INFO, CLUSTER, XLEN...),
// without a client library's pools and background goroutines.
type conn struct {
	addr string
	tls  *tls.Config // nil: plain TCP

	mu sync.Mutex
	c  net.Conn
	r  *bufio.Reader
}

// do sends one command and returns its reply as text: a string or an integer as is, an array
// as its elements' texts joined by newlines, nil as "". A Redis error reply is an error.
func (c *conn) do(ctx context.Context, args ...string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline := time.Now().Add(commandTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if c.c == nil {
		d := &net.Dialer{Deadline: deadline}
		var nc net.Conn
		var err error
		if c.tls != nil {
			nc, err = (&tls.Dialer{NetDialer: d, Config: c.tls}).DialContext(ctx, "tcp", c.addr)
		} else {
			nc, err = d.DialContext(ctx, "tcp", c.addr)
		}
		if err != nil {
			return "", err
		}
		c.c, c.r = nc, bufio.NewReader(nc)
	}
	c.c.SetDeadline(deadline)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.c, b.String()); err != nil {
		c.closeLocked()
		return "", err
	}
	reply, err := readReply(c.r)
	var redisErr replyError
	if err != nil && !errors.As(err, &redisErr) {
		c.closeLocked() // the stream is out of step: start afresh next time
	}
	return reply, err
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *conn) closeLocked() {
	if c.c != nil {
		c.c.Close()
		c.c, c.r = nil, nil
	}
}

// replyError is an error reply of the server ("-ERR ...").
type replyError string

func (e replyError) Error() string { return string(e) }

// readReply reads one RESP2 reply. The error of an array's element is returned after the
// whole array is read, so the stream stays in step.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", replyError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array length %q", line)
		}
		parts := make([]string, 0, max(n, 0))
		var first error
		for range n {
			s, err := readReply(r)
			var redisErr replyError
			if err != nil && !errors.As(err, &redisErr) {
				return "", err
			}
			if err != nil && first == nil {
				first = err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "\n"), first
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// infoField is field's value in the text of INFO or CLUSTER INFO ("" when absent).
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
