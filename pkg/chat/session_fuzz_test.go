package chat_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"chatbot/pkg/chat"

	"github.com/google/uuid"
)

// FuzzValidName: a name is accepted exactly when, trimmed, it is 1 to 100 characters of valid
// UTF-8 without control or invisible format characters (but the zero-width joiner), with one
// visible character at least; the result is the trimmed name and is itself valid.
func FuzzValidName(f *testing.F) {
	f.Add(" Ada ")
	f.Add("\u200b")                     // zero-width space: looks blank
	f.Add("ab\u202ecd")                 // bidi override: spoofs the text around it
	f.Add("\U0001F468\u200d\U0001F469") // an emoji sequence with a joiner is fine
	f.Add("\u0085x")                    // NEL, a C1 control
	f.Fuzz(func(t *testing.T, name string) {
		got, ok := chat.ValidName(name)
		trimmed := strings.TrimSpace(name)
		want := trimmed != "" && utf8.ValidString(trimmed) && utf8.RuneCountInString(trimmed) <= chat.MaxNameChars &&
			!strings.ContainsFunc(trimmed, func(r rune) bool {
				return unicode.Is(unicode.Cc, r) || (unicode.Is(unicode.Cf, r) && r != '\u200d')
			}) &&
			strings.ContainsFunc(trimmed, func(r rune) bool { return r != '\u200d' && unicode.IsGraphic(r) && !unicode.IsSpace(r) })
		if ok != want {
			t.Fatalf("ValidName(%q) = %v, want %v", name, ok, want)
		}
		if !ok {
			if got != "" {
				t.Fatalf("refused %q but returned %q", name, got)
			}
			return
		}
		if got != trimmed {
			t.Fatalf("ValidName(%q) = %q, want %q", name, got, trimmed)
		}
		if again, ok := chat.ValidName(got); !ok || again != got {
			t.Fatalf("ValidName(%q) = %q, %v: a valid name must stay valid", got, again, ok)
		}
	})
}

// FuzzValidToken: a token is accepted exactly when it is a UUID in canonical form (36
// characters, lower-case hex and dashes), so only such strings ever reach a Redis key name.
func FuzzValidToken(f *testing.F) {
	f.Add("0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0e")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := uuid.Parse(s)
		want := err == nil && u.String() == s
		if got := chat.ValidToken(s); got != want {
			t.Fatalf("ValidToken(%q) = %v, want %v", s, got, want)
		}
		if want && strings.ContainsAny(s, "{}:*?[] \r\n") {
			t.Fatalf("accepted %q, which could change a key name's meaning", s)
		}
	})
}
