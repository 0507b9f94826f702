package chat_test

import (
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
)

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// A message frame's optional traceparent is read on the fast path and the JSON path alike;
// one over MaxTraceparentBytes is ignored, never a reason to refuse the message.
func TestClientFrameTraceparent(t *testing.T) {
	long := strings.Repeat("a", chat.MaxTraceparentBytes+1)
	for _, c := range []struct{ frame, want string }{
		{`{"type":"message","msg":"hi","traceparent":"` + tp + `"}`, tp},
		{`{"type":"message","msg":"hi","client_id":"c","traceparent":"` + tp + `"}`, tp},
		{`{"traceparent":"` + tp + `","type":"message","msg":"hi"}`, tp},
		{`{"type":"message","msg":"hi","traceparent":"` + long + `"}`, ""},
		{`{"traceparent":"` + long + `","type":"message","msg":"hi"}`, ""},
		{`{"type":"message","msg":"hi"}`, ""},
	} {
		cmd, err := chat.DecodeClientFrame([]byte(c.frame))
		if err != nil || cmd.Msg != "hi" || cmd.Traceparent != c.want {
			t.Errorf("%s: %+v %v, want traceparent %q", c.frame, cmd, err, c.want)
		}
	}
}

// A pending message keeps its traceparent through the fast decoder; WithoutTraceparent gives
// the JSON the history keeps: the message as it would be without one.
func TestMessageTraceparent(t *testing.T) {
	m := chat.Message{ID: "m1", Role: chat.RoleHuman, Msg: "hi", Timestamp: time.Unix(1, 0).UTC(), ClientID: "c", Traceparent: tp}
	raw, _ := chat.Marshal(m)
	got, err := chat.DecodeMessage(raw)
	if err != nil || got != m {
		t.Fatalf("decoded %+v %v, want %+v", got, err, m)
	}
	m.Traceparent = ""
	plain, _ := chat.Marshal(m)
	if s := chat.WithoutTraceparent(string(raw), tp); s != string(plain) {
		t.Errorf("without traceparent %s, want %s", s, plain)
	}
	if s := chat.WithoutTraceparent(string(plain), ""); s != string(plain) {
		t.Errorf("a message without one changed: %s", s)
	}
}

// The traceparent of a request entry is optional and needs no newer format version: a worker
// reads the entry with or without it.
func TestRequestTraceparent(t *testing.T) {
	fields := map[string]string{chat.ReqFieldToken: tok, chat.ReqFieldSeq: "3", chat.ReqFieldTraceparent: tp}
	r, err := chat.DecodeRequest(fields)
	if err != nil || r.Traceparent != tp || r.Seq != 3 {
		t.Fatalf("%+v %v", r, err)
	}
	fields[chat.ReqFieldTraceparent] = strings.Repeat("a", chat.MaxTraceparentBytes+1)
	if r, err := chat.DecodeRequest(fields); err != nil || r.Traceparent != "" {
		t.Errorf("an oversized traceparent: %+v %v, want the request without it", r, err)
	}
}
