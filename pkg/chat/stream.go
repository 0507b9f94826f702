package chat

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Fields of a chat:{T}:out entry: the frame type and its JSON body without the offset (the
// entry's own ID is the offset).
const (
	OutFieldType = "t"
	OutFieldBody = "e"
)

// Fields of a chat:requests:{p} entry: which session has work, up to which sequence number,
// and the entry's format version (absent: 1); optionally the W3C traceparent of the span that
// queued it (only when serve traces: pkg/telemetry). An optional field that a worker may
// ignore leaves the format as it is: workers read the fields they know and skip the others.
const (
	ReqFieldToken       = "token"
	ReqFieldSeq         = "seq"
	ReqFieldVersion     = "v"
	ReqFieldTraceparent = "traceparent"
)

// RequestVersion is the format of the request entries this binary writes and reads. Entries of
// format 1 carry no ReqFieldVersion (every writer so far, the Lua scripts included); a change a
// worker of today could misread writes its number, and a worker that meets a newer one leaves
// it to a newer worker (rolling deploys: docs/DEPLOY.md).
const RequestVersion = 1

// Request is one entry of a request stream.
type Request struct {
	Token       string
	Seq         int64
	Traceparent string // "" for none
}

// DecodeRequest reads a request stream entry's fields: ErrNewerRequest for a format newer than
// RequestVersion, ErrBadRequest for what is not a request.
func DecodeRequest(fields map[string]string) (Request, error) {
	if v, ok := fields[ReqFieldVersion]; ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			return Request{}, ErrBadRequest
		case n > RequestVersion:
			return Request{}, ErrNewerRequest
		}
	}
	tok := fields[ReqFieldToken]
	if !ValidToken(tok) {
		return Request{}, ErrBadRequest
	}
	seq, err := strconv.ParseInt(fields[ReqFieldSeq], 10, 64)
	if err != nil || seq <= 0 {
		return Request{}, ErrBadRequest
	}
	return Request{Token: tok, Seq: seq, Traceparent: boundedTraceparent(fields[ReqFieldTraceparent])}, nil
}

// Notification is what a write to chat:{T}:out publishes on the session's channel: the entry's
// ID, the ID of the entry before it (empty for the first), and the entry. Deleted marks the
// notice that the session was deleted.
type Notification struct {
	Prev    string
	ID      string
	Type    string
	Body    []byte
	Deleted bool
}

// NotifyDeleted is the payload published when a session is deleted.
const NotifyDeleted = "deleted"

// DecodeNotification parses "prev id type body" (prev is "-" when there was none).
func DecodeNotification(payload string) (Notification, bool) {
	if payload == NotifyDeleted {
		return Notification{Deleted: true}, true
	}
	parts := strings.SplitN(payload, " ", 4)
	if len(parts) != 4 || parts[1] == "" {
		return Notification{}, false
	}
	prev := parts[0]
	if prev == "-" {
		prev = ""
	}
	return Notification{Prev: prev, ID: parts[1], Type: parts[2], Body: []byte(parts[3])}, true
}

// CompareIDs orders two Redis stream IDs ("ms-seq"); an empty ID is before every other.
func CompareIDs(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	switch {
	case am < bm:
		return -1
	case am > bm:
		return 1
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

// IDTime is the time a stream entry ID ("ms-seq") was made, its milliseconds part; the zero
// time when id is not an ID. The entries' IDs are Redis's clock: the time a request or an
// event was added (serve, worker and admin measure waits from it).
func IDTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func splitID(id string) (uint64, uint64) {
	if id == "" {
		return 0, 0
	}
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

// ValidID reports whether id is a stream ID "ms-seq" or "ms" (a resume point from a client)
// that has a next ID: Redis refuses to read after the last ID of the space
// (18446744073709551615-18446744073709551615), whose next would overflow.
func ValidID(id string) bool {
	if id == "" || len(id) > 41 {
		return false
	}
	ms, seq, hasSeq := strings.Cut(id, "-")
	m, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return false
	}
	if hasSeq {
		s, err := strconv.ParseUint(seq, 10, 64)
		if err != nil || (m == math.MaxUint64 && s == math.MaxUint64) {
			return false
		}
	}
	return true
}
