package consistency_test

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"chatbot/cmd"
)

// docCommand finds a chatbot command line inside a shell line: the binary (chatbot,
// bin/chatbot, /chatbot) or the image (chatbot:TAG, after docker run) followed by a
// subcommand and its arguments, up to a shell operator or a comment.
var docCommand = regexp.MustCompile(`(?:^|[\s(])(?:bin/|/)?chatbot(?::[\w.-]+)? ([a-z][\w-]*(?: [^|&;#<>()\\]*)?)`)

// TestDocsCommandsExist: every chatbot command line in the code blocks of README.md and
// docs/*.md names a real command with flags it has, so the docs cannot drift from the binary.
func TestDocsCommandsExist(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	checked := 0
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		inBlock := false
		for i, line := range strings.Split(string(repoFile(t, filepath.ToSlash(rel))), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inBlock = !inBlock
				continue
			}
			line = strings.TrimSpace(line)
			// Redis commands (ACL SETUSER chatbot ...) name the ACL user, not the binary.
			if !inBlock || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "ACL ") {
				continue
			}
			for _, m := range docCommand.FindAllStringSubmatch(line, -1) {
				args := shellWords(strings.TrimSpace(m[1]))
				where := rel + ":" + strconv.Itoa(i+1)
				tree := cmd.NewRootCommand()
				sub, rest, err := tree.Find(args)
				if err != nil || sub == tree {
					t.Errorf("%s: %q: %q is not a chatbot command", where, m[0], args[0])
					continue
				}
				if err := sub.ParseFlags(rest); err != nil {
					t.Errorf("%s: %q: %v", where, m[0], err)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no chatbot command in the docs' code blocks")
	}
}
