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
// [,"stopped":true]} where no S holds a backslash, a control character or invalid UTF-8.
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
	return m, p.lit("}") && p.i == len(p.data)
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

// str consumes a string and returns its text.
func (p *fastParser) str() (string, bool) {
	s, ok := p.raw()
	if !ok {
		return "", false
	}
	return string(s[1 : len(s)-1]), true
}
