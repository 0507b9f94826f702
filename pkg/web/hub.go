package web

import (
	"context"
	"sync"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/retry"
	"chatbot/pkg/store"

	"github.com/coder/websocket"
)

// pageSize is how many events one XRANGE reads when closing a gap or replaying.
const pageSize = 256

// hub fans one session's events out to the sockets this process holds for it. It has no
// goroutine of its own: notifications are delivered on the subscriber's goroutine when they
// follow the last event delivered, and a goroutine (of the server's goroutines) reads Redis
// only while there is a gap.
type hub struct {
	*hubDeps
	fan   *fanout // the owner, which counts the hub's sockets
	token string
	count int // sockets joined or joining; guarded by fan.mu

	ready chan struct{} // closed once live, or when starting failed (err)
	err   error

	mu      sync.Mutex
	sockets []*socket
	last    string // offset of the newest event delivered
	live    bool   // subscribed and last known
	busy    bool   // a goroutine is reading Redis (starting or closing a gap)
	dirty   bool   // a notification did not follow last: read Redis from last
	closed  bool
	expiry  *time.Timer // checks the session's TTL when it would run out (expiry.go)
}

// start subscribes, learns the newest event, and goes live.
func (h *hub) start(subscribed <-chan struct{}) {
	ctx := h.ctx
	timer := time.NewTimer(h.joinTimeout)
	defer timer.Stop()
	select {
	case <-subscribed:
	case <-timer.C:
		h.fail(errSubscribeTimeout)
		return
	case <-ctx.Done():
		h.fail(ctx.Err())
		return
	}
	last, err := h.st.LastEventID(ctx, h.token)
	if err != nil {
		h.fail(err)
		return
	}
	h.mu.Lock()
	h.last, h.live = last, true
	h.mu.Unlock()
	close(h.ready)
	h.checkExpiry()
	h.catchUp()
}

// fail ends a hub that could not start: its joiners close their sockets, and the next
// socket of the session makes a new hub.
func (h *hub) fail(err error) {
	h.err = err
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.fan.drop(h)
	close(h.ready)
}

// add makes a joined socket receive live events. For a socket resuming from an offset, its
// sent offset is set before it is visible, so nothing at or before it is written twice.
func (h *hub) add(s *socket, from string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errSessionGone
	}
	s.sent = from
	h.sockets = append(h.sockets, s)
	return nil
}

func (h *hub) remove(s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.sockets {
		if x == s {
			last := len(h.sockets) - 1
			h.sockets[i] = h.sockets[last]
			h.sockets[last] = nil
			h.sockets = h.sockets[:last]
			break
		}
	}
}

// notify handles one notification. It runs on the subscriber's goroutine: it never waits
// on Redis.
func (h *hub) notify(n chat.Notification) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if n.Deleted {
		h.closed = true
		socks := append([]*socket(nil), h.sockets...)
		h.mu.Unlock()
		for _, s := range socks {
			s.closeAsync(websocket.StatusPolicyViolation, reasonDeleted)
		}
		return
	}
	switch {
	case h.busy || !h.live:
		h.dirty = true
	case chat.CompareIDs(n.ID, h.last) <= 0:
		// Already delivered (read while closing a gap).
	case n.Prev == h.last:
		h.deliver(store.Entry{ID: n.ID, Type: n.Type, Body: n.Body})
	default:
		h.dirty, h.busy = true, true
		h.bg.Go(h.catchUp)
	}
	h.mu.Unlock()
}

// resync reads Redis from the last event delivered: notifications may have been lost (the
// subscriber's connection was replaced).
func (h *hub) resync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || !h.live {
		return
	}
	h.dirty = true
	if !h.busy {
		h.busy = true
		h.bg.Go(h.catchUp)
	}
}

// catchUp reads the events after last from Redis and delivers them, until no notification
// is left waiting. It runs while busy is set; notifications meanwhile only set dirty.
func (h *hub) catchUp() {
	ctx := h.ctx
	wait := retry.Backoff{Base: 50 * time.Millisecond, Max: 2 * time.Second}
	for {
		h.mu.Lock()
		if h.closed || !h.dirty {
			h.busy = false
			h.mu.Unlock()
			return
		}
		h.dirty = false
		from := h.last
		h.mu.Unlock()
		if err := h.readGap(ctx, from); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Warn("reading a session's events failed; retrying", "session", tokenHash(h.token), "err", err)
			h.mu.Lock()
			h.dirty = true
			h.mu.Unlock()
			if !wait.Wait(ctx) {
				return
			}
			continue
		}
		wait.Reset()
	}
}

// readGap delivers every event after from. If events after from were trimmed before this
// hub read them, the sockets are told (history_truncated).
func (h *hub) readGap(ctx context.Context, from string) error {
	h.gapReads.Inc()
	if from != "" {
		truncated, err := h.st.Truncated(ctx, h.token, from)
		if err != nil {
			return err
		}
		if truncated {
			h.mu.Lock()
			for _, s := range h.sockets {
				s.sendError(chat.CodeHistoryTruncated, msgTruncated, "")
			}
			h.mu.Unlock()
		}
	}
	for {
		entries, err := h.st.ReadEvents(ctx, h.token, from, pageSize)
		if err != nil {
			return err
		}
		h.mu.Lock()
		for _, e := range entries {
			if chat.CompareIDs(e.ID, h.last) > 0 {
				h.deliver(e)
			}
		}
		closed := h.closed
		h.mu.Unlock()
		if len(entries) < pageSize || closed {
			return nil
		}
		from = entries[len(entries)-1].ID
	}
}

// deliver queues an event to every socket that wants its type. Called with mu held.
func (h *hub) deliver(e store.Entry) {
	h.last = e.ID
	f := outFrame{id: e.ID, typ: e.Type, data: e.Frame()}
	if h.tracing && (e.Type == chat.FrameDelta || e.Type == chat.FrameMessage) {
		f.trace = eventTraceparent(e.Body)
	}
	streaming := chat.Streaming(e.Type)
	for _, s := range h.sockets {
		if streaming && !s.stream {
			continue
		}
		s.enqueue(f)
	}
}

const msgTruncated = "Events after your last offset are no longer kept: reload the conversation with /refresh_token"
