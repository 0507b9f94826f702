package chat_test

import (
	"encoding/json"
	"testing"
	"time"

	"chatbot/pkg/chat"
)

// The hot paths of one turn on the web tier: decoding the client's frame, and turning a
// stream entry (or a notification) into the frame a socket gets.

var sinkCmd chat.Command

func BenchmarkDecodeClientFrame(b *testing.B) {
	frames := map[string][]byte{
		"plain":   []byte("Hello, how are you today?"),
		"command": []byte(`{"type":"message","msg":"Hello, how are you today?","client_id":"c-123456"}`),
		"stop":    []byte(`{"type":"stop"}`),
	}
	for _, name := range []string{"plain", "command", "stop"} {
		data := frames[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c, err := chat.DecodeClientFrame(data)
				if err != nil {
					b.Fatal(err)
				}
				sinkCmd = c
			}
		})
	}
}

var sinkBytes []byte

// A finished reply as the worker encodes it for the stream (json of the event, no offset).
func BenchmarkEncodeMessageEvent(b *testing.B) {
	m := chat.Message{
		ID: "2f1c9a4e-5b7d-4c1e-9a3b-8d6f0e2c4b1a", Role: chat.RoleBot, Msg: "echo: Hello, how are you today?",
		Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), ReplyTo: "7e3d1b2a-4c5f-4a6b-8c9d-0e1f2a3b4c5d",
	}
	b.ReportAllocs()
	for b.Loop() {
		data, err := json.Marshal(chat.MessageEvent(m))
		if err != nil {
			b.Fatal(err)
		}
		sinkBytes = data
	}
}

// The stream body with its offset added: what every socket of the session is sent.
func BenchmarkWithOffset(b *testing.B) {
	body := []byte(`{"type":"message","id":"2f1c9a4e-5b7d-4c1e-9a3b-8d6f0e2c4b1a","role":"bot","msg":"echo: Hello, how are you today?","timestamp":"2025-01-02T03:04:05.000000006Z","reply_to":"7e3d1b2a-4c5f-4a6b-8c9d-0e1f2a3b4c5d"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sinkBytes = chat.WithOffset(body, "1735787045000-12")
	}
}

var sinkNote chat.Notification

// What the web tier's subscriber does with every event published for a session it holds.
func BenchmarkDecodeNotification(b *testing.B) {
	payload := `1735787045000-11 1735787045000-12 delta {"type":"delta","reply_to":"7e3d1b2a-4c5f-4a6b-8c9d-0e1f2a3b4c5d","text":"echo: Hello,"}`
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		n, ok := chat.DecodeNotification(payload)
		if !ok {
			b.Fatal("not decoded")
		}
		sinkNote = n
	}
}

var sinkInt int

func BenchmarkCompareIDs(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkInt = chat.CompareIDs("1735787045000-12", "1735787045000-11")
	}
}

var sinkMsg chat.Message

// A history message as a worker reads it for every turn (2 × llm.history of them).
func BenchmarkDecodeMessage(b *testing.B) {
	data := []byte(`{"id":"2f1c9a4e-5b7d-4c1e-9a3b-8d6f0e2c4b1a","role":"bot","msg":"echo: Hello, how are you today?","timestamp":"2025-01-02T03:04:05.000000006Z","reply_to":"7e3d1b2a-4c5f-4a6b-8c9d-0e1f2a3b4c5d"}`)
	b.Run("DecodeMessage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := chat.DecodeMessage(data)
			if err != nil {
				b.Fatal(err)
			}
			sinkMsg = m
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m chat.Message
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
			sinkMsg = m
		}
	})
}
