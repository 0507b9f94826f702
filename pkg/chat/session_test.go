package chat_test

import (
	"strings"
	"testing"

	"chatbot/pkg/chat"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"ops", "ops", true},
		{"  Ada Lovelace \n", "Ada Lovelace", true},
		{"名前", "名前", true},
		{strings.Repeat("é", 100), strings.Repeat("é", 100), true}, // 100 characters, 200 bytes
		{" " + strings.Repeat("x", 100) + " ", strings.Repeat("x", 100), true},
		{"", "", false},
		{" \t\n", "", false},
		{"\u00a0\u3000", "", false},
		{strings.Repeat("x", 101), "", false},
		{"a\x00b", "", false},
		{"a\x1bb", "", false},
		{"a\x7fb", "", false},
		{"a\nb", "", false},
		{"caf\xe9", "", false},
		{"\u200b", "", false},       // zero-width space alone looks blank
		{"\u200b\u200d", "", false}, // nothing visible
		{"ab\u202ecd", "", false},   // bidi override
		{"a\u2066b", "", false},     // bidi isolate
		{"a\u0085b", "", false},     // C1 control
		{"\U0001F469\u200d\U0001F4BB", "\U0001F469\u200d\U0001F4BB", true}, // emoji with a joiner
		{"\u2764\ufe0f", "\u2764\ufe0f", true},                             // emoji with a variation selector
		{"\ufe0f", "", false},                                              // a variation selector alone
		// Invisible code points (default-ignorable, separators) are refused, alone or not.
		{"\u3164", "", false}, {"a\u3164", "", false}, // Hangul filler
		{"\u115f", "", false}, {"\u1160b", "", false}, // Hangul choseong and jungseong fillers
		{"\uffa0", "", false}, {"x\uffa0y", "", false}, // halfwidth Hangul filler
		{"a\u034fb", "", false},                          // combining grapheme joiner
		{"a\u2028b", "", false}, {"a\u2029b", "", false}, // line and paragraph separators
		{"a\u17b4b", "", false}, {"a\u00adb", "", false}, // Khmer vowel inherent, soft hyphen
	} {
		got, ok := chat.ValidName(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ValidName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	for tok, want := range map[string]bool{
		"0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0e":          true,
		"00000000-0000-0000-0000-000000000000":          true,
		"0B6F5C3E-8D1A-4F7B-9C2E-5A4D3B2C1F0E":          false, // canonical form is lower case
		"0b6f5c3e8d1a4f7b9c2e5a4d3b2c1f0e":              false,
		"{0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0e}":        false,
		"urn:uuid:0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0e": false,
		"0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0":           false,
		"0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0e0":         false,
		"0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f0g":          false,
		"0b6f5c3e_8d1a-4f7b-9c2e-5a4d3b2c1f0e":          false,
		"0b6f5c3e-8d1a-4f7b-9c2e-5a4d3b2c1f}{":          false,
		"":                                              false,
	} {
		if got := chat.ValidToken(tok); got != want {
			t.Errorf("ValidToken(%q) = %v, want %v", tok, got, want)
		}
	}
}
