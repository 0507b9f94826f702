package chat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/chat"
)

const tok = "0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0e"

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fields map[string]string
		want   chat.Request
		ok     bool
	}{
		{"valid", map[string]string{"token": tok, "seq": "7"}, chat.Request{Token: tok, Seq: 7}, true},
		{"extra fields ignored", map[string]string{"token": tok, "seq": "1", "x": "y"}, chat.Request{Token: tok, Seq: 1}, true},
		{"largest seq", map[string]string{"token": tok, "seq": "9223372036854775807"}, chat.Request{Token: tok, Seq: 1<<63 - 1}, true},
		{"no fields", nil, chat.Request{}, false},
		{"no token", map[string]string{"seq": "1"}, chat.Request{}, false},
		{"bad token", map[string]string{"token": "}x{", "seq": "1"}, chat.Request{}, false},
		{"upper-case token", map[string]string{"token": strings.ToUpper(tok), "seq": "1"}, chat.Request{}, false},
		{"no seq", map[string]string{"token": tok}, chat.Request{}, false},
		{"zero seq", map[string]string{"token": tok, "seq": "0"}, chat.Request{}, false},
		{"negative seq", map[string]string{"token": tok, "seq": "-3"}, chat.Request{}, false},
		{"seq not a number", map[string]string{"token": tok, "seq": "1x"}, chat.Request{}, false},
		{"seq overflows", map[string]string{"token": tok, "seq": "9223372036854775808"}, chat.Request{}, false},
	} {
		got, err := chat.DecodeRequest(tc.fields)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v (ok %v)", tc.name, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, chat.ErrBadRequest) {
			t.Errorf("%s: error %v is not ErrBadRequest", tc.name, err)
		}
	}
}

func TestDecodeNotification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		payload string
		want    chat.Notification
		ok      bool
	}{
		{"1-0 1-1 delta {\"text\":\"a b\"}", chat.Notification{Prev: "1-0", ID: "1-1", Type: "delta", Body: []byte(`{"text":"a b"}`)}, true},
		{"- 1-0 ack {}", chat.Notification{ID: "1-0", Type: "ack", Body: []byte(`{}`)}, true},
		{"deleted", chat.Notification{Deleted: true}, true},
		{"", chat.Notification{}, false},
		{"1-0 1-1 delta", chat.Notification{}, false},
		{"1-0  delta {}", chat.Notification{}, false},
		{"deleted ", chat.Notification{}, false},
	} {
		got, ok := chat.DecodeNotification(tc.payload)
		if ok != tc.ok || got.Prev != tc.want.Prev || got.ID != tc.want.ID || got.Type != tc.want.Type ||
			string(got.Body) != string(tc.want.Body) || got.Deleted != tc.want.Deleted {
			t.Errorf("%q: %+v %v, want %+v %v", tc.payload, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCompareIDs(t *testing.T) {
	t.Parallel()
	// In order: each is after all the ones before it.
	ordered := []string{"", "0-1", "1-0", "1-2", "1-10", "2-0", "10-0", "1700000000000-0", "1700000000000-1", "18446744073709551615-18446744073709551615"}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := chat.CompareIDs(a, b); got != want {
				t.Errorf("CompareIDs(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	// "" (nothing yet) is 0-0, before every real entry (Redis IDs start at 0-1).
	if chat.CompareIDs("", "0-0") != 0 {
		t.Error(`"" should compare as "0-0"`)
	}
	// A resume point without a sequence ("ms") is that millisecond's first entry.
	if chat.CompareIDs("5", "5-0") != 0 || chat.CompareIDs("5", "5-1") != -1 {
		t.Error(`"5" should compare as "5-0"`)
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"0-0": true, "1-0": true, "1700000000000-42": true, "5": true,
		"18446744073709551615-18446744073709551614": true, "18446744073709551615": true,
		"18446744073709551615-18446744073709551615": false, // no next ID: Redis refuses to read after it
		"": false, "-": false, "1-": false, "-1": false, "a-1": false, "1-a": false, "1-2-3": false,
		"+1-0": false, " 1-0": false, "1-0 ": false, "18446744073709551616-0": false,
		"$": false, ">": false, "+": false, "(1-0": false, strings.Repeat("1", 42): false,
	} {
		if got := chat.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

// IDTime reads the milliseconds of an entry ID; what is not an ID is the zero time.
func TestIDTime(t *testing.T) {
	for id, want := range map[string]time.Time{
		"1717171717171-3": time.UnixMilli(1717171717171),
		"1717171717171":   time.UnixMilli(1717171717171),
		"0-1":             time.UnixMilli(0),
		"":                {},
		"-1":              {},
		"abc-1":           {},
		"-5-1":            {},
	} {
		if got := chat.IDTime(id); !got.Equal(want) {
			t.Errorf("IDTime(%q) = %v, want %v", id, got, want)
		}
	}
}
