package chat_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
)

func TestDecodeClientFrame(t *testing.T) {
	t.Parallel()
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		name  string
		frame string
		want  chat.Command
		err   error // nil, chat.ErrEmptyMessage or chat.ErrBadFrame
	}{
		{"plain text", "hello", chat.Command{Type: chat.CmdMessage, Msg: "hello"}, nil},
		{"plain text kept as sent", "  two words \n", chat.Command{Type: chat.CmdMessage, Msg: "  two words \n"}, nil},
		{"plain text with braces inside", "a {b} c", chat.Command{Type: chat.CmdMessage, Msg: "a {b} c"}, nil},
		{"plain text that looks like an array", `["x"]`, chat.Command{Type: chat.CmdMessage, Msg: `["x"]`}, nil},
		{"unicode", "héllo 世界 🙂", chat.Command{Type: chat.CmdMessage, Msg: "héllo 世界 🙂"}, nil},
		{"JSON message", `{"type":"message","msg":"hi","client_id":"c-1"}`, chat.Command{Type: chat.CmdMessage, Msg: "hi", ClientID: "c-1"}, nil},
		{"JSON message, white space around", " \n{ \"type\" : \"message\", \"msg\" : \"hi\" }\t", chat.Command{Type: chat.CmdMessage, Msg: "hi"}, nil},
		{"JSON message with escapes", `{"type":"message","msg":"a\"b\\c\u00e9\n"}`, chat.Command{Type: chat.CmdMessage, Msg: "a\"b\\cé\n"}, nil},
		{"JSON message with braces in the text", `{"type":"message","msg":"{{[[}}]]"}`, chat.Command{Type: chat.CmdMessage, Msg: "{{[[}}]]"}, nil},
		{"client_id of exactly 128 bytes", `{"type":"message","msg":"x","client_id":"` + strings.Repeat("c", 128) + `"}`, chat.Command{Type: chat.CmdMessage, Msg: "x", ClientID: strings.Repeat("c", 128)}, nil},
		{"stop", `{"type":"stop"}`, chat.Command{Type: chat.CmdStop}, nil},
		{"stop ignores msg", `{"type":"stop","msg":"x","client_id":"y"}`, chat.Command{Type: chat.CmdStop}, nil},
		{"regenerate", `{"type":"regenerate","client_id":"r-1"}`, chat.Command{Type: chat.CmdRegenerate, ClientID: "r-1"}, nil},
		{"regenerate without client_id", `{"type":"regenerate"}`, chat.Command{Type: chat.CmdRegenerate}, nil},

		{"empty", "", chat.Command{}, chat.ErrEmptyMessage},
		{"blank", " \t\r\n ", chat.Command{}, chat.ErrEmptyMessage},
		{"unicode blank", "\u00a0\u2003\u3000", chat.Command{}, chat.ErrEmptyMessage},
		{"JSON message without msg", `{"type":"message"}`, chat.Command{}, chat.ErrEmptyMessage},
		{"JSON message with blank msg", `{"type":"message","msg":" \n "}`, chat.Command{}, chat.ErrEmptyMessage},

		{"unknown type", `{"type":"shout","msg":"x"}`, chat.Command{}, chat.ErrBadFrame},
		{"no type", `{"msg":"x"}`, chat.Command{}, chat.ErrBadFrame},
		{"unknown field", `{"type":"message","msg":"x","admin":true}`, chat.Command{}, chat.ErrBadFrame},
		{"wrong field type", `{"type":"message","msg":42}`, chat.Command{}, chat.ErrBadFrame},
		{"not an object after all", `{"type":`, chat.Command{}, chat.ErrBadFrame},
		{"trailing data", `{"type":"stop"} x`, chat.Command{}, chat.ErrBadFrame},
		{"trailing object", `{"type":"stop"}{"type":"stop"}`, chat.Command{}, chat.ErrBadFrame},
		{"trailing brace", `{"type":"stop"}}`, chat.Command{}, chat.ErrBadFrame},
		{"trailing bracket", `{"type":"message","msg":"x"}]`, chat.Command{}, chat.ErrBadFrame},
		{"too deep", `{"type":"message","msg":"x","client_id":` + nested(10) + `}`, chat.Command{}, chat.ErrBadFrame},
		{"very deep", strings.Repeat("{", 100000), chat.Command{}, chat.ErrBadFrame},
		{"invalid UTF-8 text", "caf\xe9", chat.Command{}, chat.ErrBadFrame},
		{"invalid UTF-8 in JSON", "{\"type\":\"message\",\"msg\":\"\xff\"}", chat.Command{}, chat.ErrBadFrame},
		{"client_id too long", `{"type":"message","msg":"x","client_id":"` + strings.Repeat("c", 129) + `"}`, chat.Command{}, chat.ErrBadFrame},
		{"regenerate client_id too long", `{"type":"regenerate","client_id":"` + strings.Repeat("c", 129) + `"}`, chat.Command{}, chat.ErrBadFrame},
		{"regenerate with a msg", `{"type":"regenerate","msg":"x"}`, chat.Command{}, chat.ErrBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chat.DecodeClientFrame([]byte(tc.frame))
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %+v, %v; want %v", got, err, tc.err)
			}
			if got != (chat.Command{}) {
				t.Fatalf("an error came with a command: %+v", got)
			}
		})
	}
}

// TestBadFrameSaysWhy: the error of a malformed command tells the client what was wrong, and
// still matches ErrBadFrame (the web tier sends its text in the bad_frame error frame).
func TestBadFrameSaysWhy(t *testing.T) {
	t.Parallel()
	for frame, want := range map[string]string{
		`{"type":"stop"}}`:                   "trailing data",
		`{"type":"nope"}`:                    "unknown type",
		strings.Repeat("[", 9) + "{":         "", // not a command at all: plain text
		`{"a":` + strings.Repeat("[", 9):     "nested too deeply",
		"\xff":                               "not valid UTF-8",
		`{"type":"message","msg":"x","x":1}`: `want {"type":"message"`,
	} {
		_, err := chat.DecodeClientFrame([]byte(frame))
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v, want a plain message", frame, err)
			}
			continue
		}
		if !errors.Is(err, chat.ErrBadFrame) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrBadFrame saying %q", frame, err, want)
		}
	}
}

func TestWithOffset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, id, want string }{
		{`{}`, "1-0", `{"offset":"1-0"}`},
		{`{"type":"ack","id":"x"}`, "1700000000000-3", `{"type":"ack","id":"x","offset":"1700000000000-3"}`},
		{`{"msg":"}"}`, "2-0", `{"msg":"}","offset":"2-0"}`},
		// Not a JSON object: returned as it is.
		{``, "1-0", ``},
		{`x`, "1-0", `x`},
		{`[1]`, "1-0", `[1]`},
	} {
		if got := string(chat.WithOffset([]byte(tc.body), tc.id)); got != tc.want {
			t.Errorf("WithOffset(%s, %s) = %s, want %s", tc.body, tc.id, got, tc.want)
		}
	}
}

// TestEventFramesCarryTheOffset: a stored event body plus its offset is the frame a client
// reads, with the tutorial's fields (id, msg, timestamp) where a client expects them.
func TestEventFramesCarryTheOffset(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	m := chat.Message{ID: "b1", Role: chat.RoleBot, Msg: "echo: hi", Timestamp: ts, ReplyTo: "h1"}
	body, err := json.Marshal(chat.MessageEvent(m))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(chat.WithOffset(body, "5-1"), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "message", "id": "b1", "role": "bot", "msg": "echo: hi",
		"timestamp": "2024-05-01T12:00:00Z", "reply_to": "h1", "offset": "5-1"}
	if len(got) != len(want) {
		t.Fatalf("frame %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("frame[%s] = %v, want %v", k, got[k], v)
		}
	}
	e := chat.ErrorEvent(chat.CodeRateLimited, "slow down", "h2")
	if e.Type != chat.FrameError || e.Code != chat.CodeRateLimited || e.Msg != "slow down" || e.ReplyTo != "h2" {
		t.Fatalf("error event %+v", e)
	}
	if !chat.Streaming(chat.FrameAck) || !chat.Streaming(chat.FrameDelta) || chat.Streaming(chat.FrameMessage) || chat.Streaming(chat.FrameError) {
		t.Fatal("only ack and delta frames are for ?stream=1 sockets")
	}
}

func TestEventMsgAlwaysOnMessageFrames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ev   chat.Event
		want bool
	}{
		{chat.MessageEvent(chat.Message{ID: "m", Role: chat.RoleBot, Stopped: true}), true},
		{chat.ErrorEvent(chat.CodeModelError, "", "m"), true},
		{chat.Event{Type: chat.FrameDelta, Text: "x"}, false},
		{chat.Event{Type: chat.FrameAck, ID: "m"}, false},
	} {
		b, err := json.Marshal(tc.ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), `"msg":""`); got != tc.want {
			t.Errorf("%s frame %s: msg present %v, want %v", tc.ev.Type, b, got, tc.want)
		}
		var back chat.Event
		if err := json.Unmarshal(b, &back); err != nil || back.Type != tc.ev.Type {
			t.Errorf("round trip %s: %+v %v", b, back, err)
		}
	}
	b, _ := json.Marshal(chat.MessageEvent(chat.Message{ID: "m", Role: chat.RoleBot, Msg: "hi"}))
	if strings.Count(string(b), `"msg"`) != 1 {
		t.Errorf("msg written twice: %s", b)
	}
}
