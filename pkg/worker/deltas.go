package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
)

// deltaSink turns the model's output into delta events of one turn, coalesced: the first piece
// goes after firstDeltaWait (at once with no interval), then one event per DeltaInterval on
// average (onGrid) unless DeltaBytes are waiting. Writing
// never waits for Redis. close drops what was not sent yet: the message event that follows
// carries the whole reply, and storing it drops the deltas written (ids).
type deltaSink struct {
	c     *consumer
	t     store.Turn
	end   context.CancelCauseFunc // ends the generation: the lease is gone, or the user stopped it
	heard *heard                  // when a delta was last written: the lease is held, no stop
	every time.Duration
	bytes int

	mu      sync.Mutex
	buf     strings.Builder
	restart bool // the next event carries "restart": true
	taken   bool // some text of this turn was taken to be sent

	ids  []string // the IDs of the deltas written; the loop's until done is closed
	prev string   // the ID of the last delta written, "" when a write failed (prelude.lua reads it then)

	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newDeltaSink(c *consumer, t store.Turn, end context.CancelCauseFunc, h *heard) *deltaSink {
	d := &deltaSink{
		c: c, t: t, end: end, heard: h, every: max(c.w.opt.DeltaInterval, 0), bytes: c.w.opt.DeltaBytes,
		restart: t.Restart,
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go d.loop()
	return d
}

// write queues a piece of the reply.
func (d *deltaSink) write(s string) {
	d.mu.Lock()
	d.buf.WriteString(s)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// retry starts a new model attempt: what the last one left unsent is dropped, and if it sent
// anything the next event tells clients to start over.
func (d *deltaSink) retry() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf.Reset()
	if d.taken {
		d.restart = true
	}
}

// close stops sending, waits for an event being sent and returns the IDs of the deltas written.
func (d *deltaSink) close() []string {
	close(d.quit)
	<-d.done
	return d.ids
}

func (d *deltaSink) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.Len()
}

func (d *deltaSink) take() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	text, restart := d.buf.String(), d.restart
	d.buf.Reset()
	d.restart, d.taken = false, true
	return text, restart
}

// onGrid is the instant of the grid of every (from the zero time) nearest to t: the replies
// of a worker send their deltas (and renew their leases) at the same instants, so that they
// reach Redis together (group). A reply's deltas then go every interval on average, from half
// to one and a half intervals apart.
func onGrid(t time.Time, every time.Duration) time.Time {
	if every <= 0 {
		return t
	}
	return t.Round(every)
}

// send writes one delta (with the deltas of the Worker's other replies waiting to go).
func (d *deltaSink) send(text string, restart bool) store.Delta {
	if err := d.c.work.Err(); err != nil {
		return store.Delta{Err: err}
	}
	w := d.c.w.deltas.do(d.c.work, store.Delta{Turn: d.t, Prev: d.prev, Event: chat.Event{Type: chat.FrameDelta,
		ReplyTo: d.t.Message.ID, Text: text, Restart: restart, Traceparent: d.t.Traceparent}})
	d.prev = w.ID // "" on an error: the write may have happened all the same
	return w
}

// firstDeltaWait is how long the first piece of a reply waits for the rest: a reply the model
// finishes within it (an instant model, a cached answer) is sent as its message event only,
// with no delta to write and delete.
const firstDeltaWait = 2 * time.Millisecond

func (d *deltaSink) loop() {
	defer close(d.done)
	var last time.Time // when the last delta was sent
	for {
		select {
		case <-d.quit:
			return
		case <-d.kick:
		}
		// due: when the text waiting may go (unless DeltaBytes are waiting).
		due := onGrid(last.Add(d.every), d.every)
		if last.IsZero() {
			due = time.Now().Add(min(firstDeltaWait, d.every))
		}
		for n := d.pending(); n > 0; n = d.pending() {
			if wait := time.Until(due); wait > 0 && n < d.bytes {
				t := time.NewTimer(wait)
				select {
				case <-d.quit:
					t.Stop()
					return
				case <-d.kick: // more text: maybe enough to go now
					t.Stop()
					continue
				case <-t.C:
				}
			}
			text, restart := d.take()
			last = time.Now()
			due = onGrid(last.Add(d.every), d.every)
			w := d.send(text, restart)
			switch {
			case errors.Is(w.Err, store.ErrLeaseLost):
				d.end(store.ErrLeaseLost)
				return
			case w.Err != nil:
				// The text is lost from the deltas only; the message event will have it.
				d.c.log.WarnContext(turnContext(d.t), "sending a delta failed", "seq", d.t.Seq, "err", w.Err)
				continue
			}
			d.ids = append(d.ids, w.ID)
			d.heard.now()
			if w.Stop {
				d.end(errStopped) // what is left to send goes in the stopped reply's message event
				return
			}
		}
	}
}
