package chat_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"chatbot/pkg/chat"
)

// FuzzDecodeRequest: a request stream entry (what a worker reads; anyone who can write to Redis
// can put anything there) decodes only to a well-shaped token and a positive sequence number,
// and every well-shaped entry decodes.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(tok, "1", "", "")
	f.Add(tok, "1", chat.ReqFieldVersion, "1")
	f.Add(tok, "1", chat.ReqFieldVersion, "2")
	f.Fuzz(func(t *testing.T, token, seq, extraKey, extraValue string) {
		fields := map[string]string{chat.ReqFieldToken: token, chat.ReqFieldSeq: seq}
		if extraKey != chat.ReqFieldToken && extraKey != chat.ReqFieldSeq {
			fields[extraKey] = extraValue
		}
		r, err := chat.DecodeRequest(fields)
		n, perr := strconv.ParseInt(seq, 10, 64)
		wellShaped := chat.ValidToken(token) && perr == nil && n > 0
		if v, ok := fields[chat.ReqFieldVersion]; ok {
			// A format version: 1 (or less, as written) reads as today; above 1 is left alone.
			vn, verr := strconv.Atoi(v)
			if verr == nil && vn > chat.RequestVersion {
				if !errors.Is(err, chat.ErrNewerRequest) || r != (chat.Request{}) {
					t.Fatalf("version %q: DecodeRequest = %+v, %v, want ErrNewerRequest", v, r, err)
				}
				return
			}
			wellShaped = wellShaped && verr == nil && vn >= 1
		}
		if err != nil {
			if !errors.Is(err, chat.ErrBadRequest) || r != (chat.Request{}) {
				t.Fatalf("DecodeRequest(%q, %q) = %+v, %v", token, seq, r, err)
			}
			if wellShaped {
				t.Fatalf("well-shaped entry (%q, %q) refused: %v", token, seq, err)
			}
			return
		}
		if !wellShaped || r.Token != token || r.Seq != n {
			t.Fatalf("DecodeRequest(%q, %q) = %+v", token, seq, r)
		}
		// What a sender writes for r decodes to r.
		again, err := chat.DecodeRequest(map[string]string{chat.ReqFieldToken: r.Token, chat.ReqFieldSeq: strconv.FormatInt(r.Seq, 10)})
		if err != nil || again != r {
			t.Fatalf("%+v re-encoded decodes to %+v, %v", r, again, err)
		}
	})
}

// FuzzDecodeNotification: a pub/sub payload decodes to an event with an ID and space-free
// prev/ID/type, which encode back to the payload; "deleted" is the deletion notice only.
func FuzzDecodeNotification(f *testing.F) {
	f.Add("1-0 1-1 delta {\"text\":\"a b\"}")
	f.Fuzz(func(t *testing.T, payload string) {
		n, ok := chat.DecodeNotification(payload)
		if !ok {
			if n.Deleted || n.ID != "" || n.Body != nil {
				t.Fatalf("refused %q but returned %+v", payload, n)
			}
			return
		}
		if n.Deleted {
			if payload != chat.NotifyDeleted {
				t.Fatalf("%q decoded as the deletion notice", payload)
			}
			return
		}
		if n.ID == "" || strings.Contains(n.Prev, " ") || strings.Contains(n.ID, " ") || strings.Contains(n.Type, " ") {
			t.Fatalf("%q decoded to %+v", payload, n)
		}
		prev := n.Prev
		if prev == "" {
			prev = "-"
		}
		if enc := prev + " " + n.ID + " " + n.Type + " " + string(n.Body); enc != payload && !strings.HasPrefix(payload, " ") {
			t.Fatalf("%q decoded to %+v, which encodes as %q", payload, n, enc)
		}
	})
}

// FuzzCompareIDs: CompareIDs is a total order (reflexive, antisymmetric, transitive) that
// agrees with the numeric order of valid stream IDs.
func FuzzCompareIDs(f *testing.F) {
	f.Add("1-0", "1-1", "2-0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, ba := chat.CompareIDs(a, b), chat.CompareIDs(b, a)
		if chat.CompareIDs(a, a) != 0 || ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("CompareIDs(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
		if ab <= 0 && chat.CompareIDs(b, c) <= 0 && chat.CompareIDs(a, c) > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
		if chat.ValidID(a) && chat.ValidID(b) {
			am, as := parseID(a)
			bm, bs := parseID(b)
			want := 0
			switch {
			case am < bm || am == bm && as < bs:
				want = -1
			case am > bm || am == bm && as > bs:
				want = 1
			}
			if ab != want {
				t.Fatalf("CompareIDs(%q, %q) = %d, want %d", a, b, ab, want)
			}
		}
	})
}

func parseID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

// FuzzValidID: a resume point a client may send (?last_id=) is "ms" or "ms-seq" in digits,
// nothing that XRANGE would read as a special ID or a range.
func FuzzValidID(f *testing.F) {
	f.Add("1700000000000-0")
	f.Fuzz(func(t *testing.T, id string) {
		if !chat.ValidID(id) {
			return
		}
		ms, seq, hasSeq := strings.Cut(id, "-")
		if len(id) > 41 || !digits(ms) || hasSeq && !digits(seq) {
			t.Fatalf("ValidID(%q) = true", id)
		}
	})
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
