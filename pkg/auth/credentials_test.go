package auth_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"chatbot/pkg/auth"
)

const jwtA, jwtB = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.c2ln"

func TestFromRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		auth   []string
		proto  []string
		socket bool
		want   string
		kind   error
		reason string
	}{
		{name: "header", auth: []string{"Bearer " + jwtA}, want: jwtA},
		{name: "scheme in any case, extra spaces", auth: []string{"  bearer   " + jwtA + " "}, want: jwtA},
		{name: "nothing", kind: auth.ErrMissing},
		{name: "Basic is not a token", auth: []string{"Basic dXNlcjpwYXNz"}, kind: auth.ErrMissing},
		{name: "Bearer alone", auth: []string{"Bearer"}, kind: auth.ErrMissing},
		{name: "two headers", auth: []string{"Bearer " + jwtA, "Bearer " + jwtB}, kind: auth.ErrInvalid, reason: auth.ReasonAmbiguous},
		{name: "not a JWT", auth: []string{"Bearer 0b5e6a1c-2f61-4f0b-9d44-1d2f3c4b5a69"}, kind: auth.ErrInvalid, reason: auth.ReasonMalformed},
		{name: "padding", auth: []string{"Bearer " + jwtA + "="}, kind: auth.ErrInvalid, reason: auth.ReasonMalformed},
		{name: "empty segment", auth: []string{"Bearer a..c"}, kind: auth.ErrInvalid, reason: auth.ReasonMalformed},
		{name: "four segments", auth: []string{"Bearer a.b.c.d"}, kind: auth.ErrInvalid, reason: auth.ReasonMalformed},
		{name: "empty signature is left to Verify", auth: []string{"Bearer a.b."}, want: "a.b."},
		{name: "too long", auth: []string{"Bearer a." + strings.Repeat("b", auth.MaxTokenBytes) + ".c"}, kind: auth.ErrInvalid, reason: auth.ReasonTooLong},
		{name: "subprotocol ignored on HTTP", proto: []string{"chatbot, bearer." + jwtA}, kind: auth.ErrMissing},
		{name: "subprotocol", proto: []string{"chatbot, bearer." + jwtA}, socket: true, want: jwtA},
		{name: "subprotocol first, tabs", proto: []string{"bearer." + jwtA + "\t,\tchatbot"}, socket: true, want: jwtA},
		{name: "subprotocol in a second header", proto: []string{"chatbot", "bearer." + jwtA}, socket: true, want: jwtA},
		{name: "chatbot alone", proto: []string{"chatbot"}, socket: true, kind: auth.ErrMissing},
		{name: "two bearer entries", proto: []string{"chatbot, bearer." + jwtA + ", bearer." + jwtB}, socket: true, kind: auth.ErrInvalid, reason: auth.ReasonAmbiguous},
		{name: "empty bearer entry", proto: []string{"chatbot, bearer."}, socket: true, kind: auth.ErrMissing},
		{name: "header on a socket", auth: []string{"Bearer " + jwtA}, socket: true, want: jwtA},
		{name: "header and the same subprotocol", auth: []string{"Bearer " + jwtA}, proto: []string{"chatbot, bearer." + jwtA}, socket: true, want: jwtA},
		{name: "header and another subprotocol", auth: []string{"Bearer " + jwtA}, proto: []string{"chatbot, bearer." + jwtB}, socket: true, kind: auth.ErrInvalid, reason: auth.ReasonAmbiguous},
		{name: "bad header, good subprotocol", auth: []string{"Bearer x"}, proto: []string{"chatbot, bearer." + jwtA}, socket: true, kind: auth.ErrInvalid, reason: auth.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.auth {
				h.Add("Authorization", v)
			}
			for _, v := range c.proto {
				h.Add("Sec-WebSocket-Protocol", v)
			}
			got, err := auth.FromRequest(h, c.socket)
			if c.kind == nil {
				if err != nil || got != c.want {
					t.Fatalf("got %q, %v; want %q", got, err, c.want)
				}
				return
			}
			var e *auth.Error
			if !errors.As(err, &e) || !errors.Is(err, c.kind) || e.Reason != c.reason || got != "" {
				t.Fatalf("got %q, %v; want %v %q", got, err, c.kind, c.reason)
			}
		})
	}
}

// FuzzFromRequest: whatever the headers, the parser returns either a token of JWS shape that
// is one of the header's entries, or an *auth.Error; it never panics.
func FuzzFromRequest(f *testing.F) {
	f.Add("Bearer "+jwtA, "chatbot, bearer."+jwtA, true)
	f.Add("bearer  "+jwtB, "", false)
	f.Add("", "bearer."+jwtA+",bearer."+jwtB, true)
	f.Add("Basic x", "chatbot,, ,bearer.a.b.", true)
	f.Add("Bearer a.b.c.d", "bearer.\x00.b.c", true)
	f.Fuzz(func(t *testing.T, authorization, protocols string, socket bool) {
		h := http.Header{}
		if authorization != "" {
			h.Set("Authorization", authorization)
		}
		if protocols != "" {
			h.Set("Sec-WebSocket-Protocol", protocols)
		}
		got, err := auth.FromRequest(h, socket)
		if err != nil {
			var e *auth.Error
			if !errors.As(err, &e) || got != "" {
				t.Fatalf("got %q, %v: want an *auth.Error and no token", got, err)
			}
			return
		}
		if len(got) == 0 || len(got) > auth.MaxTokenBytes || strings.Count(got, ".") != 2 {
			t.Fatalf("accepted %q", got)
		}
		for _, c := range got {
			if !(c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				t.Fatalf("accepted %q: byte %q outside base64url", got, c)
			}
		}
		if !strings.Contains(authorization, got) && !(socket && strings.Contains(protocols, auth.SubprotocolPrefix+got)) {
			t.Fatalf("accepted %q, which neither header carries", got)
		}
	})
}
