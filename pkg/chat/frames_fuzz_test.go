package chat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"chatbot/pkg/chat"
)

// FuzzDecodeClientFrame: any frame a client can send is either a command the web tier can act
// on or an error it can answer with; never a panic. Seeds: testdata/fuzz/FuzzDecodeClientFrame.
func FuzzDecodeClientFrame(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add([]byte(`{"type":"message","msg":"hi","client_id":"c1"}`))
	f.Add([]byte(`{"type":"stop"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := chat.DecodeClientFrame(data)
		trimmed := bytes.TrimSpace(data)
		isJSON := bytes.HasPrefix(trimmed, []byte("{"))
		if err != nil {
			if !errors.Is(err, chat.ErrEmptyMessage) && !errors.Is(err, chat.ErrBadFrame) {
				t.Fatalf("error %v is neither ErrEmptyMessage nor ErrBadFrame", err)
			}
			if c != (chat.Command{}) {
				t.Fatalf("error %v came with a command %+v", err, c)
			}
			if errors.Is(err, chat.ErrEmptyMessage) && !isJSON && len(trimmed) != 0 {
				t.Fatalf("non-blank plain text %q called empty", data)
			}
			if isJSON && json.Valid(trimmed) && jsonDepth(t, trimmed) > 8 && !errors.Is(err, chat.ErrBadFrame) {
				t.Fatalf("too deep JSON %q: %v, want ErrBadFrame", data, err)
			}
			return
		}
		switch c.Type {
		case chat.CmdMessage:
			if strings.TrimSpace(c.Msg) == "" {
				t.Fatalf("accepted a blank message %q from %q", c.Msg, data)
			}
			if !utf8.ValidString(c.Msg) || !utf8.ValidString(c.ClientID) {
				t.Fatalf("accepted invalid UTF-8 from %q", data)
			}
			if len(c.Msg) > len(data) || len(c.ClientID) > chat.MaxClientIDBytes {
				t.Fatalf("decoded fields larger than allowed: %d-byte msg from %d bytes, %d-byte client_id", len(c.Msg), len(data), len(c.ClientID))
			}
		case chat.CmdStop:
			if c.Msg != "" || c.ClientID != "" {
				t.Fatalf("stop with fields: %+v", c)
			}
		default:
			t.Fatalf("accepted a command of type %q", c.Type)
		}
		if !isJSON {
			if c.Type != chat.CmdMessage || c.Msg != string(data) || c.ClientID != "" {
				t.Fatalf("plain text %q became %+v, want the text as sent", data, c)
			}
			return
		}
		// An accepted command is one JSON object of strings, and nothing else.
		if !json.Valid(trimmed) {
			t.Fatalf("accepted a frame that is not one JSON value: %q", data)
		}
		if d := jsonDepth(t, trimmed); d != 1 {
			t.Fatalf("accepted JSON %q nested %d deep", data, d)
		}
		// It reads back the same when the client encodes it again.
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if c2, err := chat.DecodeClientFrame(again); err != nil || c2 != c {
			t.Fatalf("%+v re-encoded as %s decodes to %+v, %v", c, again, c2, err)
		}
	})
}

// jsonDepth is the deepest nesting of the valid JSON value b.
func jsonDepth(t *testing.T, b []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	d, maxD := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return maxD
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			d++
			maxD = max(maxD, d)
		case json.Delim('}'), json.Delim(']'):
			d--
		}
	}
}

// FuzzWithOffset: a compact JSON object (as json.Marshal writes event bodies) with an offset
// added is still one JSON object with the same fields and "offset" set; nothing panics.
func FuzzWithOffset(f *testing.F) {
	f.Add([]byte(`{"type":"ack","id":"x"}`), "1-0")
	f.Fuzz(func(t *testing.T, body []byte, id string) {
		out := chat.WithOffset(body, id)
		var before map[string]json.RawMessage
		if !chat.ValidID(id) || json.Unmarshal(body, &before) != nil || before == nil || before["offset"] != nil {
			return
		}
		var compact bytes.Buffer
		if json.Compact(&compact, body) != nil || !bytes.Equal(compact.Bytes(), body) || hasDuplicateKeys(body) {
			return
		}
		var after map[string]json.RawMessage
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("WithOffset(%s, %s) = %s: not JSON: %v", body, id, out, err)
		}
		if string(after["offset"]) != `"`+id+`"` || len(after) != len(before)+1 {
			t.Fatalf("WithOffset(%s, %s) = %s", body, id, out)
		}
		for k, v := range before {
			if !bytes.Equal(after[k], v) {
				t.Fatalf("WithOffset(%s, %s) changed %s to %s", body, id, v, after[k])
			}
		}
	})
}

// hasDuplicateKeys reports whether the top-level object b names a key twice (json.Unmarshal
// keeps the last, so the field count would not add up).
func hasDuplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := k.(string)
		if seen[key] {
			return true
		}
		seen[key] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}
