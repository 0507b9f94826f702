package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of a Worker (all its consumers).
type metrics struct {
	processed    prometheus.Counter
	failed       prometheus.Counter
	dead         *prometheus.CounterVec
	turns        *prometheus.CounterVec
	inFlight     prometheus.Gauge
	slots        prometheus.Gauge
	slotsBusy    prometheus.Gauge
	newer        prometheus.Counter
	panics       *prometheus.CounterVec
	reclaimed    prometheus.Counter
	handedBack   prometheus.Counter
	covered      prometheus.Counter
	yielded      prometheus.Counter
	slotWait     prometheus.Histogram
	queueWait    prometheus.Histogram
	reply        prometheus.Histogram
	lost         prometheus.Counter
	retries      prometheus.Counter
	modelSeconds *prometheus.HistogramVec
	firstToken   prometheus.Histogram
	tokens       *prometheus.CounterVec
	estimated    prometheus.Counter
	lag          *prometheus.GaugeVec
	pending      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_processed_total",
			Help: "Requests acknowledged: their message is answered (or failed and told), or their session is gone."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_failed_total",
			Help: "Messages the model could not answer past its retries: the user got a model_error."}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatbot_worker_requests_dead_lettered_total",
			Help: "Requests copied to chat:dead, by reason (model_error, malformed, damaged, refused)."}, []string{"reason"}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatbot_worker_turns_total",
			Help: "Turns worked on, by result: answered, stopped, failed, quota (the user's token budget for the day is spent: no model call), abandoned (lease lost or shutdown)."}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatbot_worker_requests_in_flight",
			Help: "Requests being worked on now."}),
		slots: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatbot_worker_slots",
			Help: "Requests this process can work on at once (worker.replicas x worker.concurrency) while it takes work; 0 once it stops. sum over pods is the capacity."}),
		slotsBusy: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chatbot_worker_slots_busy",
			Help: "Slots working on a request now. sum(busy) / sum(slots) over pods is how full the workers are."}),
		newer: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_left_newer_total",
			Help: "Request entries of a newer format than this worker reads, left for a newer worker (rolling deploys; for good: an old worker still runs)."}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatbot_worker_panics_total",
			Help: "Panics recovered in the worker, by where: handler (a request's work: left to be taken over, dead-lettered past worker.max_deliveries), lease, consumer, sample, housekeeping."}, []string{"where"}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_reclaimed_total",
			Help: "Requests taken over from a consumer that stopped keeping them alive."}),
		handedBack: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_handed_back_total",
			Help: "Requests handed back unfinished at shutdown, for another consumer to take at once."}),
		covered: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_covered_total",
			Help: "Requests acknowledged at once because another attempt was working on their session (it answers them; its own request stays pending until the session is idle)."}),
		yielded: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_yielded_total",
			Help: "Sessions with more to answer whose request was put back at the end of its stream, so that requests waiting for a slot get one (fair share)."}),
		slotWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chatbot_worker_slot_wait_seconds",
			Help: "Time from a request's entry in its stream to a worker slot working on it.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chatbot_worker_queue_wait_seconds",
			Help: "Time from a request's entry in its stream to a worker reading it (first deliveries; clock skew counts as 0).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		reply: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chatbot_worker_reply_seconds",
			Help: "Time from a message's request entry (or, sent while its session was being answered, its timestamp) to its reply stored: the reply latency the server sees, once per turn stored.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_worker_requests_lost_total",
			Help: "Requests another consumer took over while this one still held them (its keep-alive came too late)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_llm_retries_total",
			Help: "Model calls retried after an error or a timeout."}),
		modelSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chatbot_llm_request_duration_seconds",
			Help: "Time of one model call, to its last token or its error, by result (ok, error).", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}, []string{"result"}),
		firstToken: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chatbot_llm_time_to_first_token_seconds",
			Help: "Time from a model call to its first piece of text.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chatbot_llm_tokens_total",
			Help: "Tokens the model calls used, by kind (prompt, completion): as the provider reported them, or estimated."}, []string{"kind"}),
		estimated: prometheus.NewCounter(prometheus.CounterOpts{Name: "chatbot_llm_usage_estimated_total",
			Help: "Turns whose usage was estimated because the provider reported none (stream_options.include_usage unsupported, or the call cut short)."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chatbot_worker_group_lag",
			Help: "Requests of the partition not yet delivered to any consumer (sampled). Group-wide: every work pod exports the same value, take max by (partition), never a sum over pods."}, []string{"partition"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chatbot_worker_group_pending",
			Help: "Requests of the partition delivered and not yet acknowledged (sampled). Group-wide: every work pod exports the same value, take max by (partition), never a sum over pods."}, []string{"partition"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.processed, m.failed, m.dead, m.turns, m.inFlight, m.slots, m.slotsBusy, m.newer, m.panics, m.reclaimed,
			m.handedBack, m.covered, m.yielded, m.slotWait, m.queueWait, m.reply, m.lost, m.retries, m.modelSeconds, m.firstToken, m.tokens, m.estimated, m.lag, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// sample reads the group's lag and pending count of every partition every StatsEvery.
func (w *Worker) sample(ctx context.Context) {
	tick := time.NewTicker(w.opt.StatsEvery)
	defer tick.Stop()
	for {
		for p := range w.st.Options().Partitions {
			st, err := w.st.RequestGroupStats(ctx, p)
			if err != nil {
				if ctx.Err() == nil {
					w.log.Debug("sampling the group failed", "partition", p, "err", err)
				}
				continue
			}
			label := strconv.Itoa(p)
			w.metrics.pending.WithLabelValues(label).Set(float64(st.Pending))
			if st.Lag >= 0 {
				w.metrics.lag.WithLabelValues(label).Set(float64(st.Lag))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
