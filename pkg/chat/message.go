package chat

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// DecodeMessage decodes a Message from its JSON, as kept in the history and pending lists.
// It gives exactly what json.Unmarshal gives, but for a pending Regeneration, which is no
// Message: ErrRegeneration. The messages a worker reads for every turn were written by
// json.Marshal, so their shape is known: fields in declaration order, no white space, strings
// without escapes for most text. Those are read directly (a tenth of the time of
// encoding/json); anything else goes through json.Unmarshal.
func DecodeMessage(data []byte) (Message, error) {
	if m, ok := decodeMessageFast(data); ok {
		return m, nil
	}
	if IsRegeneration(data) {
		return Message{}, ErrRegeneration
	}
	var m Message
	err := json.Unmarshal(data, &m)
	return m, err
}

// decodeMessageFast reads {"id":S,"role":S,"msg":S,"timestamp":S[,"reply_to":S][,"client_id":S]
// [,"stopped":true][,"usage":{"prompt_tokens":N,"completion_tokens":N[,"estimated":true]}]
// [,"traceparent":S]} where no S holds a backslash, a control character or invalid UTF-8.
// ok is false for anything else.
func decodeMessageFast(data []byte) (m Message, ok bool) {
	p := fastParser{data: data}
	if !p.lit(`{"id":`) {
		return m, false
	}
	m.ID, ok = p.str()
	if !ok || !p.lit(`,"role":`) {
		return m, false
	}
	if m.Role, ok = p.str(); !ok || !p.lit(`,"msg":`) {
		return m, false
	}
	if m.Msg, ok = p.str(); !ok || !p.lit(`,"timestamp":`) {
		return m, false
	}
	ts, ok := p.raw()
	if !ok || m.Timestamp.UnmarshalJSON(ts) != nil {
		return m, false
	}
	if p.lit(`,"reply_to":`) {
		if m.ReplyTo, ok = p.str(); !ok {
			return m, false
		}
	}
	if p.lit(`,"client_id":`) {
		if m.ClientID, ok = p.str(); !ok {
			return m, false
		}
	}
	if p.lit(`,"stopped":true`) {
		m.Stopped = true
	}
	if p.lit(`,"usage":{"prompt_tokens":`) {
		var u Usage
		if u.PromptTokens, ok = p.uint(); !ok || !p.lit(`,"completion_tokens":`) {
			return m, false
		}
		if u.CompletionTokens, ok = p.uint(); !ok {
			return m, false
		}
		u.Estimated = p.lit(`,"estimated":true`)
		if !p.lit("}") {
			return m, false
		}
		m.Usage = &u
	}
	if p.lit(`,"traceparent":`) {
		if m.Traceparent, ok = p.str(); !ok {
			return m, false
		}
	}
	return m, p.lit("}") && p.i == len(p.data)
}

// WithoutTraceparent is a message's JSON as chat.Marshal wrote it, without the traceparent
// it ends with (what moves to the history: the trace was the queueing's only); raw when it
// has none.
func WithoutTraceparent(raw, traceparent string) string {
	if traceparent == "" {
		return raw
	}
	suffix := `,"traceparent":"` + traceparent + `"}`
	if len(raw) > len(suffix) && raw[len(raw)-len(suffix):] == suffix {
		return raw[:len(raw)-len(suffix)] + "}"
	}
	return raw
}

type fastParser struct {
	data []byte
	i    int
}

// lit consumes s if the input continues with it.
func (p *fastParser) lit(s string) bool {
	if len(p.data)-p.i < len(s) || string(p.data[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// raw consumes a string and returns it with its quotes.
func (p *fastParser) raw() ([]byte, bool) {
	if p.i >= len(p.data) || p.data[p.i] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(p.data[p.i+1:], '"')
	if end < 0 {
		return nil, false
	}
	s := p.data[p.i : p.i+end+2]
	for _, c := range s[1 : len(s)-1] {
		if c < 0x20 || c == '\\' {
			return nil, false
		}
	}
	if !utf8.Valid(s) {
		return nil, false
	}
	p.i += end + 2
	return s, true
}

// uint consumes a non-negative integer of at most 18 digits without leading zeros.
func (p *fastParser) uint() (int64, bool) {
	start := p.i
	var n int64
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' && p.i-start < 18 {
		n = n*10 + int64(p.data[p.i]-'0')
		p.i++
	}
	if p.i == start || (p.data[start] == '0' && p.i-start > 1) || (p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9') {
		return 0, false
	}
	return n, true
}

// str consumes a string and returns its text.
func (p *fastParser) str() (string, bool) {
	s, ok := p.raw()
	if !ok {
		return "", false
	}
	return string(s[1 : len(s)-1]), true
}
