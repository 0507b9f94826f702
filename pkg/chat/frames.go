package chat

import (
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Frame types, server to client.
const (
	FrameMessage = "message"
	FrameAck     = "ack"
	FrameDelta   = "delta"
	FrameError   = "error"
)

// Event is a server-to-client frame. Events a worker or the send step writes to chat:{T}:out
// carry the stream ID they got as Offset; error frames about one client frame have none.
type Event struct {
	Type      string     `json:"type"`
	ID        string     `json:"id,omitempty"`
	Role      string     `json:"role,omitempty"`
	Msg       string     `json:"msg,omitempty"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
	ReplyTo   string     `json:"reply_to,omitempty"`
	ClientID  string     `json:"client_id,omitempty"`
	Text      string     `json:"text,omitempty"`
	Code      string     `json:"code,omitempty"`
	Stopped   bool       `json:"stopped,omitempty"`
	Restart   bool       `json:"restart,omitempty"`
	// Replaces is set on the ack of a regenerate command and on the message event of the
	// reply it produced: the id of the reply the new one replaces in the history ("" when the
	// message answered again had none: its turn failed).
	Replaces string     `json:"replaces,omitempty"`
	Usage    *Usage     `json:"usage,omitempty"`
	RetryAt  *time.Time `json:"retry_at,omitempty"`
	// Traceparent is set on a turn's delta and message events when the worker traces: the
	// W3C traceparent of the turn, so that serve's delivery joins its trace (and a client
	// can find the trace of a reply).
	Traceparent string `json:"traceparent,omitempty"`
	Offset      string `json:"offset,omitempty"`
}

// MarshalJSON writes the frame, with "msg" always present on message and error frames (a
// stopped reply may be empty, and tutorial clients read msg), and omitted on the others;
// without HTML escaping (Marshal), which json.Marshal of an Event would add back.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	if e.Msg == "" && (e.Type == FrameMessage || e.Type == FrameError) {
		return Marshal(struct {
			plain
			Msg string `json:"msg"`
		}{plain(e), ""})
	}
	return Marshal(plain(e))
}

// MessageEvent is the frame of a finished reply.
func MessageEvent(m Message) Event {
	ts := m.Timestamp
	return Event{Type: FrameMessage, ID: m.ID, Role: m.Role, Msg: m.Msg, Timestamp: &ts, ReplyTo: m.ReplyTo, Stopped: m.Stopped, Usage: m.Usage}
}

// QuotaEvent is the quota error frame: the day's token budget is spent until retryAt.
func QuotaEvent(retryAt time.Time, replyTo string) Event {
	ev := ErrorEvent(CodeQuota, "Your token budget for today is spent: try again after "+retryAt.UTC().Format(time.RFC3339), replyTo)
	at := retryAt.UTC()
	ev.RetryAt = &at
	return ev
}

// ErrorEvent is an error frame.
func ErrorEvent(code, msg, replyTo string) Event {
	return Event{Type: FrameError, Code: code, Msg: msg, ReplyTo: replyTo}
}

// Streaming reports whether only ?stream=1 sockets get frames of this type.
func Streaming(frameType string) bool {
	return frameType == FrameAck || frameType == FrameDelta
}

// WithOffset returns the JSON object body (as written to the stream, without offset) with
// "offset":id added, without decoding it.
func WithOffset(body []byte, id string) []byte {
	if len(body) < 2 || body[len(body)-1] != '}' {
		return body
	}
	out := make([]byte, 0, len(body)+len(id)+12)
	out = append(out, body[:len(body)-1]...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"offset":"`...)
	out = append(out, id...)
	out = append(out, `"}`...)
	return out
}

// Client-frame commands.
const (
	CmdMessage    = "message"
	CmdStop       = "stop"
	CmdRegenerate = "regenerate"
)

// MaxClientIDBytes bounds a client_id.
const MaxClientIDBytes = 128

// Command is a decoded client frame.
type Command struct {
	Type     string `json:"type"`
	Msg      string `json:"msg"`
	ClientID string `json:"client_id"`
	// Traceparent is the W3C traceparent of the client's span that sent a message (optional;
	// one longer than MaxTraceparentBytes is ignored): the message's trace joins it. It is
	// used for nothing else.
	Traceparent string `json:"traceparent"`
}

// MaxTraceparentBytes bounds a traceparent a client sends (on a message frame or the
// upgrade): a W3C traceparent of version 00 has 55.
const MaxTraceparentBytes = 128

// boundedTraceparent is tp, or "" when it is longer than MaxTraceparentBytes: a trace is
// never worth refusing a message for.
func boundedTraceparent(tp string) string {
	if len(tp) > MaxTraceparentBytes {
		return ""
	}
	return tp
}

// maxJSONDepth bounds how deeply a JSON command may nest.
const maxJSONDepth = 8

// DecodeClientFrame reads one text frame from a client. Text that does not start with '{'
// (after leading white space) is a plain user message, as the tutorial's clients send. A JSON
// object is a command: message (msg, client_id), stop, or regenerate (client_id). The message
// text is returned as sent; a message that is blank gives ErrEmptyMessage.
func DecodeClientFrame(data []byte) (Command, error) {
	if c, ok := decodeMessageCommandFast(data); ok {
		return c, nil
	}
	return decodeClientFrame(data)
}

// decodeMessageCommandFast reads the command clients send for every message,
// {"type":"message","msg":S[,"client_id":S][,"traceparent":S]}, when no S holds a
// backslash, a control character or invalid UTF-8, the client_id is within its limit and the
// message is not blank: what decodeClientFrame would return, without encoding/json. ok is
// false for anything else.
func decodeMessageCommandFast(data []byte) (c Command, ok bool) {
	p := fastParser{data: data}
	if !p.lit(`{"type":"message","msg":`) {
		return c, false
	}
	if c.Msg, ok = p.str(); !ok {
		return c, false
	}
	if p.lit(`,"client_id":`) {
		if c.ClientID, ok = p.str(); !ok || len(c.ClientID) > MaxClientIDBytes {
			return c, false
		}
	}
	if p.lit(`,"traceparent":`) {
		if c.Traceparent, ok = p.str(); !ok {
			return c, false
		}
		c.Traceparent = boundedTraceparent(c.Traceparent)
	}
	if !p.lit("}") || p.i != len(data) || strings.TrimSpace(c.Msg) == "" {
		return c, false
	}
	c.Type = CmdMessage
	return c, true
}

func decodeClientFrame(data []byte) (Command, error) {
	trimmed := strings.TrimSpace(string(data))
	if !utf8.Valid(data) {
		return Command{}, errBad("frame is not valid UTF-8")
	}
	if !strings.HasPrefix(trimmed, "{") {
		if trimmed == "" {
			return Command{}, ErrEmptyMessage
		}
		return Command{Type: CmdMessage, Msg: string(data)}, nil
	}
	if depth(trimmed) > maxJSONDepth {
		return Command{}, errBad("JSON nested too deeply")
	}
	var c Command
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, errBad("want {\"type\":\"message\",\"msg\":\"...\"}, {\"type\":\"stop\"} or {\"type\":\"regenerate\"}")
	}
	// dec.More() would miss a stray '}' or ']': only the end of input may follow.
	if _, err := dec.Token(); err != io.EOF {
		return Command{}, errBad("trailing data after the JSON object")
	}
	c.Traceparent = boundedTraceparent(c.Traceparent)
	switch c.Type {
	case CmdMessage:
		if len(c.ClientID) > MaxClientIDBytes {
			return Command{}, errBad("client_id longer than 128 bytes")
		}
		if strings.TrimSpace(c.Msg) == "" {
			return Command{}, ErrEmptyMessage
		}
		return c, nil
	case CmdStop:
		return Command{Type: CmdStop}, nil
	case CmdRegenerate:
		if len(c.ClientID) > MaxClientIDBytes {
			return Command{}, errBad("client_id longer than 128 bytes")
		}
		if c.Msg != "" {
			return Command{}, errBad("regenerate takes no msg: it answers the last message again")
		}
		return Command{Type: CmdRegenerate, ClientID: c.ClientID, Traceparent: c.Traceparent}, nil
	default:
		return Command{}, errBad("unknown type: want message, stop or regenerate")
	}
}

type badFrame struct{ why string }

func (e badFrame) Error() string        { return "malformed command: " + e.why }
func (e badFrame) Is(target error) bool { return target == ErrBadFrame }

func errBad(why string) error { return badFrame{why} }

// depth is the deepest nesting of objects and arrays in s, ignoring brackets inside strings.
func depth(s string) int {
	d, maxD, inStr, esc := 0, 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			if d > maxD {
				maxD = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return maxD
}
