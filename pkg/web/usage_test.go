package web_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

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
