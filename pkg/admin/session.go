package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"
)

// SessionView is `chatbot inspect session TOKEN`: where a session's messages are, who works on
// it, and what its sockets were sent last.
type SessionView struct {
	Session string `json:"session"` // chat.TokenTag of the token
	Exists  bool   `json:"exists"`
	// State says in a few words what the session waits for.
	State     string    `json:"state"`
	Name      string    `json:"name,omitempty"`
	User      string    `json:"user,omitempty"`
	Title     string    `json:"title,omitempty"`
	Start     time.Time `json:"start,omitzero"`
	ExpiresIn Duration  `json:"expires_in,omitempty"`
	Partition int       `json:"partition"`
	Stream    string    `json:"stream"`
	// Queued is the last message queued (seq), Answered the last answered (done), Waiting the
	// difference; Started the turn a worker last began; StopAsked a turn the user stopped.
	Queued    int64 `json:"queued"`
	Answered  int64 `json:"answered"`
	Waiting   int64 `json:"waiting"`
	Started   int64 `json:"started"`
	StopAsked int64 `json:"stop_asked,omitempty"`
	// Lease is the worker attempt that holds the session, if any.
	Lease           *LeaseView        `json:"lease"`
	Pending         []PendingView     `json:"pending"`
	HistoryMessages int64             `json:"history_messages"`
	EventsKept      int64             `json:"events_kept"`
	LastEvents      []EventView       `json:"last_events"`
	Usage           map[string]string `json:"usage,omitempty"`
}

// LeaseView is the worker attempt holding a session's lease.
type LeaseView struct {
	Holder    string   `json:"holder"`   // consumer/nonce/attempt
	Consumer  string   `json:"consumer"` // host-pid-i: the process and consumer
	ExpiresIn Duration `json:"expires_in"`
}

// PendingView is a message waiting for its reply.
type PendingView struct {
	Seq      int64     `json:"seq"`
	ID       string    `json:"id"`
	ClientID string    `json:"client_id,omitempty"`
	Time     time.Time `json:"time"`
	Age      Duration  `json:"age"`
	Bytes    int       `json:"bytes"`
	Preview  string    `json:"preview"`
}

// EventView is one event of the session's stream, summed up.
type EventView struct {
	Offset  string    `json:"offset"`
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Age     Duration  `json:"age"`
	Summary string    `json:"summary"`
}

// Duration prints as Go does ("1.5s") and encodes as seconds in JSON.
type Duration time.Duration

func (d Duration) String() string { return roundDuration(time.Duration(d)).String() }

// MarshalJSON is the duration in seconds, to the millisecond.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Duration(d).Milliseconds()) / 1000)
}

// UnmarshalJSON reads seconds, as MarshalJSON writes them.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var sec float64
	if err := json.Unmarshal(b, &sec); err != nil {
		return err
	}
	*d = Duration(sec * float64(time.Second))
	return nil
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Session reads the session token (read-only: its TTL does not slide) with its last events.
func Session(ctx context.Context, st *store.Store, token string, events int) (SessionView, error) {
	s, err := st.InspectSession(ctx, token, events)
	if err != nil {
		return SessionView{}, err
	}
	now, err := st.ServerTime(ctx)
	if err != nil {
		return SessionView{}, err
	}
	v := SessionView{
		Session: chat.TokenTag(token), Exists: s.Exists, Partition: s.Partition,
		Stream: st.Keys().Requests(s.Partition), Pending: []PendingView{}, LastEvents: []EventView{},
	}
	if !s.Exists {
		v.State = "no such session: never made, expired or deleted"
		return v, nil
	}
	v.Name, v.User, v.Title, v.Start, v.ExpiresIn = s.Name, s.User, s.Title, s.Start, Duration(s.TTL)
	v.Queued, v.Answered, v.Waiting, v.Started, v.StopAsked = s.Seq, s.Done, s.Seq-s.Done, s.Started, s.Stop
	v.HistoryMessages, v.EventsKept = s.HistoryCount, s.EventCount
	if s.Lease != "" && s.Lease != store.LeaseQueued {
		consumer, _, _ := strings.Cut(s.Lease, "/")
		v.Lease = &LeaseView{Holder: s.Lease, Consumer: consumer, ExpiresIn: Duration(s.LeaseTTL)}
	}
	for i, m := range s.Pending {
		v.Pending = append(v.Pending, PendingView{
			Seq: s.Done + 1 + int64(i), ID: m.ID, ClientID: m.ClientID, Time: m.Timestamp,
			Age: age(now, m.Timestamp), Bytes: len(m.Msg), Preview: preview(m.Msg, 40),
		})
	}
	for _, e := range s.Events {
		at := chat.IDTime(e.ID)
		v.LastEvents = append(v.LastEvents, EventView{Offset: e.ID, Type: e.Type, Time: at, Age: age(now, at), Summary: summarize(e)})
	}
	for k, val := range s.Fields {
		if strings.HasPrefix(k, "usage") || strings.HasSuffix(k, "tokens") {
			if v.Usage == nil {
				v.Usage = map[string]string{}
			}
			v.Usage[k] = val
		}
	}
	v.State = state(s)
	return v, nil
}

// state says what the session waits for.
func state(s store.SessionState) string {
	n := s.Done + 1
	switch {
	case s.Seq <= s.Done:
		return "idle: every message is answered"
	case s.Lease == store.LeaseQueued:
		return fmt.Sprintf("back in line: answered a turn at a time while other sessions wait for a worker slot (%d waiting)", s.Seq-s.Done)
	case s.Lease != "" && s.Started == n:
		return fmt.Sprintf("answering message %d (%d waiting)", n, s.Seq-s.Done)
	case s.Lease != "":
		return fmt.Sprintf("leased, turn %d not begun yet (%d waiting)", n, s.Seq-s.Done)
	case s.Started == n:
		return fmt.Sprintf("waiting for a worker: an attempt at message %d began and holds no lease any more (its worker stopped or died: the request is taken over after worker.claim_idle)", n)
	}
	return fmt.Sprintf("waiting for a worker (%d messages)", s.Seq-s.Done)
}

func age(now, t time.Time) Duration {
	if t.IsZero() {
		return 0
	}
	return Duration(max(now.Sub(t), 0))
}

// preview is the first n characters of s on one line.
func preview(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// summarize sums up an event in a few words.
func summarize(e store.Entry) string {
	var ev chat.Event
	if err := json.Unmarshal(e.Body, &ev); err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	switch ev.Type {
	case chat.FrameAck:
		s := "message " + ev.ID
		if ev.ClientID != "" {
			s += " client_id " + preview(ev.ClientID, 40)
		}
		return s
	case chat.FrameDelta:
		s := fmt.Sprintf("reply to %s: %d bytes", ev.ReplyTo, len(ev.Text))
		if ev.Restart {
			s += ", restart"
		}
		return s
	case chat.FrameMessage:
		s := fmt.Sprintf("reply %s to %s: %d bytes", ev.ID, ev.ReplyTo, len(ev.Msg))
		if ev.Stopped {
			s += ", stopped"
		}
		return s
	case chat.FrameError:
		s := ev.Code + ": " + preview(ev.Msg, 60)
		if ev.ReplyTo != "" {
			s += " (reply to " + ev.ReplyTo + ")"
		}
		return s
	}
	return preview(string(e.Body), 60)
}

// WriteText prints the view for a person.
func (v SessionView) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, val any) { fmt.Fprintf(tw, "%s\t%v\n", k, val) }
	row("session", v.Session)
	row("state", v.State)
	if !v.Exists {
		return tw.Flush()
	}
	row("name", v.Name)
	if v.User != "" {
		row("user", v.User)
	}
	if v.Title != "" {
		row("title", v.Title)
	}
	row("started", v.Start.Format(time.RFC3339))
	row("expires in", v.ExpiresIn)
	row("request stream", fmt.Sprintf("%s (partition %d)", v.Stream, v.Partition))
	row("messages", fmt.Sprintf("%d queued, %d answered, %d waiting", v.Queued, v.Answered, v.Waiting))
	row("turn last begun", v.Started)
	if v.StopAsked != 0 {
		row("stop asked for", v.StopAsked)
	}
	if v.Lease != nil {
		row("lease", fmt.Sprintf("%s (consumer %s), expires in %s unless renewed", v.Lease.Holder, v.Lease.Consumer, v.Lease.ExpiresIn))
	} else {
		row("lease", "none")
	}
	row("kept", fmt.Sprintf("%d history messages, %d events", v.HistoryMessages, v.EventsKept))
	for _, k := range slices.Sorted(maps.Keys(v.Usage)) {
		row(k, v.Usage[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Pending) > 0 {
		fmt.Fprintln(w, "\nwaiting for a reply:")
		fmt.Fprintln(tw, "SEQ\tMESSAGE\tAGE\tBYTES\tTEXT")
		for _, p := range v.Pending {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", p.Seq, p.ID, p.Age, p.Bytes, p.Preview)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(v.LastEvents) > 0 {
		fmt.Fprintln(w, "\nlast events, newest first:")
		fmt.Fprintln(tw, "OFFSET\tTYPE\tAGE\tSUMMARY")
		for _, e := range v.LastEvents {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Offset, e.Type, e.Age, e.Summary)
		}
	}
	return tw.Flush()
}
