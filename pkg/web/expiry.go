package web

import (
	"time"

	"github.com/coder/websocket"
)

// A session expires session.ttl after its last activity, and nothing tells a process that
// holds its sockets (keyspace notifications are off on most managed Redis). So each hub
// checks the session's TTL when it would run out (one PTTL per session per TTL, and one when
// the hub starts), and closes the session's sockets with 1008 once it is gone: a socket of
// an expired session does not stay open, counted against the caps, until it sends.

// Margins of the expiry check: after the TTL runs out, and before checking again when Redis
// did not answer.
const (
	expirySlack = 100 * time.Millisecond
	expiryRetry = 10 * time.Second
)

// checkExpiry reads the session's TTL: it arms the next check, or closes the sockets of a
// session that is gone.
func (h *hub) checkExpiry() {
	ttl, err := h.st.SessionTTL(h.ctx, h.token)
	switch {
	case err != nil:
		if h.ctx.Err() != nil {
			return
		}
		h.log.Warn("reading a session's TTL failed; checking again later", "session", tokenHash(h.token), "err", err)
		h.armExpiry(expiryRetry)
	case ttl > 0:
		h.armExpiry(ttl + expirySlack)
	default:
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return
		}
		h.closed = true
		socks := append([]*socket(nil), h.sockets...)
		h.mu.Unlock()
		h.log.Debug("closing the sockets of an expired session", "session", tokenHash(h.token), "sockets", len(socks))
		for _, s := range socks {
			s.closeAsync(websocket.StatusPolicyViolation, reasonAuth)
		}
	}
}

// armExpiry checks the TTL again after d, unless the hub has ended.
func (h *hub) armExpiry(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if h.expiry != nil {
		h.expiry.Stop()
	}
	h.expiry = time.AfterFunc(d, func() { h.bg.Go(h.checkExpiry) })
}
