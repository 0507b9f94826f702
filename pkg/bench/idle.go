package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatbot/pkg/retry"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// Sample is the serve's state at one point of an idle run. Values it could not read are -1.
type Sample struct {
	Sockets    int   `json:"sockets"`     // sockets the bench held open
	ServeOpen  int64 `json:"serve_open"`  // chatbot_web_sockets_open
	RSS        int64 `json:"rss_bytes"`   // /proc/PID/status VmRSS, else process_resident_memory_bytes
	HeapInuse  int64 `json:"heap_inuse"`  // go_memstats_heap_inuse_bytes
	StackInuse int64 `json:"stack_inuse"` // go_memstats_stack_inuse_bytes
	Goroutines int64 `json:"goroutines"`  // go_goroutines
	RedisConns int   `json:"redis_conns"` // the serve's connections to RedisAddr (needs ServePID)
}

// IdleResult is what an idle run measured. The per-socket figures are the growth from the
// baseline sample to the last, divided by the sockets opened in between.
type IdleResult struct {
	URL               string           `json:"url"`
	Target            int              `json:"target"`
	SocketsPerSession int              `json:"sockets_per_session"`
	SourceAddrs       int              `json:"source_addrs"`
	Opened            int              `json:"opened"`
	Alive             int              `json:"alive"`  // still open after the hold
	Pongs             int              `json:"pongs"`  // answered a ping after the hold
	Failed            map[string]int64 `json:"failed"` // sockets not opened or lost, by kind
	OpenSec           float64          `json:"open_s"`
	HoldSec           float64          `json:"hold_s"`
	Base              Sample           `json:"base"`
	Full              Sample           `json:"full"`

	RSSPerSocket        float64 `json:"rss_per_socket_bytes"`
	HeapPerSocket       float64 `json:"heap_per_socket_bytes"`
	StackPerSocket      float64 `json:"stack_per_socket_bytes"`
	GoroutinesPerSocket float64 `json:"goroutines_per_socket"`
}

// idleMetrics are the /metrics series an idle run reads.
var idleMetrics = []string{"chatbot_web_sockets_open", "process_resident_memory_bytes",
	"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines"}

// RunIdle opens o.Idle sockets (o.SocketsPerSession per session) and holds them without
// traffic for o.IdleHold, sampling the serve with o.IdleBase sockets open and with all of
// them; then counts the sockets still open and answering a ping, and closes them.
func RunIdle(ctx context.Context, o Options) (*IdleResult, error) {
	o.defaults()
	base, err := o.validate()
	if err != nil {
		return nil, err
	}
	if o.Idle <= 0 {
		return nil, fmt.Errorf("--idle: the number of sockets to hold is required")
	}
	c, err := newClient(base, o.Idle, o)
	if err != nil {
		return nil, err
	}
	redisPorts := redisPorts(o)
	res := &IdleResult{URL: o.URL, Target: o.Idle, SocketsPerSession: o.SocketsPerSession,
		SourceAddrs: max(len(c.sources), 1), Failed: map[string]int64{}}

	t0 := time.Now()
	tokens, failed := c.createSessions(ctx, (o.Idle+o.SocketsPerSession-1)/o.SocketsPerSession, o.ConnectConcurrency)
	for k, v := range failed {
		res.Failed[k] += v * int64(o.SocketsPerSession)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("no session could be created (%s)", formatCounts(failed))
	}
	h := &holder{c: c, stream: o.Stream}
	rctx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	token := func(i int) string { return tokens[(i/o.SocketsPerSession)%len(tokens)] }

	h.open(ctx, rctx, 0, o.IdleBase, token, o.ConnectConcurrency)
	h.settle(ctx, c, o)
	res.Base = h.sample(ctx, c, o, redisPorts)

	h.open(ctx, rctx, o.IdleBase, o.Idle, token, o.ConnectConcurrency)
	res.OpenSec = time.Since(t0).Seconds()
	hold := time.NewTimer(o.IdleHold)
	select {
	case <-ctx.Done():
	case <-hold.C:
	}
	hold.Stop()
	res.HoldSec = time.Since(t0).Seconds() - res.OpenSec
	res.Full = h.sample(ctx, c, o, redisPorts)
	res.Opened = h.opened()
	res.Alive, res.Pongs = h.check()
	for k, v := range h.failures() {
		res.Failed[k] += v
	}
	h.over.Store(true)
	closeConns(h.all())
	stopReading()
	h.readers.Wait()

	if grown := res.Full.Sockets - res.Base.Sockets; grown > 0 {
		per := func(a, b int64) float64 {
			if a < 0 || b < 0 {
				return -1
			}
			return float64(b-a) / float64(grown)
		}
		res.RSSPerSocket = per(res.Base.RSS, res.Full.RSS)
		res.HeapPerSocket = per(res.Base.HeapInuse, res.Full.HeapInuse)
		res.StackPerSocket = per(res.Base.StackInuse, res.Full.StackInuse)
		res.GoroutinesPerSocket = per(res.Base.Goroutines, res.Full.Goroutines)
	}
	return res, nil
}

// holder is the sockets of an idle run, each with a reader that notices when it ends.
type holder struct {
	c       *client
	stream  bool
	readers sync.WaitGroup
	over    atomic.Bool

	mu     sync.Mutex
	conns  []*websocket.Conn
	gone   map[*websocket.Conn]string // ended, and why
	failed map[string]int64
}

// open dials sockets from to to (exclusive).
func (h *holder) open(ctx, rctx context.Context, from, to int, token func(int) string, concurrency int) {
	g := errgroup.Group{}
	g.SetLimit(concurrency)
	for i := from; i < to && ctx.Err() == nil; i++ {
		g.Go(func() error {
			conn, err := h.c.open(rctx, token(i), h.stream)
			h.mu.Lock()
			defer h.mu.Unlock()
			if err != nil {
				if h.failed == nil {
					h.failed = map[string]int64{}
				}
				h.failed[kindOf(err)]++
				return nil
			}
			h.conns = append(h.conns, conn)
			h.readers.Go(func() { h.read(rctx, conn) })
			return nil
		})
	}
	_ = g.Wait()
}

// read drains a socket (idle: nothing should come) until it ends.
func (h *holder) read(ctx context.Context, conn *websocket.Conn) {
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if !h.over.Load() {
				h.lost(conn, closeKind(err))
			}
			return
		}
	}
}

// lost records that a socket ended, keeping the first reason known.
func (h *holder) lost(conn *websocket.Conn, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone == nil {
		h.gone = map[*websocket.Conn]string{}
	}
	if _, ok := h.gone[conn]; !ok {
		h.gone[conn] = why
	}
}

func (h *holder) all() []*websocket.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*websocket.Conn(nil), h.conns...)
}

func (h *holder) opened() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func (h *holder) failures() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int64{}
	for k, v := range h.failed {
		out[k] += v
	}
	for _, why := range h.gone {
		out[why]++
	}
	return out
}

// check counts the sockets not seen closed, and those of them that answer a ping within 5s
// (even when ctx has ended: the count is the report). A socket that does not answer counts
// as lost (no_pong) unless its reader knows why.
func (h *holder) check() (alive, pongs int) {
	h.mu.Lock()
	var live []*websocket.Conn
	for _, c := range h.conns {
		if _, gone := h.gone[c]; !gone {
			live = append(live, c)
		}
	}
	h.mu.Unlock()
	var n atomic.Int64
	g := errgroup.Group{}
	g.SetLimit(256)
	for _, c := range live {
		g.Go(func() error {
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c.Ping(pctx) == nil {
				n.Add(1)
			} else {
				h.lost(c, "no_pong")
			}
			return nil
		})
	}
	_ = g.Wait()
	return len(live), int(n.Load())
}

// settle waits (up to 10s) until the serve counts the sockets the bench opened, then one
// more second for the allocations of joining them to be done.
func (h *holder) settle(ctx context.Context, c *client, o Options) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, err := scrape(ctx, c.api, metricsURL(c), "chatbot_web_sockets_open")
		if err != nil || int(m["chatbot_web_sockets_open"]) >= h.opened() {
			break
		}
		retry.Sleep(ctx, 50*time.Millisecond)
	}
	retry.Sleep(ctx, time.Second)
}

// sample reads the serve's memory, goroutines and Redis connections.
func (h *holder) sample(ctx context.Context, c *client, o Options, redisPorts []int) Sample {
	s := Sample{Sockets: h.opened(), ServeOpen: -1, RSS: -1, HeapInuse: -1, StackInuse: -1, Goroutines: -1, RedisConns: -1}
	m, err := scrape(ctx, c.api, metricsURL(c), idleMetrics...)
	if err == nil {
		get := func(name string) int64 {
			if v, ok := m[name]; ok {
				return int64(v)
			}
			return -1
		}
		s.ServeOpen, s.RSS = get("chatbot_web_sockets_open"), get("process_resident_memory_bytes")
		s.HeapInuse, s.StackInuse, s.Goroutines = get("go_memstats_heap_inuse_bytes"), get("go_memstats_stack_inuse_bytes"), get("go_goroutines")
	}
	if o.ServePID > 0 {
		if rss, err := rssOf(o.ServePID); err == nil {
			s.RSS = rss
		}
		if len(redisPorts) > 0 {
			if n, err := connsTo(o.ServePID, redisPorts...); err == nil {
				s.RedisConns = n
			}
		}
	}
	return s
}

func metricsURL(c *client) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/metrics"
	u.RawQuery = ""
	return u.String()
}
