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

// UsageView is a user's (auth.mode jwt) or a session's (mode none) token usage of today, as
// chatbot usage show and grant print it. The session is named by the logs' short hash.
type UsageView struct {
	User             string    `json:"user,omitempty"`
	Session          string    `json:"session,omitempty"`
	Day              string    `json:"day"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	Turns            int64     `json:"turns"`
	Granted          int64     `json:"granted"`
	Limit            int64     `json:"limit"`
	ResetsAt         time.Time `json:"resets_at"`
}

// Usage reads today's usage of user (the sub, auth.mode jwt) or, for user "", of the session
// token.
func Usage(ctx context.Context, st *store.Store, user, token string) (UsageView, error) {
	u, err := st.Usage(ctx, user, token)
	return usageView(user, token, u), err
}

// Grant adds tokens to today's budget of user or, for user "", of the session token.
func Grant(ctx context.Context, st *store.Store, user, token string, tokens int64) (UsageView, error) {
	u, err := st.Grant(ctx, user, token, tokens)
	return usageView(user, token, u), err
}

func usageView(user, token string, u store.DayUsage) UsageView {
	v := UsageView{User: user, Day: u.Day, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens,
		Turns: u.Turns, Granted: u.Granted, Limit: u.Limit, ResetsAt: u.ResetsAt}
	if user == "" {
		v.Session = chat.TokenTag(token)
	}
	return v
}

// WriteText prints the view as a table.
func (v UsageView) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if v.User != "" {
		fmt.Fprintf(tw, "user\t%s\n", v.User)
	} else {
		fmt.Fprintf(tw, "session\t%s\n", v.Session)
	}
	limit := "none"
	if v.Limit > 0 {
		limit = fmt.Sprintf("%d (granted %d)", v.Limit, v.Granted)
	}
	fmt.Fprintf(tw, "day\t%s (UTC; resets %s)\n", v.Day, v.ResetsAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "prompt tokens\t%d\n", v.PromptTokens)
	fmt.Fprintf(tw, "completion tokens\t%d\n", v.CompletionTokens)
	fmt.Fprintf(tw, "turns\t%d\n", v.Turns)
	fmt.Fprintf(tw, "limit\t%s\n", limit)
	return tw.Flush()
}
