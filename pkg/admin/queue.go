package admin

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
)

// QueueView is `chatbot inspect queue`: the request streams and the workers group on each.
type QueueView struct {
	// Time is the Redis server's clock, which the ages are counted against (stream IDs are
	// made from it).
	Time        time.Time       `json:"time"`
	Partitions  []PartitionView `json:"partitions"`
	DeadLetters int64           `json:"dead_letters"`
}

// PartitionView is one request stream.
type PartitionView struct {
	Partition int    `json:"partition"`
	Stream    string `json:"stream"`
	Length    int64  `json:"length"`
	// Group is false while no worker has run against this stream.
	Group bool `json:"group"`
	// Lag: requests not yet delivered to any consumer (-1: Redis cannot tell). Pending:
	// delivered and not yet acknowledged.
	Lag     int64 `json:"lag"`
	Pending int64 `json:"pending"`
	// OldestWaitingAge is the age of the oldest request not yet delivered, OldestPendingAge of
	// the oldest delivered and not acknowledged (0 when none).
	OldestWaitingAge Duration       `json:"oldest_waiting_age"`
	OldestPendingAge Duration       `json:"oldest_pending_age"`
	Consumers        []ConsumerView `json:"consumers"`
}

// ConsumerView is one consumer of the workers group on one stream.
type ConsumerView struct {
	Name    string `json:"name"`
	Pending int64  `json:"pending"`
	// Idle: since its last read or claim. Inactive: since its last successful one (-1: Redis
	// older than 7.2 does not say).
	Idle     Duration `json:"idle"`
	Inactive Duration `json:"inactive"`
}

// Queue reads every partition (read-only).
func Queue(ctx context.Context, st *store.Store) (QueueView, error) {
	parts, now, err := st.InspectQueue(ctx)
	if err != nil {
		return QueueView{}, err
	}
	_, dead, err := st.DeadLetters(ctx, "", 1)
	if err != nil {
		return QueueView{}, err
	}
	v := QueueView{Time: now, Partitions: []PartitionView{}, DeadLetters: dead}
	for _, p := range parts {
		pv := PartitionView{
			Partition: p.Partition, Stream: p.Stream, Length: p.Length, Group: p.Group,
			Lag: p.Lag, Pending: p.Pending, Consumers: []ConsumerView{},
		}
		if p.OldestWaiting != "" {
			pv.OldestWaitingAge = age(now, chat.IDTime(p.OldestWaiting))
		}
		if p.OldestPending != "" {
			pv.OldestPendingAge = age(now, chat.IDTime(p.OldestPending))
		}
		for _, c := range p.Consumers {
			pv.Consumers = append(pv.Consumers, ConsumerView{Name: c.Name, Pending: c.Pending, Idle: Duration(c.Idle), Inactive: Duration(c.Inactive)})
		}
		v.Partitions = append(v.Partitions, pv)
	}
	return v, nil
}

// WriteText prints the view for a person: one line per partition, then one per consumer.
func (v QueueView) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tSTREAM\tLENGTH\tLAG\tPENDING\tOLDEST WAITING\tOLDEST PENDING\tCONSUMERS")
	for _, p := range v.Partitions {
		if !p.Group {
			fmt.Fprintf(tw, "%d\t%s\t%d\t-\t-\t-\t-\tno workers group yet (no worker has run)\n", p.Partition, p.Stream, p.Length)
			continue
		}
		lag := fmt.Sprint(p.Lag)
		if p.Lag < 0 {
			lag = "?"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\t%s\t%s\t%d\n", p.Partition, p.Stream, p.Length, lag, p.Pending,
			ageOrDash(p.OldestWaitingAge), ageOrDash(p.OldestPendingAge), len(p.Consumers))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "PARTITION\tCONSUMER\tPENDING\tIDLE\tINACTIVE")
	n := 0
	for _, p := range v.Partitions {
		for _, c := range p.Consumers {
			inactive := "?"
			if c.Inactive >= 0 {
				inactive = c.Inactive.String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", p.Partition, c.Name, c.Pending, c.Idle, inactive)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "-\t(no consumers)\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\ndead letters: %d (chatbot dead list)\nRedis time: %s\n", v.DeadLetters, v.Time.UTC().Format(time.RFC3339Nano))
	return err
}

func ageOrDash(d Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}
