package web

import (
	"strconv"

	"chatbot/pkg/chat"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the web tier's Prometheus series, all named chatbot_web_*.
type metrics struct {
	socketsOpen prometheus.Gauge
	sessions    prometheus.Gauge
	framesIn    *prometheus.CounterVec
	framesOut   *prometheus.CounterVec
	enqueue     prometheus.Histogram
	errors      *prometheus.CounterVec
	closes      *prometheus.CounterVec
	gapReads    prometheus.Counter
	resubscribe prometheus.Counter
	subscribed  prometheus.GaugeFunc
	authRefused *prometheus.CounterVec
	floods      *prometheus.CounterVec
	refused     *prometheus.CounterVec
	redisMemory prometheus.Gauge
	memRefused  *prometheus.CounterVec

	// delivery times delta and message events from their Redis ID to the socket write, by type.
	delivery    map[string]prometheus.Observer
	deliveryVec *prometheus.HistogramVec

	out map[string]prometheus.Counter // framesOut by type, resolved once
}

// Frame types counted by frames_in: what a client sent.
const (
	inMessage    = "message"
	inStop       = "stop"
	inRegenerate = "regenerate"
	inInvalid    = "invalid"
	inBinary     = "binary"
)

func newMetrics(reg prometheus.Registerer, subscribed func() float64) *metrics {
	m := &metrics{
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatbot_web_sockets_open", Help: "WebSocket connections open on this process.",
		}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatbot_web_sessions", Help: "Sessions with at least one socket on this process.",
		}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_frames_in_total", Help: "Frames received from clients, by type (message, stop, regenerate, invalid, binary).",
		}, []string{"type"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_frames_out_total", Help: "Frames written to clients, by type (message, ack, delta, error).",
		}, []string{"type"}),
		enqueue: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chatbot_web_enqueue_seconds",
			Help:    "Time to queue a user message (limits, pending, ack, request stream).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_errors_total", Help: "Error frames sent about client frames, by code.",
		}, []string{"code"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_socket_closes_total", Help: "Sockets closed by the server, by WebSocket close code.",
		}, []string{"code"}),
		gapReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatbot_web_gap_reads_total", Help: "Times a session's events were read from Redis to close a gap in the notifications.",
		}),
		resubscribe: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chatbot_web_subscriber_reconnects_total", Help: "Times the notification subscriber replaced a lost Redis connection.",
		}),
		subscribed: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chatbot_web_subscribed_channels", Help: "Notify channels subscribed on the subscriber connection.",
		}, subscribed),
		authRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_auth_refused_total", Help: "Requests and sockets refused for their JWT (auth.mode jwt), by kind (missing, invalid, expired, not_yet_valid).",
		}, []string{"kind"}),
		floods: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_floods_total", Help: "Sockets closed for sending too many frames (limits.frames_per_second, limits.fragments_per_message), by reason.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_sockets_refused_total", Help: "Socket upgrades refused at a cap, by limit (sockets_per_ip, max_sockets).",
		}, []string{"limit"}),
		redisMemory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chatbot_web_redis_memory_ratio", Help: "used_memory over maxmemory of the fullest Redis node, sampled every second for limits.redis_memory_high (0 without a maxmemory).",
		}),
		memRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbot_web_memory_refused_total", Help: "New sessions and messages refused because Redis was above limits.redis_memory_high, by kind (session, message).",
		}, []string{"kind"}),
		deliveryVec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatbot_web_delivery_seconds",
			Help:    "Time from a delta or message event's Redis ID to its write to a socket, by type (delta, message); clock skew counts as 0.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"type"}),
		out:      map[string]prometheus.Counter{},
		delivery: map[string]prometheus.Observer{},
	}
	for _, t := range []string{chat.FrameDelta, chat.FrameMessage} {
		m.delivery[t] = m.deliveryVec.WithLabelValues(t)
	}
	for _, t := range []string{chat.FrameMessage, chat.FrameAck, chat.FrameDelta, chat.FrameError} {
		m.out[t] = m.framesOut.WithLabelValues(t)
	}
	reg.MustRegister(m.socketsOpen, m.sessions, m.framesIn, m.framesOut, m.enqueue, m.errors,
		m.closes, m.gapReads, m.resubscribe, m.subscribed, m.authRefused, m.floods, m.refused,
		m.redisMemory, m.memRefused, m.deliveryVec)
	return m
}

func (m *metrics) frameOut(typ string) {
	if c, ok := m.out[typ]; ok {
		c.Inc()
		return
	}
	m.framesOut.WithLabelValues("other").Inc()
}

func (m *metrics) closed(code int) {
	m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
}
