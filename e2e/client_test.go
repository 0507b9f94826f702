package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"chatbot/pkg/chat"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// createSession makes a session with POST /token on base and returns its token.
func createSession(ctx context.Context, base, name string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/token?name="+url.QueryEscape(name), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /token: %d %s", resp.StatusCode, body)
	}
	var s chat.Session
	if err := json.Unmarshal(body, &s); err != nil || !chat.ValidToken(s.Token) {
		return "", fmt.Errorf("POST /token: bad session %s (%v)", body, err)
	}
	return s.Token, nil
}

// history is the session's messages as GET /refresh_token returns them.
func history(ctx context.Context, base, token string) ([]chat.Message, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/refresh_token?token="+token, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /refresh_token: %d %s", resp.StatusCode, body)
	}
	var s chat.Session
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("GET /refresh_token: %v", err)
	}
	return s.Messages, nil
}

// turn is one user message of a convo and what came back for it.
type turn struct {
	n        int // 1, 2, ... in send order
	text     string
	clientID string
	ids      []string // message ids its acks carried; a second one means the first was lost
	replies  []string // text of every reply (message frame) to it
	sentAt   time.Time
	lastSend time.Time
	replyAt  time.Time
}

// convo is one chat session driven as a well-behaved client drives it: one socket at a time
// (?stream=1) to one of the serves; when the socket breaks, it reconnects (to the next serve)
// with ?last_id= the last offset it got, and resends by client_id every message not yet
// answered (a resend of a message the server has is a no-op). Everything that arrives is
// recorded, so a test can check each reply came once, right and in order.
type convo struct {
	token string
	label string
	bases func() []string // serve base URLs; reconnects go round them
	// resendAfter, when set, also resends a message left unanswered that long (a client whose
	// message was lost with a failed Redis primary gets it answered this way).
	resendAfter time.Duration

	mu       sync.Mutex
	conn     *websocket.Conn
	lastID   string
	turns    []*turn
	byClient map[string]*turn
	byID     map[string]*turn
	order    []int        // turn number of every reply, in arrival order
	errs     []chat.Event // error frames
	fatal    error        // why the convo gave up (session closed with 1008, ...)
	deltas   int
	restarts int // deltas with "restart": true
	dials    int // successful connections
	resends  int
	reacked  int // client_ids acked under a second message id (the first was lost)
	unknown  int // replies to no message of ours
	backward int // frames at or before an offset already received
	changed  chan struct{}
	done     chan struct{}
}

// newConvo creates a session on base and starts its client loop until ctx ends.
func newConvo(ctx context.Context, label string, bases func() []string, first int, resendAfter time.Duration) (*convo, error) {
	list := bases()
	token, err := createSession(ctx, list[first%len(list)], label)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	c := &convo{
		token: token, label: label, bases: bases, resendAfter: resendAfter,
		byClient: map[string]*turn{}, byID: map[string]*turn{},
		changed: make(chan struct{}), done: make(chan struct{}),
	}
	go c.loop(ctx, first)
	return c, nil
}

// notify wakes every waiter; call with c.mu held.
func (c *convo) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// loop keeps a socket open until ctx ends, reading every frame.
func (c *convo) loop(ctx context.Context, next int) {
	defer close(c.done)
	backoff := 20 * time.Millisecond
	for ctx.Err() == nil {
		list := c.bases()
		base := list[next%len(list)]
		conn, err := c.dial(ctx, base)
		if err != nil {
			next++ // that serve may be gone: try the next one
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 20 * time.Millisecond
		c.mu.Lock()
		c.conn = conn
		c.dials++
		var again []*turn
		if c.dials > 1 {
			again = c.unanswered(0)
		}
		c.notify()
		c.mu.Unlock()
		c.resend(ctx, conn, again)
		err = c.read(ctx, conn)
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
		conn.CloseNow()
		if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
			c.mu.Lock()
			c.fatal = fmt.Errorf("socket closed: %w", err)
			c.notify()
			c.mu.Unlock()
			return
		}
		next++
	}
}

func (c *convo) dial(ctx context.Context, base string) (*websocket.Conn, error) {
	c.mu.Lock()
	q := url.Values{"token": {c.token}, "stream": {"1"}}
	if c.lastID != "" {
		q.Set("last_id", c.lastID)
	}
	c.mu.Unlock()
	u := "ws" + strings.TrimPrefix(base, "http") + "/chat?" + q.Encode()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, u, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	return conn, nil
}

// read handles frames until the socket fails; with resendAfter it also resends stale turns.
func (c *convo) read(ctx context.Context, conn *websocket.Conn) error {
	type frame struct {
		data []byte
		err  error
	}
	frames := make(chan frame)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			_, data, err := conn.Read(rctx)
			select {
			case frames <- frame{data, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var tick <-chan time.Time
	if c.resendAfter > 0 {
		tk := time.NewTicker(c.resendAfter / 4)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		select {
		case f := <-frames:
			if f.err != nil {
				return f.err
			}
			c.handle(f.data)
		case <-tick:
			c.mu.Lock()
			stale := c.unanswered(c.resendAfter)
			c.mu.Unlock()
			c.resend(ctx, conn, stale)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handle records one server frame.
func (c *convo) handle(data []byte) {
	var ev chat.Event
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	if err := json.Unmarshal(data, &ev); err != nil {
		c.errs = append(c.errs, chat.Event{Type: "undecodable", Msg: string(data)})
		return
	}
	if ev.Offset != "" {
		if c.lastID != "" && chat.CompareIDs(ev.Offset, c.lastID) <= 0 {
			c.backward++
		} else {
			c.lastID = ev.Offset
		}
	}
	switch ev.Type {
	case chat.FrameAck:
		t := c.byClient[ev.ClientID]
		if t == nil {
			c.errs = append(c.errs, ev)
			return
		}
		if _, seen := c.byID[ev.ID]; !seen {
			t.ids = append(t.ids, ev.ID)
			c.byID[ev.ID] = t
			if len(t.ids) > 1 {
				c.reacked++
			}
		}
	case chat.FrameDelta:
		c.deltas++
		if ev.Restart {
			c.restarts++
		}
	case chat.FrameMessage:
		t := c.byID[ev.ReplyTo]
		if t == nil {
			c.unknown++
			return
		}
		t.replies = append(t.replies, ev.Msg)
		if t.replyAt.IsZero() {
			t.replyAt = time.Now()
		}
		c.order = append(c.order, t.n)
	default:
		c.errs = append(c.errs, ev)
	}
}

// unanswered is the turns without a reply last sent at least age ago; call with c.mu held.
func (c *convo) unanswered(age time.Duration) []*turn {
	var out []*turn
	for _, t := range c.turns {
		if len(t.replies) == 0 && time.Since(t.lastSend) >= age {
			out = append(out, t)
		}
	}
	return out
}

func (c *convo) resend(ctx context.Context, conn *websocket.Conn, turns []*turn) {
	for _, t := range turns {
		if c.write(ctx, conn, t) != nil {
			return
		}
		c.mu.Lock()
		c.resends++
		c.mu.Unlock()
	}
}

func (c *convo) write(ctx context.Context, conn *websocket.Conn, t *turn) error {
	data, _ := json.Marshal(chat.Command{Type: chat.CmdMessage, Msg: t.text, ClientID: t.clientID})
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := conn.Write(wctx, websocket.MessageText, data)
	if err == nil {
		c.mu.Lock()
		t.lastSend = time.Now()
		c.mu.Unlock()
	}
	return err
}

// resendUnanswered resends, on the open socket, every message without a reply.
func (c *convo) resendUnanswered(ctx context.Context) error {
	c.mu.Lock()
	conn, again := c.conn, c.unanswered(0)
	c.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("%s: no socket open", c.label)
	}
	c.resend(ctx, conn, again)
	return nil
}

// takeErrors returns the error frames received so far and forgets them (a test that expects
// some checks them itself).
func (c *convo) takeErrors() []chat.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := c.errs
	c.errs = nil
	return errs
}

// send sends the next user message. If no socket is open, or the write fails, it goes out
// when the socket is back (with the other unanswered ones).
func (c *convo) send(ctx context.Context) *turn {
	c.mu.Lock()
	n := len(c.turns) + 1
	t := &turn{n: n, text: fmt.Sprintf("%s says %d %s", c.label, n, uuid.NewString()[:8]), clientID: uuid.NewString()}
	t.sentAt, t.lastSend = time.Now(), time.Now()
	c.turns = append(c.turns, t)
	c.byClient[t.clientID] = t
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		c.write(ctx, conn, t)
	}
	return t
}
