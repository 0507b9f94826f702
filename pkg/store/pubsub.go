package store

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/retry"

	"github.com/redis/rueidis"
)

// SubscriberOptions configure a Subscriber.
type SubscriberOptions struct {
	// OnNotify gets every notification of every subscribed session. It is called on the
	// connection's reading goroutine, in the order Redis sent them: it must not block.
	OnNotify func(token string, n chat.Notification)
	// OnResubscribe is called after a lost connection was replaced and every channel is
	// subscribed again. Notifications published meanwhile are lost: close the gaps.
	OnResubscribe func()
	// ClientName names the connection (CLIENT SETNAME) so operators can find it.
	// Default "chatbot-sub".
	ClientName string
	// Batch is the most channels per SUBSCRIBE or UNSUBSCRIBE command. Default 512.
	Batch int
	// Logger gets connection losses; default slog.Default().
	Logger *slog.Logger
}

// Subscriber is a process's one subscriber to the notify channels (Keys.Notify) of the
// sessions it holds sockets for: one Redis connection whatever the number of sessions, so
// sockets never read Redis themselves. It keeps the subscriptions asked for (Subscribe,
// Unsubscribe) in step with the connection, batching changes, and replaces a lost
// connection, subscribing everything again before calling OnResubscribe.
//
// Plain SUBSCRIBE is used (not SSUBSCRIBE): on a Redis Cluster a PUBLISH reaches the
// subscribers of every node, so one connection to any node hears every session. The price is
// that every node of a cluster handles every event's notification (the cluster bus), which
// bounds the events a cluster can announce whatever its size (docs/OPERATIONS.md, the
// capacity model); sharded pub/sub, a connection per shard, would not.
type Subscriber struct {
	st  *Store
	opt SubscriberOptions

	wake      chan struct{} // a change is waiting to be sent; capacity 1
	connected atomic.Bool   // a connection is up and every subscription asked for is sent
	nameless  atomic.Bool   // Redis refused CLIENT SETNAME once (warned): not asked again

	mu      sync.Mutex
	want    map[string]bool            // channels asked for
	have    map[string]bool            // channels confirmed on the current connection
	dirty   map[string]bool            // channels whose want and have may differ
	waiters map[string][]chan struct{} // closed when the channel is subscribed (or dropped)
}

// NewSubscriber returns a subscriber on the store's Redis. It connects when Run is called.
func (s *Store) NewSubscriber(opt SubscriberOptions) *Subscriber {
	if opt.ClientName == "" {
		opt.ClientName = "chatbot-sub"
	}
	if opt.Batch <= 0 {
		opt.Batch = 512
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.OnNotify == nil {
		opt.OnNotify = func(string, chat.Notification) {}
	}
	return &Subscriber{
		st: s, opt: opt, wake: make(chan struct{}, 1),
		want: map[string]bool{}, have: map[string]bool{}, dirty: map[string]bool{},
		waiters: map[string][]chan struct{}{},
	}
}

// Subscribe asks for the notifications of the session. The returned channel is closed once
// Redis has confirmed the subscription (every notification published after that is
// delivered to OnNotify), or when Unsubscribe withdraws the request first.
func (sub *Subscriber) Subscribe(token string) <-chan struct{} {
	ch := sub.st.keys.Notify(token)
	done := make(chan struct{})
	sub.mu.Lock()
	sub.want[ch] = true
	if sub.have[ch] && !sub.dirty[ch] {
		close(done)
	} else {
		sub.dirty[ch] = true
		sub.waiters[ch] = append(sub.waiters[ch], done)
	}
	sub.mu.Unlock()
	sub.poke()
	return done
}

// Unsubscribe withdraws a Subscribe. Notifications already on their way may still arrive.
func (sub *Subscriber) Unsubscribe(token string) {
	ch := sub.st.keys.Notify(token)
	sub.mu.Lock()
	delete(sub.want, ch)
	sub.dirty[ch] = true
	for _, w := range sub.waiters[ch] {
		close(w)
	}
	delete(sub.waiters, ch)
	sub.mu.Unlock()
	sub.poke()
}

// Connected reports whether the subscriber holds a connection on which every subscription
// asked for was sent: notifications published now reach OnNotify (serve's /readyz).
func (sub *Subscriber) Connected() bool { return sub.connected.Load() }

// Subscribed is the number of channels confirmed on the current connection (metrics, tests).
func (sub *Subscriber) Subscribed() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.have)
}

func (sub *Subscriber) poke() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// Run holds the connection until ctx ends, replacing it whenever it is lost (with a backoff
// up to 2s while Redis is unreachable). It returns nil when ctx ends.
func (sub *Subscriber) Run(ctx context.Context) error {
	connected := false
	wait := retry.Backoff{Base: 50 * time.Millisecond, Max: 2 * time.Second}
	for ctx.Err() == nil {
		conn, broken, err := sub.connect(ctx)
		if err == nil {
			err = sub.serve(ctx, conn, broken, connected)
			conn.Close()
			connected = true
			wait.Reset()
		}
		sub.lost()
		if ctx.Err() != nil {
			return nil
		}
		sub.opt.Logger.Warn("notification subscriber lost its Redis connection; reconnecting",
			"redis", sub.st.addr, "err", err)
		wait.Wait(ctx)
	}
	return nil
}

// connect opens the dedicated connection, names it and installs the message hook. A Redis (or
// a proxy) that refuses CLIENT SETNAME is warned about once: a nameless connection works.
func (sub *Subscriber) connect(ctx context.Context) (rueidis.DedicatedClient, <-chan error, error) {
	conn, _ := sub.st.rdb.Dedicate()
	broken := conn.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: sub.onMessage})
	if sub.nameless.Load() {
		return conn, broken, nil
	}
	cctx, cancel := context.WithTimeout(ctx, sub.st.opt.ConnectTimeout)
	defer cancel()
	err := conn.Do(cctx, conn.B().ClientSetname().ConnectionName(sub.opt.ClientName).Build()).Error()
	switch {
	case err == nil:
	case refused(err):
		sub.nameless.Store(true)
		sub.opt.Logger.Warn("Redis refused to name the notification connection (CLIENT SETNAME); going on without a name",
			"redis", sub.st.addr, "err", err)
	default:
		conn.Close()
		return nil, nil, err
	}
	return conn, broken, nil
}

// serve sends subscription changes on conn until it breaks or ctx ends.
func (sub *Subscriber) serve(ctx context.Context, conn rueidis.DedicatedClient, broken <-chan error, resubscribe bool) error {
	for first := true; ; first = false {
		if err := sub.sync(ctx, conn); err != nil {
			return err
		}
		sub.connected.Store(true)
		if first && resubscribe && sub.opt.OnResubscribe != nil {
			sub.opt.OnResubscribe()
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-broken:
			if err == nil {
				err = rueidis.ErrClosing
			}
			return err
		case <-sub.wake:
		}
	}
}

// lost forgets what the dead connection had: everything wanted must be subscribed again.
func (sub *Subscriber) lost() {
	sub.connected.Store(false)
	sub.mu.Lock()
	sub.have = map[string]bool{}
	for ch := range sub.want {
		sub.dirty[ch] = true
	}
	sub.mu.Unlock()
}

// sync sends the pending changes, in batches, and records what Redis confirmed.
func (sub *Subscriber) sync(ctx context.Context, conn rueidis.DedicatedClient) error {
	for {
		var add, drop []string
		sub.mu.Lock()
		for ch := range sub.dirty {
			switch {
			case sub.want[ch] && !sub.have[ch]:
				add = append(add, ch)
			case !sub.want[ch] && sub.have[ch]:
				// No longer counted as subscribed from now, so a Subscribe racing with
				// this UNSUBSCRIBE waits for the SUBSCRIBE that follows it.
				delete(sub.have, ch)
				drop = append(drop, ch)
			case sub.want[ch]:
				sub.confirm(ch)
			}
			delete(sub.dirty, ch)
			if len(add) == sub.opt.Batch || len(drop) == sub.opt.Batch {
				break
			}
		}
		sub.mu.Unlock()
		if len(add) == 0 && len(drop) == 0 {
			return nil
		}
		if len(drop) > 0 {
			if err := sub.do(ctx, conn, conn.B().Unsubscribe().Channel(drop...).Build()); err != nil {
				return err // the connection is replaced: lost() marks everything wanted
			}
			sub.mu.Lock()
			for _, ch := range drop {
				if sub.want[ch] {
					sub.dirty[ch] = true
				}
			}
			sub.mu.Unlock()
		}
		if len(add) > 0 {
			if err := sub.do(ctx, conn, conn.B().Subscribe().Channel(add...).Build()); err != nil {
				return err // the connection is replaced: lost() marks everything wanted
			}
			sub.mu.Lock()
			for _, ch := range add {
				sub.have[ch] = true
				if sub.want[ch] {
					sub.confirm(ch)
				} else {
					sub.dirty[ch] = true
				}
			}
			sub.mu.Unlock()
		}
	}
}

// confirm wakes the waiters of a channel now subscribed. Called with mu held.
func (sub *Subscriber) confirm(ch string) {
	for _, w := range sub.waiters[ch] {
		close(w)
	}
	delete(sub.waiters, ch)
}

// do runs one (UN)SUBSCRIBE; rueidis returns once Redis has processed the whole command.
func (sub *Subscriber) do(ctx context.Context, conn rueidis.DedicatedClient, cmd rueidis.Completed) error {
	cctx, cancel := context.WithTimeout(ctx, sub.st.opt.CommandTimeout)
	defer cancel()
	return conn.Do(cctx, cmd).Error()
}

// onMessage decodes a notification and hands it on. It runs on rueidis's reading goroutine.
func (sub *Subscriber) onMessage(m rueidis.PubSubMessage) {
	token, ok := sub.tokenOf(m.Channel)
	if !ok {
		return
	}
	n, ok := chat.DecodeNotification(m.Message)
	if !ok {
		sub.opt.Logger.Warn("ignoring a malformed notification", "channel_prefix", sub.st.keys.prefix)
		return
	}
	sub.opt.OnNotify(token, n)
}

// tokenOf reverses Keys.Notify.
func (sub *Subscriber) tokenOf(channel string) (string, bool) {
	rest, ok := strings.CutPrefix(channel, sub.st.keys.prefix+"{")
	if !ok {
		return "", false
	}
	token, ok := strings.CutSuffix(rest, "}:notify")
	if !ok || !chat.ValidToken(token) {
		return "", false
	}
	return token, true
}
