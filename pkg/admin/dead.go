package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"chatbot/pkg/chat"
	"chatbot/pkg/store"

	"github.com/google/uuid"
)

// DeadLetterView is one entry of chat:dead: a request the workers gave up on.
type DeadLetterView struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Age  Duration  `json:"age"`
	// Session is the chat.TokenTag of the request's session ("" for an entry without one).
	Session  string `json:"session,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	Message  string `json:"message_id,omitempty"`
	Error    string `json:"error"`
	Consumer string `json:"consumer,omitempty"`
	Attempts int    `json:"attempts"`
	Stream   string `json:"stream,omitempty"`
	Request  string `json:"request_id,omitempty"`
	// Fields is every field of the entry, the token replaced by its tag.
	Fields map[string]string `json:"fields"`
}

// DeadListView is `chatbot dead list`.
type DeadListView struct {
	Total       int64            `json:"total"`
	DeadLetters []DeadLetterView `json:"dead_letters"`
	// Next is the ID to list from (--after) for the next page, "" at the end.
	Next string `json:"next,omitempty"`
}

// DeadList reads up to count dead letters after the ID after ("" from the oldest).
func DeadList(ctx context.Context, st *store.Store, after string, count int) (DeadListView, error) {
	got, total, err := st.DeadLetters(ctx, after, count)
	if err != nil {
		return DeadListView{}, err
	}
	now, err := st.ServerTime(ctx)
	if err != nil {
		return DeadListView{}, err
	}
	v := DeadListView{Total: total, DeadLetters: []DeadLetterView{}}
	for _, e := range got {
		v.DeadLetters = append(v.DeadLetters, deadView(e, now))
	}
	if len(got) == count && count > 0 {
		v.Next = got[len(got)-1].ID
	}
	return v, nil
}

// DeadShow reads the dead letter id; ErrNoDeadLetter when there is none.
func DeadShow(ctx context.Context, st *store.Store, id string) (DeadLetterView, error) {
	e, ok, err := st.DeadLetter(ctx, id)
	if err != nil {
		return DeadLetterView{}, err
	}
	if !ok {
		return DeadLetterView{}, fmt.Errorf("%w: %q", ErrNoDeadLetter, id)
	}
	now, err := st.ServerTime(ctx)
	if err != nil {
		return DeadLetterView{}, err
	}
	return deadView(e, now), nil
}

// ErrNoDeadLetter means the ID names no entry of chat:dead (never was, purged or replayed).
var ErrNoDeadLetter = errors.New("no such dead letter")

func deadView(e store.RequestEntry, now time.Time) DeadLetterView {
	f := e.Fields
	at := chat.IDTime(e.ID)
	v := DeadLetterView{
		ID: e.ID, Time: at, Age: age(now, at), Error: f[store.DeadFieldError], Consumer: f[store.DeadFieldConsumer],
		Stream: f[store.DeadFieldStream], Request: f[store.DeadFieldRequestID], Message: f[store.DeadFieldMessageID],
		Fields: make(map[string]string, len(f)),
	}
	v.Attempts, _ = strconv.Atoi(f[store.DeadFieldAttempts])
	v.Seq, _ = strconv.ParseInt(f[chat.ReqFieldSeq], 10, 64)
	for k, val := range f {
		v.Fields[k] = val
	}
	if tok, ok := f[chat.ReqFieldToken]; ok {
		v.Session = chat.TokenTag(tok)
		v.Fields[chat.ReqFieldToken] = "(session " + v.Session + ")"
	}
	return v
}

// WriteText prints the list for a person.
func (v DeadListView) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSESSION\tSEQ\tATTEMPTS\tCONSUMER\tERROR")
	for _, d := range v.DeadLetters {
		sess := d.Session
		if sess == "" {
			sess = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.Age, sess, d.Seq, d.Attempts, d.Consumer, preview(d.Error, 70))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	more := ""
	if v.Next != "" {
		more = fmt.Sprintf("; more: chatbot dead list --after %s", v.Next)
	}
	_, err := fmt.Fprintf(w, "%d shown of %d in chat:dead%s\n", len(v.DeadLetters), v.Total, more)
	return err
}

// WriteText prints one dead letter for a person.
func (v DeadLetterView) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, val any) { fmt.Fprintf(tw, "%s\t%v\n", k, val) }
	row("id", v.ID)
	row("time", fmt.Sprintf("%s (%s ago)", v.Time.UTC().Format(time.RFC3339Nano), v.Age))
	if v.Session != "" {
		row("session", v.Session)
	}
	if v.Seq != 0 {
		row("seq", v.Seq)
	}
	if v.Message != "" {
		row("message", v.Message)
	}
	row("error", v.Error)
	row("consumer", v.Consumer)
	row("attempts", v.Attempts)
	if v.Stream != "" {
		row("request", v.Stream+" "+v.Request)
	}
	known := map[string]bool{chat.ReqFieldToken: true, chat.ReqFieldSeq: true, store.DeadFieldError: true,
		store.DeadFieldConsumer: true, store.DeadFieldAttempts: true, store.DeadFieldStream: true,
		store.DeadFieldRequestID: true, store.DeadFieldMessageID: true}
	for _, k := range slices.Sorted(maps.Keys(v.Fields)) {
		if !known[k] {
			row(k, preview(v.Fields[k], 200))
		}
	}
	return tw.Flush()
}

// ReplayResult is what `chatbot dead replay` did.
type ReplayResult struct {
	DeadLetter string `json:"dead_letter"`
	Session    string `json:"session"`
	// Action: "requeued" (the message was still waiting: its request is queued again),
	// "resent" (it was answered with an error: its text is sent again as a new message, which
	// a worker answers), "resent_before" (an earlier replay of this dead letter sent it
	// already: nothing new).
	Action  string `json:"action"`
	Seq     int64  `json:"seq"`
	Message string `json:"message_id"`
	// Deleted says the dead letter left chat:dead.
	Deleted bool `json:"deleted"`
}

// Errors of Replay: the dead letter cannot be answered.
var (
	ErrNotReplayable   = errors.New("cannot replay")
	ErrAlreadyAnswered = errors.New("already answered")
)

// Replay queues the dead letter id for its session again so that the user gets an answer,
// once, then deletes it from chat:dead (unless keep):
//   - its message still waits for a reply (a request given up on while the session kept it
//     pending): the request {token, seq} is queued again, and the worker that takes it answers
//     the message, once, as it answers every request;
//   - its message was answered with an error (model_error): its text is sent again as a new
//     message of the session, with the client_id "replay-ID", so running the replay twice
//     sends it once; the user gets its ack and then the reply.
//
// A message that has a reply already (ErrAlreadyAnswered), a session that is gone, or an entry
// without a session or message (ErrNotReplayable) is refused and the dead letter kept.
func Replay(ctx context.Context, st *store.Store, id string, keep bool) (ReplayResult, error) {
	e, ok, err := st.DeadLetter(ctx, id)
	if err != nil {
		return ReplayResult{}, err
	}
	if !ok {
		return ReplayResult{}, fmt.Errorf("%w: %q", ErrNoDeadLetter, id)
	}
	token := e.Fields[chat.ReqFieldToken]
	res := ReplayResult{DeadLetter: e.ID}
	if !chat.ValidToken(token) {
		return res, fmt.Errorf("%w %s: the entry names no session (a malformed request)", ErrNotReplayable, e.ID)
	}
	res.Session = chat.TokenTag(token)
	sess, err := st.InspectSession(ctx, token, 0)
	if err != nil {
		return res, err
	}
	if !sess.Exists {
		return res, fmt.Errorf("%w %s: session %s is gone (expired or deleted)", ErrNotReplayable, e.ID, res.Session)
	}
	seq, _ := strconv.ParseInt(e.Fields[chat.ReqFieldSeq], 10, 64)
	msgID := e.Fields[store.DeadFieldMessageID]
	switch {
	case seq > sess.Done:
		// Still waiting: queue the request again.
		if err := st.Enqueue(ctx, token, seq); err != nil {
			return res, err
		}
		res.Action, res.Seq = "requeued", seq
		if int(seq-sess.Done) <= len(sess.Pending) {
			res.Message = sess.Pending[seq-sess.Done-1].ID
		}
	case msgID == "":
		return res, fmt.Errorf("%w %s: message %d of session %s is answered and the entry does not say which message it was", ErrNotReplayable, e.ID, seq, res.Session)
	default:
		msg, found, _, replied, err := st.FindMessage(ctx, token, msgID)
		switch {
		case err != nil:
			return res, err
		case !found:
			return res, fmt.Errorf("%w %s: message %s is no longer in session %s's history", ErrNotReplayable, e.ID, msgID, res.Session)
		case replied:
			return res, fmt.Errorf("%w: message %s of session %s has a reply", ErrAlreadyAnswered, msgID, res.Session)
		}
		again := chat.Message{ID: uuid.NewString(), Role: chat.RoleHuman, Msg: msg.Msg, Timestamp: time.Now().UTC(), ClientID: "replay-" + e.ID}
		sent, err := st.Send(ctx, token, again, store.SendLimits{MaxPending: maxReplayLimit, MessagesPerMinute: maxReplayLimit, User: sess.User})
		if err != nil {
			return res, fmt.Errorf("resend message %s: %w", msgID, err)
		}
		res.Action, res.Seq, res.Message = "resent", sent.Seq, sent.ID
		if sent.Duplicate {
			res.Action = "resent_before"
		}
	}
	if !keep {
		n, err := st.DeleteDeadLetters(ctx, e.ID)
		if err != nil {
			return res, err
		}
		res.Deleted = n == 1
	}
	return res, nil
}

// maxReplayLimit: an operator's replay is not held to the session's limits.
const maxReplayLimit = 1 << 30

// WriteText prints what a replay did.
func (r ReplayResult) WriteText(w io.Writer) error {
	var what string
	switch r.Action {
	case "requeued":
		what = fmt.Sprintf("message %d (%s) of session %s was still waiting: its request is queued again", r.Seq, r.Message, r.Session)
	case "resent":
		what = fmt.Sprintf("message sent again to session %s as message %d (%s): a worker answers it", r.Session, r.Seq, r.Message)
	default:
		what = fmt.Sprintf("an earlier replay sent it already as message %d (%s) of session %s: nothing new sent", r.Seq, r.Message, r.Session)
	}
	deleted := "kept in chat:dead (--keep)"
	if r.Deleted {
		deleted = "removed from chat:dead"
	}
	_, err := fmt.Fprintf(w, "%s: %s; %s\n", r.DeadLetter, what, deleted)
	return err
}

// PurgePlan is what `chatbot dead purge` deletes.
type PurgePlan struct {
	IDs []string `json:"ids"`
	// Deleted is how many left chat:dead (0 until done).
	Deleted int64 `json:"deleted"`
	Done    bool  `json:"done"`
}

// PlanPurge lists the dead letters a purge deletes: those of ids (every one when ids is
// empty) at least olderThan old (0: any age).
func PlanPurge(ctx context.Context, st *store.Store, ids []string, olderThan time.Duration) (PurgePlan, error) {
	now, err := st.ServerTime(ctx)
	if err != nil {
		return PurgePlan{}, err
	}
	plan := PurgePlan{IDs: []string{}}
	old := func(id string) bool { return olderThan <= 0 || now.Sub(chat.IDTime(id)) >= olderThan }
	if len(ids) > 0 {
		for _, id := range ids {
			e, ok, err := st.DeadLetter(ctx, id)
			if err != nil {
				return plan, err
			}
			if !ok {
				return plan, fmt.Errorf("%w: %q", ErrNoDeadLetter, id)
			}
			if old(e.ID) {
				plan.IDs = append(plan.IDs, e.ID)
			}
		}
		return plan, nil
	}
	after := ""
	for {
		got, _, err := st.DeadLetters(ctx, after, 500)
		if err != nil {
			return plan, err
		}
		for _, e := range got {
			if old(e.ID) {
				plan.IDs = append(plan.IDs, e.ID)
			}
		}
		if len(got) < 500 {
			return plan, nil
		}
		after = got[len(got)-1].ID
	}
}

// Purge deletes the plan's dead letters.
func Purge(ctx context.Context, st *store.Store, plan PurgePlan) (PurgePlan, error) {
	for ids := range slices.Chunk(plan.IDs, 500) {
		n, err := st.DeleteDeadLetters(ctx, ids...)
		plan.Deleted += n
		if err != nil {
			return plan, err
		}
	}
	plan.Done = true
	return plan, nil
}

// WriteText prints what a purge did.
func (p PurgePlan) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "deleted %d dead letters from chat:dead\n", p.Deleted)
	return err
}
