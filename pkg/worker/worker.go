package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"chatbot/pkg/defaults"
	"chatbot/pkg/llm"
	"chatbot/pkg/store"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
)

// Options configure a Worker. Zero values take the defaults given with each field.
type Options struct {
	Store *store.Store // required
	Model llm.Model    // required
	// Logger gets what happens to requests; default: discard.
	Logger *slog.Logger
	// Registerer gets the worker's metrics; nil: they are kept but not registered.
	Registerer prometheus.Registerer
	// Tracer traces each request's work (trace.go; telemetry.Tracing.Tracer); nil: no spans,
	// and nothing of tracing is written to Redis.
	Tracer trace.Tracer
	// ModelName is the model the spans name (gen_ai.request.model: llm.model, or the
	// provider's name for echo).
	ModelName string

	// Name starts the consumer names: Name-0 … Name-(Replicas-1). Default "hostname-pid": stable
	// across the life of the process and unique among live processes, so a consumer that comes
	// back with the same name finds what it left pending.
	Name string
	// Replicas is the number of consumers (worker.replicas). Default 1.
	Replicas int
	// Concurrency is the number of requests each consumer works on at once
	// (worker.concurrency). Default 64.
	Concurrency int
	// ClaimIdle is how long a request may sit with a consumer that stopped keeping it alive
	// before another takes it over (worker.claim_idle). Default 15s.
	ClaimIdle time.Duration
	// ShutdownTimeout is how long in-flight requests may take to finish once Run's context
	// ends (worker.shutdown_timeout). Default 30s.
	ShutdownTimeout time.Duration
	// MaxDeliveries is how many times one request may be delivered (taken over after its worker
	// died or panicked on it) before the next delivery dead-letters it and answers its message
	// with model_error (worker.max_deliveries). Default 5.
	MaxDeliveries int
	// ConsumerIdleMax: a consumer of the group idle this long with nothing pending is removed
	// (worker.consumer_idle_max): the name of a process that died. Default 1h.
	ConsumerIdleMax time.Duration

	// SystemPrompt starts every conversation sent to the model (llm.system_prompt); empty: none.
	SystemPrompt string
	// History is the number of earlier turns (a user message and its reply) sent with each
	// message (llm.history). 0 sends none.
	History int
	// Retry is the model call's time limit and retries (llm.timeout, llm.max_retries).
	Retry llm.Retry
	// DeltaInterval (worker.delta_interval) coalesces the model's output into delta events:
	// one per interval per reply on average, on a grid every reply of the Worker shares so that
	// their deltas are written together (and by size, DeltaBytes), so a reply costs Redis a
	// bounded number of writes per second whatever the model's rate. Default
	// defaults.WorkerDeltaInterval; NoDeltaInterval: every piece is written as it comes.
	DeltaInterval time.Duration
	// SendUser names the session's user to the model as the OpenAI `user` field
	// (llm.send_user): the sub with auth.mode jwt, else a hash of the session token.
	SendUser bool

	// Tuning, without configuration keys: the defaults suit production; tests shorten them.

	// Block is how long one read waits for new requests. Default 1s.
	Block time.Duration
	// Lease is how long a session stays with a worker attempt that stops renewing it. Default
	// ClaimIdle/2, at least 1s: shorter than ClaimIdle, so the lease of a dead attempt has
	// expired when its request is taken over.
	Lease time.Duration
	// RenewEvery is how often the lease is renewed, and so how soon a stop is seen, while a
	// reply is generated and writes no delta (each delta sees a stop too; while they flow the
	// lease is renewed every Lease/3). Default Lease/3, at most 500ms.
	RenewEvery time.Duration
	// DeltaBytes: a delta goes as soon as this many bytes wait, whatever DeltaInterval says.
	// Default 256.
	DeltaBytes int
	// StatsEvery is how often the group's lag and pending count are sampled. Default 5s.
	StatsEvery time.Duration
	// TrimEvery is how often the request streams and chat:dead are trimmed by age
	// (store.TrimStreams, stream.max_age) and the consumers of dead processes removed
	// (ConsumerIdleMax), the first time when Run starts. Default 1m.
	TrimEvery time.Duration
}

// NoDeltaInterval is the DeltaInterval that writes every piece of a reply as it comes
// (worker.delta_interval: 0).
const NoDeltaInterval time.Duration = -1

func (o *Options) defaults() error {
	if o.Store == nil || o.Model == nil {
		return errors.New("worker: Store and Model are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "worker"
		}
		o.Name = host + "-" + strconv.Itoa(os.Getpid())
	}
	if o.Replicas <= 0 {
		o.Replicas = defaults.WorkerReplicas
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaults.WorkerConcurrency
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = defaults.WorkerClaimIdle
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaults.WorkerShutdownTimeout
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = defaults.WorkerMaxDeliveries
	}
	if o.ConsumerIdleMax <= 0 {
		o.ConsumerIdleMax = defaults.WorkerConsumerIdleMax
	}
	if o.History < 0 {
		o.History = 0
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = max(o.ClaimIdle/2, time.Second)
	}
	if o.RenewEvery <= 0 {
		o.RenewEvery = min(o.Lease/3, 500*time.Millisecond)
	}
	if o.DeltaInterval == 0 {
		o.DeltaInterval = defaults.WorkerDeltaInterval
	}
	if o.DeltaBytes <= 0 {
		o.DeltaBytes = 256
	}
	if o.StatsEvery <= 0 {
		o.StatsEvery = 5 * time.Second
	}
	if o.TrimEvery <= 0 {
		o.TrimEvery = time.Minute
	}
	return nil
}

// Worker is a pool of consumers of the request streams.
type Worker struct {
	opt     Options
	st      *store.Store
	log     *slog.Logger
	metrics *metrics
	nonce   string                // unique to this Worker: holders never repeat across processes
	attempt atomic.Uint64         // numbers the holders of this Worker
	deltas  *group[store.Delta]   // writes the deltas of every reply of the Worker
	renew   *group[store.Renewal] // renews the leases of every reply of the Worker
}

// New checks opt, fills in its defaults and registers the metrics.
func New(opt Options) (*Worker, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	rand.Read(b)
	return &Worker{opt: opt, st: opt.Store, log: opt.Logger, metrics: m, nonce: hex.EncodeToString(b),
		deltas: &group[store.Delta]{write: opt.Store.EmitDeltas, fail: func(d *store.Delta, err error) { d.Err = err }},
		renew:  &group[store.Renewal]{write: opt.Store.RenewLeases, fail: func(r *store.Renewal, err error) { r.Err = err }}}, nil
}

// Options are the options in use, defaults filled in.
func (w *Worker) Options() Options { return w.opt }

// ConsumerName is the name of consumer i (from 0) in the group.
func (w *Worker) ConsumerName(i int) string { return w.opt.Name + "-" + strconv.Itoa(i) }

// Run consumes requests until ctx ends, then shuts down gracefully (see the package doc) and
// returns nil. It fails at once if the consumer group cannot be set up.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.st.EnsureGroups(ctx); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w.log.Info("worker started", "consumers", w.opt.Replicas, "name", w.opt.Name, "concurrency", w.opt.Concurrency,
		"partitions", w.st.Options().Partitions, "claim_idle", w.opt.ClaimIdle.String(), "lease", w.opt.Lease.String())
	// Capacity while taking work: an autoscaler reads it against chatbot_worker_slots_busy.
	w.metrics.slots.Set(float64(w.opt.Replicas * w.opt.Concurrency))
	stopTaking := context.AfterFunc(ctx, func() { w.metrics.slots.Set(0) })
	defer func() {
		stopTaking()
		w.metrics.slots.Set(0)
	}()
	g, gctx := errgroup.WithContext(ctx)
	for i := range w.opt.Replicas {
		c := newConsumer(w, w.ConsumerName(i))
		g.Go(func() error {
			var err error
			w.guard(gctx, "consumer", func() { err = c.run(gctx) })
			return err
		})
	}
	if w.opt.Registerer != nil {
		g.Go(func() error {
			w.guard(gctx, "sample", func() { w.sample(gctx) })
			return nil
		})
	}
	g.Go(func() error {
		w.guard(gctx, "housekeeping", func() { w.trim(gctx) })
		return nil
	})
	err := g.Wait()
	w.log.Info("worker stopped")
	return err
}

// newHolder names one attempt at a request: the lease value that fences its writes.
func (w *Worker) newHolder(consumer string) string {
	return consumer + "/" + w.nonce + "/" + strconv.FormatUint(w.attempt.Add(1), 10)
}

// trim drops the entries older than stream.max_age from the request streams and chat:dead
// (store.TrimStreams) when Run starts and every TrimEvery, so that they do not keep every
// acknowledged request for good, and removes the consumers of processes that died
// (ConsumerIdleMax). Every worker process does it; a trim finds little left after another.
func (w *Worker) trim(ctx context.Context) {
	tick := time.NewTicker(w.opt.TrimEvery)
	defer tick.Stop()
	own := func(name string) bool { return strings.HasPrefix(name, w.opt.Name+"-") }
	for {
		n, err := w.st.TrimStreams(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Warn("trimming the request streams by age failed; next try in "+w.opt.TrimEvery.String(), "err", err)
		case n > 0:
			w.log.Debug("trimmed the request streams by age", "entries", n, "max_age", w.st.Options().StreamMaxAge.String())
		}
		removed, err := w.st.RemoveIdleConsumers(ctx, w.opt.ConsumerIdleMax, own)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("removing the consumers of dead processes failed; next try in "+w.opt.TrimEvery.String(), "err", err)
		}
		if len(removed) > 0 {
			w.log.Info("removed consumers idle past worker.consumer_idle_max with nothing pending (processes that died)",
				"consumers", removed, "idle_max", w.opt.ConsumerIdleMax.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// guard runs loop, one of the worker's long-lived goroutines; a panic in it is recovered,
// logged with its stack and counted (chatbot_worker_panics_total), and loop runs again a second
// later unless ctx ended: a bug costs that loop a second, not the process.
func (w *Worker) guard(ctx context.Context, where string, loop func()) {
	for {
		if !w.recovered(where, loop) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// recovered runs f and reports whether it panicked (recovered, logged and counted).
func (w *Worker) recovered(where string, f func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			w.metrics.panics.WithLabelValues(where).Inc()
			w.log.Error("panic recovered", "in", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	f()
	return false
}
