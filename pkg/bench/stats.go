package bench

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// recorder collects what a load run measures. Latencies are kept as samples (a bounded run
// keeps at most a few million), so the percentiles are exact.
type recorder struct {
	from, to time.Time   // the measured window: sends in it count
	over     atomic.Bool // the run is over: sockets are being closed

	mu         sync.Mutex
	sent       int64
	turns      int64
	turn       []time.Duration
	firstDelta []time.Duration
	ack        []time.Duration
	delivery   []time.Duration
	errors     map[string]int64
	frames     map[string]int64 // frames received, by type, on every socket
	// replies counts every reply of the run (warmup and drain too); tokens and replyBytes
	// are the words and bytes of the text of those that arrived in the window.
	replies, tokens, replyBytes, windowReplies int64
}

func newRecorder(from, to time.Time) *recorder {
	return &recorder{from: from, to: to, errors: map[string]int64{}, frames: map[string]int64{}}
}

// counts reports whether a message sent at t is in the measured window.
func (r *recorder) counts(t time.Time) bool { return !t.Before(r.from) && t.Before(r.to) }

func (r *recorder) addSent(at time.Time) {
	if !r.counts(at) {
		return
	}
	r.mu.Lock()
	r.sent++
	r.mu.Unlock()
}

// addTurn records a reply to a message sent at; ok false means it ended with an error frame.
func (r *recorder) addTurn(at, now time.Time) {
	if !r.counts(at) {
		return
	}
	r.mu.Lock()
	r.turns++
	r.turn = append(r.turn, now.Sub(at))
	r.mu.Unlock()
}

// addReply records a reply's text, arrived at now.
func (r *recorder) addReply(now time.Time, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies++
	if r.counts(now) {
		r.windowReplies++
		r.tokens += int64(len(strings.Fields(text)))
		r.replyBytes += int64(len(text))
	}
}

func (r *recorder) addFirstDelta(at, now time.Time) {
	if !r.counts(at) {
		return
	}
	r.mu.Lock()
	r.firstDelta = append(r.firstDelta, now.Sub(at))
	r.mu.Unlock()
}

// addDelivery records how long a delta of a message sent at at took from its write to Redis
// (its offset's time) to the client.
func (r *recorder) addDelivery(at time.Time, d time.Duration) {
	if !r.counts(at) {
		return
	}
	r.mu.Lock()
	r.delivery = append(r.delivery, d)
	r.mu.Unlock()
}

func (r *recorder) addAck(at, now time.Time) {
	if !r.counts(at) {
		return
	}
	r.mu.Lock()
	r.ack = append(r.ack, now.Sub(at))
	r.mu.Unlock()
}

func (r *recorder) addError(kind string, n int64) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	r.errors[kind] += n
	r.mu.Unlock()
}

// addMsgError counts the failure of a message sent at at, if it is in the measured window
// (so that sent = turns + the errors of messages).
func (r *recorder) addMsgError(at time.Time, kind string) {
	if r.counts(at) {
		r.addError(kind, 1)
	}
}

func (r *recorder) addFrame(typ string) {
	r.mu.Lock()
	r.frames[typ]++
	r.mu.Unlock()
}

// Summary is a latency distribution, in milliseconds.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

// summarize sorts samples (in place) and takes nearest-rank percentiles.
func summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	return Summary{
		N:    len(samples),
		Mean: ms(sum / time.Duration(len(samples))),
		P50:  ms(percentile(samples, 50)),
		P90:  ms(percentile(samples, 90)),
		P99:  ms(percentile(samples, 99)),
		Max:  ms(samples[len(samples)-1]),
	}
}

// percentile is the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Brief is the median and the maximum, for a summary of one sample per thing (a session).
func (s Summary) Brief() string {
	if s.N == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %.2fms max %.2fms (n=%d)", s.P50, s.Max, s.N)
}
