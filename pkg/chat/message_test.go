package chat_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"chatbot/pkg/chat"
)

var sampleMessages = []chat.Message{
	{ID: "2f1c9a4e-5b7d-4c1e-9a3b-8d6f0e2c4b1a", Role: chat.RoleHuman, Msg: "Hello, how are you today?", Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), ClientID: "c-1"},
	{ID: "7e3d1b2a", Role: chat.RoleBot, Msg: "echo: Hello", Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), ReplyTo: "2f1c9a4e"},
	{ID: "x", Role: chat.RoleBot, Msg: "partial", Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), ReplyTo: "y", Stopped: true},
	{ID: "u", Role: chat.RoleBot, Msg: "echo: hi", Timestamp: time.Unix(0, 0).UTC(), ReplyTo: "v", Usage: &chat.Usage{PromptTokens: 12, CompletionTokens: 3}},
	{ID: "w", Role: chat.RoleBot, Msg: "est", Timestamp: time.Unix(0, 0).UTC(), ReplyTo: "v", Stopped: true, Usage: &chat.Usage{PromptTokens: 0, CompletionTokens: 1234567, Estimated: true}},
	{ID: "q", Role: chat.RoleHuman, Msg: "quotes \" and \\ and\nnew lines, <html> & ünïcode €", Timestamp: time.Unix(0, 0).UTC()},
	{},
}

// DecodeMessage gives what json.Unmarshal gives for what json.Marshal wrote.
func TestDecodeMessageRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range sampleMessages {
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var want chat.Message
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got, err := chat.DecodeMessage(data)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeMessage(%s) = %+v, %v; want %+v", data, got, err, want)
		}
	}
}

// Input of any other shape is decoded by encoding/json, errors included.
func TestDecodeMessageOtherShapes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"role":"bot","id":"a","msg":"b","timestamp":"2025-01-02T03:04:05Z"}`,  // other order
		`{ "id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z"}`, // white space
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","stopped":false}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","extra":1}`,
		`{"id":"a","role":"bot","msg":"b"}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"not a time"}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z"} trailing`,
		`{"id":"a","role":"bot","msg":"\u00e9\ud83d\ude00","timestamp":"2025-01-02T03:04:05Z"}`,
		"{\"id\":\"a\",\"role\":\"bot\",\"msg\":\"\xff\",\"timestamp\":\"2025-01-02T03:04:05Z\"}",
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","usage":{"prompt_tokens":01,"completion_tokens":2}}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","usage":{"prompt_tokens":-1,"completion_tokens":2}}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","usage":{"prompt_tokens":1,"completion_tokens":2.5}}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","usage":{"prompt_tokens":1,"completion_tokens":99999999999999999999}}`,
		`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05Z","usage":{"prompt_tokens":1,"completion_tokens":2,"estimated":false}}`,
		`not json`, ``,
	} {
		var want chat.Message
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := chat.DecodeMessage([]byte(in))
		if (err == nil) != (wantErr == nil) || (err == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("DecodeMessage(%q) = %+v, %v; json.Unmarshal: %+v, %v", in, got, err, want, wantErr)
		}
	}
}

// FuzzDecodeMessage: whatever the input, DecodeMessage agrees with json.Unmarshal.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages {
		data, _ := json.Marshal(m)
		f.Add(data)
	}
	f.Add([]byte(`{"id":"a","role":"bot","msg":"b","timestamp":"2025-01-02T03:04:05+01:00","reply_to":"c","client_id":"d","stopped":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var want chat.Message
		wantErr := json.Unmarshal(data, &want)
		got, err := chat.DecodeMessage(data)
		if chat.IsRegeneration(data) {
			if !errors.Is(err, chat.ErrRegeneration) {
				t.Fatalf("DecodeMessage(%q) of a regeneration: %v, want ErrRegeneration", data, err)
			}
			return
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeMessage(%q): err %v, json.Unmarshal err %v", data, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeMessage(%q) = %#v, json.Unmarshal %#v", data, got, want)
		}
	})
}

// A pending regeneration is no message: DecodeMessage refuses it (so the readers of the
// pending list skip it), DecodeRegeneration reads it and the message it answers again.
func TestRegenerationEntry(t *testing.T) {
	t.Parallel()
	human := `{"id":"h1","role":"human","msg":"hi","timestamp":"2025-01-02T03:04:05Z","client_id":"c1"}`
	head, err := chat.RegenerationHead("r1", "c2", "")
	if err != nil {
		t.Fatal(err)
	}
	// What regenerate.lua adds: the reply replaced, the message, the closing brace.
	raw := head + `,"replaces":"b1","message":` + human + `}`
	if _, err := chat.DecodeMessage([]byte(raw)); !errors.Is(err, chat.ErrRegeneration) {
		t.Fatalf("DecodeMessage(regeneration) err = %v, want ErrRegeneration", err)
	}
	r, m, err := chat.DecodeRegeneration([]byte(raw))
	if err != nil || r.ID != "r1" || r.ClientID != "c2" || r.Replaces != "b1" || m.ID != "h1" || m.Msg != "hi" || m.ClientID != "c1" {
		t.Fatalf("DecodeRegeneration = %+v, %+v, %v", r, m, err)
	}
	for _, bad := range []string{
		human, // not a regeneration
		head + `,"message":{"id":"b1","role":"bot","msg":"x","timestamp":"2025-01-02T03:04:05Z"}}`, // of a reply
		head + `,"message":"x"}`,
		head + `}`,
	} {
		if _, _, err := chat.DecodeRegeneration([]byte(bad)); err == nil {
			t.Errorf("DecodeRegeneration(%s): no error", bad)
		}
	}
}
