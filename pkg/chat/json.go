package chat

import (
	"bytes"
	"encoding/json"
)

// Marshal is json.Marshal without HTML escaping. What the project stores and sends is JSON
// read by JSON parsers, never pasted into HTML, so "<", ">" and "&" stay one byte each instead
// of six ("\u003c"): a message of N such characters costs Redis and the sockets about N bytes,
// not 6N.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
