package web

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Close reasons of a socket that sends too much (1008).
const (
	reasonTooManyFrames    = "Too many frames"
	reasonTooManyFragments = "Too many fragments in one message"
)

// errFlood is what a frameMeter returns once a socket broke its frame limits: coder/websocket
// then stops reading, and the close with the reason recorded goes out.
var errFlood = errors.New("socket closed: it sent frames beyond limits.frames_per_second or limits.fragments_per_message")

// frameMeter sits between a socket's connection and coder/websocket's reader and counts every
// frame the client sends, control and continuation frames included (coder/websocket answers
// pings and drops empty continuation frames without its caller seeing them). It reads the
// frame headers as the bytes go by and skips payloads by their length, so a frame costs a few
// byte comparisons. Past limits.frames_per_second (a token bucket of twice as many) or
// limits.fragments_per_message it calls over once and fails every later read: the socket
// stops at once, whatever is still in flight.
type frameMeter struct {
	r    io.Reader
	over func(reason string) // called once, on the reader's goroutine

	rate, burst float64 // frames per second; bucket size
	tokens      float64
	refilled    time.Time
	maxFrags    int
	frags       int // frames of the message being received so far

	hdr  [14]byte // the frame header being read
	hlen int      // bytes of it read
	need int      // its length, known once two bytes are read
	skip uint64   // payload bytes left of the current frame

	err   error
	bytes atomic.Int64 // bytes read, for the access log
}

func newFrameMeter(r io.Reader, perSecond, maxFrags int, over func(string)) *frameMeter {
	burst := 2 * float64(perSecond)
	return &frameMeter{
		r: r, over: over, rate: float64(perSecond), burst: burst, tokens: burst,
		refilled: time.Now(), maxFrags: maxFrags,
	}
}

func (m *frameMeter) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.r.Read(p)
	m.bytes.Add(int64(n))
	if reason := m.scan(p[:n]); reason != "" {
		m.err = errFlood
		m.over(reason)
		return n, m.err
	}
	return n, err
}

// scan follows the frames in b; a non-empty result is the limit a frame broke.
func (m *frameMeter) scan(b []byte) string {
	for len(b) > 0 {
		if m.skip > 0 {
			k := min(uint64(len(b)), m.skip)
			m.skip -= k
			b = b[k:]
			continue
		}
		if m.hlen == 0 && len(b) >= 2 && len(b) >= headerLength(b[1]) {
			// The whole header is here: the usual case.
			n := copy(m.hdr[:], b[:headerLength(b[1])])
			b = b[n:]
		} else {
			m.hdr[m.hlen] = b[0]
			m.hlen++
			b = b[1:]
			if m.hlen == 2 {
				m.need = headerLength(m.hdr[1])
			}
			if m.hlen < 2 || m.hlen < m.need {
				continue
			}
			m.hlen = 0
		}
		m.skip = m.payloadLength()
		if reason := m.frame(); reason != "" {
			return reason
		}
	}
	return ""
}

// headerLength is the length of a frame header whose second byte is b1.
func headerLength(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4 // masking key
	}
	return n
}

func (m *frameMeter) payloadLength() uint64 {
	switch n := m.hdr[1] & 0x7f; n {
	case 126:
		return uint64(m.hdr[2])<<8 | uint64(m.hdr[3])
	case 127:
		var v uint64
		for _, c := range m.hdr[2:10] {
			v = v<<8 | uint64(c)
		}
		return v
	default:
		return uint64(n)
	}
}

// frame counts one complete frame header.
func (m *frameMeter) frame() string {
	if !m.take() {
		return reasonTooManyFrames
	}
	fin := m.hdr[0]&0x80 != 0
	switch m.hdr[0] & 0x0f {
	case 0x0: // continuation
		m.frags++
		if m.frags > m.maxFrags {
			return reasonTooManyFragments
		}
	case 0x1, 0x2: // text, binary: a message starts
		m.frags = 1
	default: // control frames come between fragments and are not part of the message
		return ""
	}
	if fin {
		m.frags = 0
	}
	return ""
}

// take spends one token of the bucket, refilling it (reading the clock) only when empty.
func (m *frameMeter) take() bool {
	if m.tokens < 1 {
		now := time.Now()
		m.tokens = min(m.burst, m.tokens+now.Sub(m.refilled).Seconds()*m.rate)
		m.refilled = now
		if m.tokens < 1 {
			return false
		}
	}
	m.tokens--
	return true
}

// flooded is a socket's frameMeter over its limits: the socket closes with 1008 and the
// reason (the reader, whose next read fails, sends the close frame and drops the connection).
func (s *socket) flooded(reason string) {
	s.srv.met.floods.WithLabelValues(reason).Inc()
	s.srv.log.Info("closing a socket that sends too many frames", "session", tokenHash(s.token), "client", s.client.addr, "reason", reason)
	s.markClosing(websocket.StatusPolicyViolation, reason)
}
