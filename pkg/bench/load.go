package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// Result is what a load run measured.
type Result struct {
	URL               string  `json:"url"`
	Sessions          int     `json:"sessions"`
	SocketsPerSession int     `json:"sockets_per_session"`
	Stream            bool    `json:"stream"`
	Rate              float64 `json:"rate"` // 0: closed loop
	Pipeline          int     `json:"pipeline,omitempty"`
	StaggerSec        float64 `json:"stagger_s,omitempty"` // closed loop: the first messages spread over this
	DurationSec       float64 `json:"duration_s"`
	// WindowStart and WindowEnd bound the measured window (Unix seconds), to line other
	// samples up with it.
	WindowStart float64 `json:"window_start"`
	WindowEnd   float64 `json:"window_end"`
	WarmupSec   float64 `json:"warmup_s"`
	SourceAddrs int     `json:"source_addrs"`
	SetupSec    float64 `json:"setup_s"` // sessions created and sockets open
	// CPU is what the bench, the watched processes and the machine used during the
	// measured window.
	CPU CPUUse `json:"cpu"`

	// Sent and Turns count the messages due in the measured window, and those of them
	// answered (by the end of the drain).
	Sent        int64   `json:"sent"`
	Turns       int64   `json:"turns"`
	TurnsPerSec float64 `json:"turns_per_s"`
	// Latency is from when a message was due to its message frame; Ack to its ack frame and
	// FirstDelta to its first delta frame (stream only).
	Latency    Summary  `json:"latency"`
	Ack        *Summary `json:"ack,omitempty"`
	FirstDelta *Summary `json:"first_delta,omitempty"`
	// DeltaDelivery is, for every delta, from its write to Redis (the time in its offset,
	// Redis's clock in whole ms, so up to 1ms more than the truth) to the client: what the web
	// tier adds to a streamed piece of a reply. It needs the bench and Redis on one clock.
	DeltaDelivery *Summary `json:"delta_delivery,omitempty"`
	// Errors counts failures by kind. Those of one message (error frame codes, no_reply: no
	// answer by the end of the drain, write_failed) count for the messages of the window, so
	// Sent = Turns + their sum; the others (closed_CODE, dial_*, token_*, client_behind, ...)
	// for the whole run.
	Errors map[string]int64 `json:"errors"`
	// Sessions' own view, so that a starved session shows even when it produced no sample:
	// SessionWorst summarizes each session's worst reply latency in the window (one sample per
	// session that had a reply), NoReply is how many sessions got no reply to a message due
	// in the window (or sent before it and answered in none), and Unanswered is how many
	// messages, whenever sent, still had no reply at the end of the drain.
	SessionWorst Summary `json:"session_worst"`
	NoReply      int     `json:"sessions_no_reply"`
	Unanswered   int64   `json:"unanswered"`
	// Redis is what the Redis at RedisURL counted (INFO), when it could be read; Tokens and
	// ReplyBytes are the words and bytes of text of the replies that arrived in the window,
	// and Replies the replies of the whole run (what MemoryBytes holds).
	Redis      *RedisUse `json:"redis,omitempty"`
	Tokens     int64     `json:"tokens"`
	ReplyBytes int64     `json:"reply_bytes"`
	Replies    int64     `json:"replies"`
	// WindowReplies is how many replies arrived in the window (Tokens' replies).
	WindowReplies int64 `json:"window_replies"`
	// ModelFirstTokenMs is the model's own time to its first token (ModelFirstToken).
	ModelFirstTokenMs float64 `json:"model_first_token_ms,omitempty"`
	// RoundTrips is what MONITOR saw, with RedisMonitor.
	RoundTrips *RoundTrips `json:"round_trips,omitempty"`
	// Frames counts the frames received by every socket, by type.
	Frames map[string]int64 `json:"frames"`
}

// Run drives the serve at o.URL: creates the sessions, opens their sockets, sends for
// Warmup+Duration, waits up to Drain for the replies still due, closes everything and
// reports. It returns an error only when nothing could be measured (bad options, no session).
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	base, err := o.validate()
	if err != nil {
		return nil, err
	}
	c, err := newClient(base, o.Sessions*o.SocketsPerSession, o)
	if err != nil {
		return nil, err
	}
	quoted, _ := json.Marshal(o.Message)
	res := &Result{
		URL: o.URL, Sessions: o.Sessions, SocketsPerSession: o.SocketsPerSession, Stream: o.Stream,
		Rate: o.Rate, DurationSec: o.Duration.Seconds(), WarmupSec: o.Warmup.Seconds(), SourceAddrs: max(len(c.sources), 1),
		ModelFirstTokenMs: ms(o.ModelFirstToken),
	}
	// Redis's own counters, when redis.url names a single node that answers.
	var infoBefore redisInfo
	withInfo := false
	if o.RedisURL != "" {
		infoBefore, err = sampleRedis(ctx, o.RedisURL)
		withInfo = err == nil
	}
	if o.Rate == 0 {
		res.Pipeline, res.StaggerSec = o.Pipeline, o.Stagger.Seconds()
	}

	t0 := time.Now()
	tokens, failed := c.createSessions(ctx, o.Sessions, o.ConnectConcurrency)
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no session could be created (%s)", formatCounts(failed))
	}
	// The sockets read with a context of their own: it ends once the run is over.
	rctx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	sessions, dialFailed := openSessions(ctx, rctx, c, tokens, o, quoted)
	for k, v := range dialFailed {
		failed[k] += v
	}
	if len(sessions) == 0 {
		return nil, fmt.Errorf("no socket could be opened (%s)", formatCounts(failed))
	}
	res.SetupSec = time.Since(t0).Seconds()

	start := time.Now()
	rec := newRecorder(start.Add(o.Warmup), start.Add(o.Warmup+o.Duration))
	res.WindowStart, res.WindowEnd = unixSec(rec.from), unixSec(rec.to)
	for _, s := range sessions {
		s.rec = rec
	}
	for k, v := range failed {
		rec.addError(k, v)
	}
	var readers sync.WaitGroup
	for _, s := range sessions {
		for i, conn := range s.conns {
			readers.Go(func() { s.read(rctx, conn, i == 0) })
		}
	}

	// Writes use the readers' context: coder/websocket closes a connection whose write is
	// cancelled, so the end of the sending must not cut one short.
	for _, s := range sessions {
		s.wctx = rctx
	}
	var mon *monitor
	if o.RedisMonitor {
		if mon, err = startMonitor(ctx, o.RedisURL, rec.from, rec.to); err != nil {
			return nil, err
		}
		defer mon.stop()
	}
	cpuFrom := make(chan cpuSnap, 1)
	infoFrom := make(chan redisInfo, 1)
	cpuTimer := time.AfterFunc(time.Until(rec.from), func() {
		cpuFrom <- snapCPU(o.Watch)
		if withInfo {
			if info, err := sampleRedis(ctx, o.RedisURL); err == nil {
				infoFrom <- info
			}
		}
	})
	defer cpuTimer.Stop()
	if o.Rate > 0 {
		rec.addError("client_behind", paced(ctx, sessions, o.Rate, start, rec.to))
	} else {
		closedLoop(ctx, sessions, o.Pipeline, o.Stagger, rec.to)
	}
	select {
	case from := <-cpuFrom:
		res.CPU = from.use(snapCPU(o.Watch))
		if !withInfo {
			break
		}
		select {
		case from := <-infoFrom:
			if to, err := sampleRedis(ctx, o.RedisURL); err == nil {
				res.Redis = &RedisUse{Commands: to.commands - from.commands, NetBytes: to.netBytes() - from.netBytes()}
			}
		case <-time.After(5 * time.Second): // the sample failed, or took longer than INFO should
		}
	default: // stopped before the window began
	}
	drain(ctx, sessions, o.Drain)
	if res.Redis != nil {
		if after, err := sampleRedis(ctx, o.RedisURL); err == nil {
			res.Redis.MemoryBytes = after.int("used_memory") - infoBefore.int("used_memory")
		}
	}
	if mon != nil {
		mon.stop()
	}

	var worst []time.Duration
	for _, s := range sessions {
		s.mu.Lock()
		for _, m := range s.waiting {
			rec.addMsgError(m.at, "no_reply")
		}
		res.Unanswered += int64(len(s.waiting))
		if s.replies == 0 {
			res.NoReply++
		} else {
			worst = append(worst, s.worst)
		}
		s.mu.Unlock()
	}
	res.SessionWorst = summarize(worst)
	rec.over.Store(true) // from now on a socket that ends is no error
	closeAll(sessions)
	stopReading()
	readers.Wait()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.Sent, res.Turns = rec.sent, rec.turns
	res.TurnsPerSec = float64(rec.turns) / o.Duration.Seconds()
	res.Latency = summarize(rec.turn)
	if o.Stream {
		ack, fd, dd := summarize(rec.ack), summarize(rec.firstDelta), summarize(rec.delivery)
		res.Ack, res.FirstDelta, res.DeltaDelivery = &ack, &fd, &dd
	}
	res.Errors, res.Frames = rec.errors, rec.frames
	res.Tokens, res.ReplyBytes, res.Replies = rec.tokens, rec.replyBytes, rec.replies
	res.WindowReplies = rec.windowReplies
	if mon != nil {
		rt := mon.result(rec.sent, watchedAddrs(o))
		res.RoundTrips = &rt
	}
	return res, nil
}

func unixSec(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// watchedAddrs are the local addresses of the watched processes' Redis connections.
func watchedAddrs(o Options) map[string][]string {
	ports := redisPorts(o)
	out := map[string][]string{}
	for name, pid := range o.Watch {
		if addrs, err := connAddrs(pid, ports...); err == nil {
			out[name] = addrs
		}
	}
	return out
}

// redisPorts are the ports of RedisAddrs and RedisURL.
func redisPorts(o Options) []int {
	addrs := append([]string(nil), o.RedisAddrs...)
	if u, err := url.Parse(o.RedisURL); err == nil && u.Host != "" {
		addrs = append(addrs, u.Host)
	}
	var ports []int
	for _, a := range addrs {
		if _, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				ports = append(ports, n)
			}
		}
	}
	return ports
}

// openSessions opens the sockets of every session; a session whose first socket fails is
// left out. Sockets read with rctx.
func openSessions(ctx, rctx context.Context, c *client, tokens []string, o Options, quoted []byte) ([]*session, map[string]int64) {
	all := make([]*session, len(tokens))
	var mu sync.Mutex
	failed := map[string]int64{}
	g := errgroup.Group{}
	g.SetLimit(o.ConnectConcurrency)
	for i, tok := range tokens {
		s := &session{token: tok, n: i, stream: o.Stream, text: quoted}
		for range o.SocketsPerSession {
			g.Go(func() error {
				conn, err := c.open(rctx, tok, o.Stream)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed[kindOf(err)]++
					return nil
				}
				s.conns = append(s.conns, conn)
				all[i] = s
				return nil
			})
		}
		if ctx.Err() != nil {
			break
		}
	}
	_ = g.Wait()
	out := all[:0]
	for _, s := range all {
		if s != nil {
			out = append(out, s)
		}
	}
	return out, failed
}

// closedLoop keeps pipeline messages in flight per session until end (or ctx ends), the
// sessions starting one after another over stagger.
func closedLoop(ctx context.Context, sessions []*session, pipeline int, stagger time.Duration, end time.Time) {
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var wg sync.WaitGroup
	for i, s := range sessions {
		s.credits = make(chan struct{}, pipeline)
		for range pipeline {
			s.credits <- struct{}{}
		}
		start := stagger * time.Duration(i) / time.Duration(len(sessions))
		wg.Go(func() {
			if start > 0 {
				t := time.NewTimer(start)
				defer t.Stop()
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.credits:
				}
				now := time.Now()
				if !now.Before(end) {
					return
				}
				s.send(now)
			}
		})
	}
	wg.Wait()
}

// paced sends rate messages per second in total from start, round robin over the sessions,
// every message due before end (unless ctx ends). Each session writes its own messages, so
// a slow socket holds only itself back; a session about a second behind drops the message.
// It returns how many were dropped.
func paced(ctx context.Context, sessions []*session, rate float64, start, end time.Time) (behind int64) {
	queue := max(int(rate/float64(len(sessions)))+1, 4)
	var wg sync.WaitGroup
	for _, s := range sessions {
		s.sends = make(chan time.Time, queue)
		wg.Go(func() {
			for at := range s.sends {
				if ctx.Err() == nil {
					s.send(at)
				}
			}
		})
	}
	defer func() {
		for _, s := range sessions {
			close(s.sends)
		}
		wg.Wait()
	}()
	interval := time.Duration(float64(time.Second) / rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			return behind
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return behind
			case <-timer.C:
			}
		}
		select {
		case sessions[i%len(sessions)].sends <- at:
		default:
			behind++
		}
	}
}

// drain waits until no message waits for a reply, or for at most d.
func drain(ctx context.Context, sessions []*session, d time.Duration) {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		waiting := 0
		for _, s := range sessions {
			s.mu.Lock()
			if !s.dead {
				waiting += len(s.waiting)
			}
			s.mu.Unlock()
		}
		if waiting == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// closeAll closes every socket, many at a time, each within a second.
func closeAll(sessions []*session) {
	var conns []*websocket.Conn
	for _, s := range sessions {
		conns = append(conns, s.conns...)
	}
	closeConns(conns)
}

func closeConns(conns []*websocket.Conn) {
	g := errgroup.Group{}
	g.SetLimit(256)
	for _, c := range conns {
		g.Go(func() error {
			done := make(chan struct{})
			timer := time.AfterFunc(time.Second, func() { c.CloseNow() })
			go func() {
				defer close(done)
				c.Close(websocket.StatusNormalClosure, "bench done")
			}()
			<-done
			timer.Stop()
			return nil
		})
	}
	_ = g.Wait()
}
