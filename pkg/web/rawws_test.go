package web_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawConn is a WebSocket client written by hand on a TCP connection, for what a real client
// library will not do: never answer pings, flood frames, fragment without end.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// rawDial opens /chat?query on ts from the loopback address local ("" for any) and completes
// the handshake; the server must answer 101.
func rawDial(t *testing.T, ts *httptest.Server, query, local string) *rawConn {
	t.Helper()
	c, res := rawHandshake(t, ts, query, local)
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", res.Status)
	}
	return c
}

// rawHandshake sends the upgrade request and reads the answer, whatever it is.
func rawHandshake(t *testing.T, ts *httptest.Server, query, local string) (*rawConn, *http.Response) {
	t.Helper()
	d := net.Dialer{Timeout: wait}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	c, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	req := "GET /chat?" + query + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		res.Body.Close()
	}
	c.SetDeadline(time.Time{})
	return &rawConn{t: t, c: c, br: br}, res
}

// frame is one client frame: masked (with a zero key, which leaves the payload as is).
func rawFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var f []byte
	switch n := len(payload); {
	case n < 126:
		f = []byte{b0, 0x80 | byte(n)}
	case n < 1<<16:
		f = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		f = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	f = append(f, 0, 0, 0, 0) // masking key
	return append(f, payload...)
}

func (r *rawConn) write(b []byte) error {
	r.c.SetWriteDeadline(time.Now().Add(wait))
	_, err := r.c.Write(b)
	return err
}

// readFrame reads one server frame (unmasked).
func (r *rawConn) readFrame() (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r.br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r.br, payload)
	return h[0] & 0x0f, payload, err
}

// rawEnd is how a raw connection ended: the server's close frame, if any, and when the
// connection was gone.
type rawEnd struct {
	close   *websocket.CloseError
	closeAt time.Time // when the close frame came
	at      time.Time
	err     error
}

// drain reads (and answers nothing) until the connection ends or within passes.
func (r *rawConn) drain(within time.Duration) <-chan rawEnd {
	done := make(chan rawEnd, 1)
	r.c.SetReadDeadline(time.Now().Add(within))
	go func() {
		var end rawEnd
		for {
			op, payload, err := r.readFrame()
			if err != nil {
				end.at, end.err = time.Now(), err
				done <- end
				return
			}
			if op == opClose && len(payload) >= 2 {
				end.close = &websocket.CloseError{Code: websocket.StatusCode(binary.BigEndian.Uint16(payload)), Reason: string(payload[2:])}
				end.closeAt = time.Now()
			}
		}
	}()
	return done
}

// timedOut says whether an end is the read deadline: the connection was still open.
func (e rawEnd) timedOut() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// flood writes chunk again and again until the connection refuses it or for passes, and
// reports how many chunks went out.
func (r *rawConn) flood(ctx context.Context, chunk []byte, within time.Duration) int {
	deadline := time.Now().Add(within)
	n := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r.c.SetWriteDeadline(deadline)
		if _, err := r.c.Write(chunk); err != nil {
			break
		}
		n++
	}
	return n
}
