package web_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"chatbot/pkg/auth"
	"chatbot/pkg/chat"
	"chatbot/pkg/store"
	"chatbot/pkg/store/storetest"
	"chatbot/pkg/web"

	"github.com/google/uuid"
)

// GET /usage answers the session's day (auth.mode none); once the day's budget is spent a
// message gets the quota error frame with retry_at and its client_id, and is not kept.
func TestUsageRouteAndQuotaAtSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b, web.Options{}, store.Options{Prefix: storetest.Prefix(t), Budget: store.Budget{TokensPerDay: 10}})
		sess := e.session()
		status, body, _ := httpDo(t, e.ts, "GET", "/usage?token="+sess.Token, "", "")
		var u map[string]any
		if err := json.Unmarshal([]byte(body), &u); status != http.StatusOK || err != nil ||
			u["limit"] != 10.0 || u["prompt_tokens"] != 0.0 || u["day"] != time.Now().UTC().Format(time.DateOnly) {
			t.Fatalf("GET /usage: %d %s", status, body)
		}
		if status, body, _ := httpDo(t, e.ts, "GET", "/usage?token="+uuid.NewString(), "", ""); status != http.StatusBadRequest {
			t.Fatalf("GET /usage of no session: %d %s", status, body)
		}

		// One turn spends the day's 10 tokens.
		c := e.dial(tokenQuery(sess, "stream=1"))
		c.sendJSON(map[string]string{"type": "message", "msg": "hello", "client_id": "c1"})
		c.nextOf(chat.FrameAck)
		turn, _, err := e.st.BeginTurn(e.ctx, sess.Token, "w", 10, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		turn.Usage = &chat.Usage{PromptTokens: 7, CompletionTokens: 3}
		reply := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "hi", Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID, Usage: turn.Usage}
		if _, err := e.st.FinishTurn(e.ctx, turn, &reply, chat.MessageEvent(reply)); err != nil {
			t.Fatal(err)
		}
		if f := c.nextOf(chat.FrameMessage); f.Usage == nil || f.Usage.PromptTokens != 7 || f.raw["usage"] == nil {
			t.Fatalf("message frame %+v", f.raw)
		}
		_, body, _ = httpDo(t, e.ts, "GET", "/usage?token="+sess.Token, "", "")
		if err := json.Unmarshal([]byte(body), &u); err != nil || u["prompt_tokens"] != 7.0 || u["completion_tokens"] != 3.0 || u["turns"] != 1.0 {
			t.Fatalf("GET /usage after a turn: %s", body)
		}

		c.sendJSON(map[string]string{"type": "message", "msg": "more", "client_id": "c2"})
		f := c.nextOf(chat.FrameError)
		if f.Code != chat.CodeQuota || f.ClientID != "c2" || f.RetryAt == nil || f.RetryAt.Format(time.TimeOnly) != "00:00:00" || f.Offset != "" {
			t.Fatalf("quota frame %+v", f.raw)
		}
		got, err := e.st.GetSession(e.ctx, sess.Token, false) // history and pending messages
		if err != nil || len(got.Messages) != 2 {
			t.Fatalf("the refused message was kept: %d messages %v", len(got.Messages), err)
		}
		if got := metric(t, e.ts, `chatbot_web_errors_total{code="quota"}`); got != "1" {
			t.Fatalf("quota refusals metric %q", got)
		}
	})
}

// With auth.mode jwt, GET /usage is the caller's day over all their sessions, and another
// user's is their own; once the user's budget is spent in one session, a message in another
// of their sessions is refused with the quota frame, while another user's goes through.
func TestJWTUsageIsTheUsers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		v, err := auth.New(auth.Options{Secret: jwtSecret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		e := setup(t, b, web.Options{Auth: v}, store.Options{Prefix: storetest.Prefix(t), Budget: store.Budget{TokensPerDay: 10}})
		alice, bob := signJWT(t, "alice", time.Hour), signJWT(t, "bob", time.Hour)
		first, second := e.createAs(alice, "first"), e.createAs(alice, "second")
		theirs := e.createAs(bob, "bob's")
		usage := func(jwt string) map[string]any {
			t.Helper()
			status, body, _ := httpDo(t, e.ts, "GET", "/usage", "", "", bearerH(jwt)...)
			var u map[string]any
			if err := json.Unmarshal([]byte(body), &u); status != http.StatusOK || err != nil {
				t.Fatalf("GET /usage: %d %s", status, body)
			}
			return u
		}
		if status, _, _ := httpDo(t, e.ts, "GET", "/usage", "", ""); status != http.StatusUnauthorized {
			t.Fatalf("GET /usage without a JWT: %d, want 401", status)
		}

		// A turn of alice's first session spends her day's 10 tokens.
		c := dialAs(t, e, alice, tokenQuery(first, "stream=1"))
		c.sendJSON(map[string]string{"type": "message", "msg": "hello", "client_id": "a1"})
		c.nextOf(chat.FrameAck)
		turn, _, err := e.st.BeginTurn(e.ctx, first.Token, "w", 10, 10*time.Second)
		if err != nil || turn.User == "" {
			t.Fatalf("begin: user %q, %v", turn.User, err)
		}
		if err := e.st.Reserve(e.ctx, turn); err != nil {
			t.Fatal(err)
		}
		turn.Usage = &chat.Usage{PromptTokens: 7, CompletionTokens: 3}
		reply := chat.Message{ID: uuid.NewString(), Role: chat.RoleBot, Msg: "hi", Timestamp: time.Now().UTC(), ReplyTo: turn.Message.ID, Usage: turn.Usage}
		if _, err := e.st.FinishTurn(e.ctx, turn, &reply, chat.MessageEvent(reply)); err != nil {
			t.Fatal(err)
		}
		c.nextOf(chat.FrameMessage)
		if u := usage(alice); u["prompt_tokens"] != 7.0 || u["completion_tokens"] != 3.0 || u["turns"] != 1.0 || u["limit"] != 10.0 {
			t.Fatalf("alice's usage %v", u)
		}
		if u := usage(bob); u["prompt_tokens"] != 0.0 || u["turns"] != 0.0 {
			t.Fatalf("bob's usage %v: another user's turn counted for him", u)
		}

		// Her other session shares the budget; bob's does not.
		c2 := dialAs(t, e, alice, tokenQuery(second, "stream=1"))
		c2.sendJSON(map[string]string{"type": "message", "msg": "more", "client_id": "a2"})
		if f := c2.nextOf(chat.FrameError); f.Code != chat.CodeQuota || f.ClientID != "a2" || f.RetryAt == nil {
			t.Fatalf("alice's second session: %+v, want the quota frame", f.raw)
		}
		cb := dialAs(t, e, bob, tokenQuery(theirs, "stream=1"))
		cb.sendJSON(map[string]string{"type": "message", "msg": "hi", "client_id": "b1"})
		if f := cb.nextOf(chat.FrameAck); f.ClientID != "b1" {
			t.Fatalf("bob's message: %+v, want its ack", f.raw)
		}
	})
}
