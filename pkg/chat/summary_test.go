package chat_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"chatbot/pkg/chat"
)

func TestTitle(t *testing.T) {
	long := strings.Repeat("é", 100)
	for in, want := range map[string]string{
		"hello":                        "hello",
		"  two\n\nlines\t here  ":      "two lines here",
		long:                           long[:2*chat.MaxTitleChars],
		strings.Repeat("a", 79) + " b": strings.Repeat("a", 79),
		strings.Repeat("a", 78) + " b": strings.Repeat("a", 78) + " b",
		"bell\a and \x00 nul":          "bell and nul",
		"":                             "",
		" \n ":                         "",
	} {
		if got := chat.Title(in); got != want {
			t.Errorf("Title(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzTitle(f *testing.F) {
	f.Add("hello world")
	f.Add(strings.Repeat("日本語 ", 40))
	f.Fuzz(func(t *testing.T, msg string) {
		got := chat.Title(msg)
		if n := utf8.RuneCountInString(got); n > chat.MaxTitleChars {
			t.Fatalf("%d characters", n)
		}
		if got != strings.TrimSpace(got) || strings.Contains(got, "  ") || strings.ContainsAny(got, "\n\r\t") {
			t.Fatalf("untidy title %q", got)
		}
	})
}
