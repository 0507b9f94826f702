package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbot/internal/redistest"

	"golang.org/x/sync/errgroup"
)

// deployment is one multi-process chatbot: Redis (a cluster or one node), some serves, some
// works, all configured by the same environment.
type deployment struct {
	t       testing.TB
	cluster *cluster         // nil on a single node
	single  *redistest.Node  // nil on a cluster
	proxy   *redistest.Proxy // with shape.proxy: in front of single
	env     env
	// resendAfter is the convos' convo.resendAfter.
	resendAfter time.Duration

	mu     sync.Mutex
	serves []*proc
	works  []*proc
}

// shape says what to start.
type shape struct {
	single    bool     // one Redis node with AOF instead of a cluster
	noAOF     bool     // single: without any persistence
	redisArgs []string // single: more redis-server arguments
	// proxy: single, reached through a proxy that refuses what enterprise proxies refuse
	// (scripts over two hash slots, CLUSTER, CLIENT SETNAME).
	proxy     bool
	serves    int
	works     int
	replicas  int           // consumers per work process
	echoDelay time.Duration // llm.echo_delay
	env       env           // more configuration
}

// deploy starts Redis, then the serves and the works of s.
func deploy(t testing.TB, s shape) *deployment {
	t.Helper()
	d := &deployment{t: t}
	vars := env{
		"CHATBOT_LLM_PROVIDER":                      "echo",
		"CHATBOT_LLM_ECHO_DELAY":                    s.echoDelay.String(),
		"CHATBOT_WORKER_CLAIM_IDLE":                 "2s",
		"CHATBOT_LIMITS_SESSIONS_PER_MINUTE_PER_IP": "100000",
		"CHATBOT_LIMITS_MESSAGES_PER_MINUTE":        "1000",
		// Every conversation comes from 127.0.0.1: the per-address limits would bind first.
		"CHATBOT_LIMITS_MESSAGES_PER_MINUTE_PER_IP": "0",
		"CHATBOT_LIMITS_SOCKETS_PER_IP":             "0",
		"CHATBOT_LOG_LEVEL":                         "info",
		"CHATBOT_LOG_FORMAT":                        "json",
	}
	if s.single {
		aof := "yes"
		if s.noAOF {
			aof = "no"
		}
		d.single = startRedis(t, "single", append([]string{"--appendonly", aof}, s.redisArgs...)...)
		vars["CHATBOT_REDIS_URL"] = "redis://" + d.single.Addr() + "/0"
		if s.proxy {
			d.proxy = redistest.NewProxy(t, d.single.Addr(), redistest.ProxyOptions{CrossSlot: true, Cluster: true, SetName: true})
			vars["CHATBOT_REDIS_URL"] = d.proxy.URL()
		}
		vars["CHATBOT_STREAM_PARTITIONS"] = "4"
	} else {
		d.cluster = startCluster(t)
		vars["CHATBOT_REDIS_URL"] = d.cluster.URL()
		parts := d.cluster.partitionsOverAllPrimaries(4)
		vars["CHATBOT_STREAM_PARTITIONS"] = strconv.Itoa(parts)
	}
	for k, v := range s.env {
		vars[k] = v
	}
	d.env = vars
	start := time.Now()
	for i := range s.serves {
		d.addServe(fmt.Sprintf("serve%d", i+1))
	}
	for i := range s.works {
		d.addWork(fmt.Sprintf("work%d", i+1), s.replicas)
	}
	t.Logf("deployed %d serve, %d work (--replicas %d), partitions %s, echo_delay %s in %s",
		s.serves, s.works, s.replicas, vars["CHATBOT_STREAM_PARTITIONS"], s.echoDelay, time.Since(start).Round(time.Millisecond))
	return d
}

// addServe starts one more serve and waits until it is ready.
func (d *deployment) addServe(name string) *proc {
	p := startServe(d.t, name, d.env)
	d.mu.Lock()
	d.serves = append(d.serves, p)
	d.mu.Unlock()
	return p
}

func (d *deployment) addWork(name string, replicas int) *proc {
	p := startWork(d.t, name, d.env, replicas)
	d.mu.Lock()
	d.works = append(d.works, p)
	d.mu.Unlock()
	return p
}

// serve is the i-th serve started (in name order).
func (d *deployment) serve(i int) *proc { return d.byName(d.serves, "serve", i) }
func (d *deployment) work(i int) *proc  { return d.byName(d.works, "work", i) }

func (d *deployment) byName(ps []*proc, role string, i int) *proc {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := role + strconv.Itoa(i+1)
	for _, p := range ps {
		if p.name == want {
			return p
		}
	}
	d.t.Fatalf("no %s", want)
	return nil
}

// bases is the base URLs of the serves still running: where clients (re)connect.
func (d *deployment) bases() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, p := range d.serves {
		if p.running() {
			out = append(out, p.URL())
		}
	}
	if len(out) == 0 {
		return []string{"http://127.0.0.1:1"} // nothing to reach: dials fail and retry
	}
	return out
}

// convos starts n sessions, session i on serve i mod len(serves), and waits until each has
// its socket open.
func (d *deployment) convos(ctx context.Context, n int, prefix string) []*convo {
	d.t.Helper()
	cs := make([]*convo, n)
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			c, err := newConvo(ctx, fmt.Sprintf("%s%03d", prefix, i), d.bases, i, d.resendAfter)
			if err != nil {
				return err
			}
			cs[i] = c
			return c.waitConnected(ctx)
		})
	}
	if err := g.Wait(); err != nil {
		d.t.Fatal(err)
	}
	return cs
}

// each runs f for every convo at once and fails the test with the errors.
func each(t testing.TB, cs []*convo, f func(c *convo) error) {
	t.Helper()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = f(c) })
	}
	wg.Wait()
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		t.Fatalf("%d of %d sessions failed:\n%s", len(msgs), len(cs), strings.Join(first(msgs, 10), "\n"))
	}
}

// checkExactlyOnce fails the test if any convo broke the guarantee or its stored history
// differs from what it sent.
func checkExactlyOnce(ctx context.Context, t testing.TB, d *deployment, cs []*convo) {
	t.Helper()
	var bad []string
	base := d.bases()[0]
	for _, c := range cs {
		bad = append(bad, c.exactlyOnce()...)
		bad = append(bad, c.checkHistory(ctx, base)...)
	}
	if dead := d.deadLetters(ctx); dead != "0" {
		bad = append(bad, "chat:dead holds "+dead+" requests, want 0")
	}
	if len(bad) > 0 {
		t.Fatalf("%d problems:\n%s", len(bad), strings.Join(first(bad, 20), "\n"))
	}
}

// deadLetters is the length of chat:dead: requests the workers gave up on.
func (d *deployment) deadLetters(ctx context.Context) string {
	n := d.single
	if d.cluster != nil {
		n = d.cluster.primaryOf("chat:dead")
	}
	l, err := n.Do(ctx, "XLEN", "chat:dead")
	if err != nil {
		return err.Error()
	}
	return l
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}
