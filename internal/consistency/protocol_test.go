package consistency_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestProtocolListsEveryErrorCode: every error code of pkg/chat (the Code constants of
// errors.go) has its row in docs/PROTOCOL.md's table of error codes, and the table lists no
// code the server does not send.
func TestProtocolListsEveryErrorCode(t *testing.T) {
	t.Parallel()
	codes := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*Code\w+\s*=\s*"(\w+)"`).FindAllStringSubmatch(string(repoFile(t, "pkg/chat/errors.go")), -1) {
		codes[m[1]] = true
	}
	if len(codes) == 0 {
		t.Fatal("pkg/chat/errors.go: no Code constants found")
	}
	doc := string(repoFile(t, "docs/PROTOCOL.md"))
	start := strings.Index(doc, "| code | meaning |")
	if start < 0 {
		t.Fatal("docs/PROTOCOL.md: no table of error codes (| code | meaning | ...)")
	}
	rows := regexp.MustCompile("(?m)^\\| `(\\w+)` \\|").FindAllStringSubmatch(doc[start:strings.Index(doc[start:], "\n\n")+start], -1)
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r[1]] = true
		if !codes[r[1]] {
			t.Errorf("docs/PROTOCOL.md lists error code %q, which pkg/chat does not define", r[1])
		}
	}
	for c := range codes {
		if !listed[c] {
			t.Errorf("error code %q (pkg/chat/errors.go) has no row in docs/PROTOCOL.md's table of error codes", c)
		}
	}
}
