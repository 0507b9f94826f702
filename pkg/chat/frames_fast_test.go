package chat

import (
	"errors"
	"testing"
)

// FuzzDecodeMessageCommandFast: whenever the fast path takes a frame, the strict decoder
// returns the same command and no error.
func FuzzDecodeMessageCommandFast(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","msg":"hi","client_id":"c-1"}`,
		`{"type":"message","msg":"hi"}`,
		`{"type":"message","msg":"  "}`,
		`{"type":"message","msg":"a\"b"}`,
		`{"type":"message","msg":"hi","client_id":"c"} `,
		`{"type":"message","msg":"hi","client_id":"c","x":1}`,
		`{"type":"message","msg":"hi"}}`,
		`{"type":"stop"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeMessageCommandFast(data)
		if !ok {
			return
		}
		slow, err := decodeClientFrame(data)
		if err != nil || slow != fast {
			t.Fatalf("%q: fast %+v, strict %+v %v", data, fast, slow, err)
		}
	})
}

func TestDecodeClientFrameFastPathRefuses(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`{"type":"message","msg":"   "}`, // blank: the strict decoder says ErrEmptyMessage
		`{"type":"message","msg":"hi","client_id":"` + string(make([]byte, 129)) + `"}`,
		`{"type":"message","msg":"hi","client_id":"c","extra":1}`,
		`{"type":"message","msg":"hi"} x`,
	} {
		if _, ok := decodeMessageCommandFast([]byte(s)); ok {
			t.Errorf("fast path took %q", s)
		}
	}
	if _, err := DecodeClientFrame([]byte(`{"type":"message","msg":"   "}`)); !errors.Is(err, ErrEmptyMessage) {
		t.Errorf("blank message: %v", err)
	}
}
