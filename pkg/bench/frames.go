package bench

import "encoding/json"

// frame is what the bench reads of a server frame (docs/PROTOCOL.md, WebSocket /chat).
type frame struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	ReplyTo  string `json:"reply_to"`
	Code     string `json:"code"`
	Offset   string `json:"offset"`
	Msg      string `json:"msg"`
}

func decodeFrame(data []byte) (frame, bool) {
	var f frame
	if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
		return f, false
	}
	return f, true
}

// endsTurn reports whether f is the end of a reply: its message, or the error event a
// worker writes in its place (it has an offset, unlike errors about a client frame).
func (f frame) endsTurn() bool {
	return f.Type == "message" || (f.Type == "error" && f.Offset != "" && f.ReplyTo != "")
}

// messageCommand is the JSON command that sends a message with a client_id; quoted is the
// text as a JSON string.
func messageCommand(quoted []byte, clientID string) []byte {
	b := make([]byte, 0, len(quoted)+len(clientID)+48)
	b = append(b, `{"type":"message","msg":`...)
	b = append(b, quoted...)
	b = append(b, `,"client_id":"`...)
	b = append(b, clientID...)
	b = append(b, `"}`...)
	return b
}
