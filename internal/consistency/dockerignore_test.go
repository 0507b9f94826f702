package consistency_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ignoreRule is one line of .dockerignore.
type ignoreRule struct {
	pattern string
	re      *regexp.Regexp
	keep    bool // a "!pattern" line: put back what earlier lines excluded
}

// dockerignore reads .dockerignore with Docker's rules: patterns are relative to the context's
// top, "*" and "?" stay within one path element, "**" spans any number of them, a pattern
// that matches a directory excludes everything under it, and the last matching line decides.
func dockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	var rules []ignoreRule
	for _, line := range strings.Split(string(repoFile(t, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{pattern: line}
		if p, ok := strings.CutPrefix(line, "!"); ok {
			r.keep, line = true, p
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		r.re = regexp.MustCompile("^" + globRegexp(line) + "$")
		rules = append(rules, r)
	}
	return rules
}

func globRegexp(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			j := strings.IndexByte(glob[i:], ']')
			b.WriteString(glob[i : i+j+1])
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// excluded says whether .dockerignore keeps path (slash-separated, from the top) out of the
// build context.
func excluded(rules []ignoreRule, path string) bool {
	out := false
	for _, r := range rules {
		for p := path; p != "."; p = filepath.ToSlash(filepath.Dir(p)) {
			if r.re.MatchString(p) {
				out = !r.keep
				break
			}
		}
	}
	return out
}

// buildContext copies what `docker build .` would send (the tree less .dockerignore) to a
// temporary directory and returns it.
func buildContext(t *testing.T) string {
	t.Helper()
	rules := dockerignore(t)
	dir := t.TempDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if excluded(rules, rel) {
			if d.IsDir() && !anyKeep(rules) {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy the build context: %v", err)
	}
	return dir
}

func anyKeep(rules []ignoreRule) bool {
	for _, r := range rules {
		if r.keep {
			return true
		}
	}
	return false
}

// TestDockerignoreKeepsOutWhatItShould: history, local binaries, test files and anything that
// may hold a secret never reach the Docker daemon.
func TestDockerignoreKeepsOutWhatItShould(t *testing.T) {
	t.Parallel()
	rules := dockerignore(t)
	for _, path := range []string{
		".git/HEAD", "bin/chatbot", ".env", ".env.production", "tls/redis.pem",
		"pkg/store/store_test.go", "pkg/chat/testdata/fuzz/x", "deploy/kubernetes/secret.yaml",
	} {
		if !excluded(rules, path) {
			t.Errorf(".dockerignore lets %s into the build context", path)
		}
	}
	for _, path := range []string{"go.mod", "go.sum", "main.go", "cmd/root.go", "pkg/web/ui/index.html", "scripts/build.sh"} {
		if excluded(rules, path) {
			t.Errorf(".dockerignore keeps %s out of the build context; the build needs it", path)
		}
	}
}

// TestDockerignoreMatcher pins the pattern rules the other tests rely on.
func TestDockerignoreMatcher(t *testing.T) {
	t.Parallel()
	rules := func(lines ...string) []ignoreRule {
		var out []ignoreRule
		for _, l := range lines {
			r := ignoreRule{pattern: l}
			if p, ok := strings.CutPrefix(l, "!"); ok {
				r.keep, l = true, p
			}
			r.re = regexp.MustCompile("^" + globRegexp(l) + "$")
			out = append(out, r)
		}
		return out
	}
	for _, c := range []struct {
		rules []ignoreRule
		path  string
		want  bool
	}{
		{rules("bin"), "bin/chatbot", true},
		{rules("bin"), "cmd/bin", false},
		{rules("*.md"), "README.md", true},
		{rules("*.md"), "docs/DEPLOY.md", false},
		{rules("**/*_test.go"), "x_test.go", true},
		{rules("**/*_test.go"), "pkg/a/b/x_test.go", true},
		{rules("**/*_test.go"), "pkg/a/x.go", false},
		{rules("docs", "!docs/keep.md"), "docs/keep.md", false},
		{rules("docs", "!docs/keep.md"), "docs/other.md", true},
		{rules(".env.*"), ".env.local", true},
	} {
		if got := excluded(c.rules, c.path); got != c.want {
			t.Errorf("%v excludes %s: %v, want %v", c.rules[0].pattern, c.path, got, c.want)
		}
	}
}
