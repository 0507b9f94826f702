package store

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"chatbot/pkg/chat"
)

// These tests read the scripts in lua/ as text (no Redis): what Lua and Go must agree on, and
// the shape every script keeps (named arguments, one Go file that runs it).

// luaScripts is every file of lua/, by name.
func luaScripts(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("lua/*.lua")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scripts in lua/: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

// goSources is every Go file of the package but its tests, by name.
func goSources(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

// TestLuaSharedNames: every name a script shares with Go is declared once as
// `local NAME = 'value' -- chat.Constant` and equals that constant; the fields of every XADD,
// the type of every emit and the payload of every PUBLISH use those names, never a literal; and
// the notification emit publishes is the format chat.DecodeNotification reads.
func TestLuaSharedNames(t *testing.T) {
	goNames := map[string]string{
		"OutFieldType":        chat.OutFieldType,
		"OutFieldBody":        chat.OutFieldBody,
		"ReqFieldToken":       chat.ReqFieldToken,
		"ReqFieldSeq":         chat.ReqFieldSeq,
		"ReqFieldTraceparent": chat.ReqFieldTraceparent,
		"NotifyDeleted":       chat.NotifyDeleted,
		"FrameAck":            chat.FrameAck,
		"RoleHuman":           chat.RoleHuman,
		"RoleBot":             chat.RoleBot,
		"FrameDelta":          chat.FrameDelta,

		"RegenerationPrefix": chat.RegenerationPrefix,
	}
	decl := regexp.MustCompile(`(?m)^local (\w+) = '([^']*)' +-- chat\.(\w+)\b`)
	declared := map[string]string{} // Go constant -> file
	scripts := luaScripts(t)
	for name, src := range scripts {
		for _, m := range decl.FindAllStringSubmatch(src, -1) {
			want, ok := goNames[m[3]]
			switch {
			case !ok:
				t.Errorf("%s: %s names chat.%s, which this test does not check: add it to goNames", name, m[1], m[3])
			case m[2] != want:
				t.Errorf("%s: %s = '%s', but chat.%s is %q", name, m[1], m[2], m[3], want)
			}
			declared[m[3]] = name
		}
	}
	for c := range goNames {
		if declared[c] == "" {
			t.Errorf("no script declares chat.%s (local NAME = '...' -- chat.%s)", c, c)
		}
	}

	xadd := regexp.MustCompile(`redis\.p?call\('XADD', ([^\n]*)\)`)
	emit := regexp.MustCompile(`\bemit\('`)
	publish := regexp.MustCompile(`redis\.p?call\('PUBLISH', CHAN, ([^\n]*)\)`)
	const notification = `prev .. ' ' .. id .. ' ' .. typ .. ' ' .. body`
	publishes := 0
	for name, src := range scripts {
		for _, m := range xadd.FindAllStringSubmatch(src, -1) {
			_, fields, ok := strings.Cut(m[1], "'*', ")
			if !ok || strings.Contains(fields, "'") {
				t.Errorf("%s: XADD %s: its fields must come after '*' as shared names, not literals", name, m[1])
			}
		}
		if emit.MatchString(src) {
			t.Errorf("%s: emit with a literal type: declare it with the chat constant it equals", name)
		}
		for _, m := range publish.FindAllStringSubmatch(src, -1) {
			publishes++
			if m[1] != "DELETED" && m[1] != notification {
				t.Errorf("%s: PUBLISH %s: want DELETED or %s", name, m[1], notification)
			}
		}
	}
	if publishes != 2 {
		t.Errorf("%d PUBLISH calls on CHAN, want 2 (emit's and delete_session's): check them here", publishes)
	}
	if !strings.Contains(scripts["prelude.lua"], "\nlocal QUEUED = '"+LeaseQueued+"'\n") {
		t.Errorf("prelude.lua: QUEUED is not store.LeaseQueued (%q)", LeaseQueued)
	}
	if !strings.Contains(scripts["prelude.lua"], "\nlocal STREAMING, STORED = '"+deltasStreaming+"', '") {
		t.Errorf("prelude.lua: STREAMING is not deltasStreaming (%q, inspect.go)", deltasStreaming)
	}
	if !strings.Contains(scripts["prelude.lua"], "local prev = last or '-'\n") {
		t.Error("prelude.lua: emit's prev is no longer `last or '-'`: check chat.DecodeNotification reads it")
	}
	// The payloads emit builds, as Go reads them.
	for _, c := range []struct{ prev, wantPrev string }{{"-", ""}, {"1-0", "1-0"}} {
		payload := c.prev + " " + "2-0" + " " + chat.FrameDelta + " " + `{"text":"a b"}`
		n, ok := chat.DecodeNotification(payload)
		if !ok || n.Prev != c.wantPrev || n.ID != "2-0" || n.Type != chat.FrameDelta || string(n.Body) != `{"text":"a b"}` {
			t.Errorf("chat.DecodeNotification(%q) = %+v %v", payload, n, ok)
		}
	}
}

// TestLuaSessionFields: the scripts, and the Go that reads the session hash directly, use
// exactly the session hash fields of sessionFields, and docs/ARCHITECTURE.md's Redis layout
// lists exactly those.
func TestLuaSessionFields(t *testing.T) {
	used := map[string]bool{}
	field := func(where, f string) {
		if !slices.Contains(sessionFields, f) {
			t.Errorf("%s: session hash field %q is not in sessionFields (keys.go)", where, f)
		}
		used[f] = true
	}
	call := regexp.MustCompile(`(?:redis\.p?call\('H[A-Z]+', H\b|\bput\(\w+)([^\n]*)\)`)
	literal := regexp.MustCompile(`'(\w+)'`)
	for name, src := range luaScripts(t) {
		for _, m := range call.FindAllStringSubmatch(src, -1) {
			for _, l := range literal.FindAllStringSubmatch(m[1], -1) {
				field(name, l[1])
			}
		}
	}
	goCall := regexp.MustCompile(`\.Key\(s\.keys\.Session\([^)]*\)\)\.Field\(([^)]*)\)`)
	goLiteral := regexp.MustCompile(`"(\w+)"`)
	for f, src := range goSources(t) {
		for _, m := range goCall.FindAllStringSubmatch(src, -1) {
			for _, l := range goLiteral.FindAllStringSubmatch(m[1], -1) {
				field(f, l[1])
			}
		}
	}
	for _, f := range sessionFields {
		if !used[f] {
			t.Errorf("sessionFields lists %q, which no script uses", f)
		}
	}

	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `chat:\\{T\\}` \\| hash \\| (.*) \\|$").FindSubmatch(doc)
	if row == nil {
		t.Fatal("docs/ARCHITECTURE.md: no row | `chat:{T}` | hash | ... | in the Redis layout")
	}
	var listed []string // the backquoted names, but not those in parentheses (what a field holds)
	names := regexp.MustCompile(`\([^)]*\)`).ReplaceAll(row[1], nil)
	for _, m := range regexp.MustCompile("`(\\w+)`").FindAllSubmatch(names, -1) {
		listed = append(listed, string(m[1]))
	}
	if !slices.Equal(slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(sessionFields))) {
		t.Errorf("docs/ARCHITECTURE.md lists the session hash fields %v, want those of sessionFields %v", listed, sessionFields)
	}
}

// TestLuaArgumentsNamed: no script reads KEYS[n] or ARGV[n] in its body: each is a named local
// with a comment on the script's first lines, declared once, in order, with no gap. Session
// scripts get KEYS[1..7] and ARGV[1..3] from prelude.lua and number their own from there.
func TestLuaArgumentsNamed(t *testing.T) {
	decl := regexp.MustCompile(`^local \w+ = (?:tonumber\()?(KEYS|ARGV)\[(\d+)\]\)? +-- \S`)
	use := regexp.MustCompile(`\b(KEYS|ARGV)\[\d+\]`)
	for name, src := range luaScripts(t) {
		next := map[string]int{"KEYS": 1, "ARGV": 1}
		if name != "prelude.lua" && strings.Contains(src, "named in prelude.lua") {
			next = map[string]int{"KEYS": 5, "ARGV": 5}
		}
		body := false // past the header and the declarations
		for i, line := range strings.Split(src, "\n") {
			where := name + ":" + strconv.Itoa(i+1)
			if m := decl.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[2])
				switch {
				case body:
					t.Errorf("%s: %s[%d] is named after the script's code began: name it on the first lines", where, m[1], n)
				case n != next[m[1]]:
					t.Errorf("%s: %s[%d], want %s[%d] (in order, no gap or repeat)", where, m[1], n, m[1], next[m[1]])
				}
				next[m[1]] = n + 1
				continue
			}
			code, _, _ := strings.Cut(line, "--")
			code = strings.TrimSpace(code)
			if use.MatchString(code) {
				t.Errorf("%s: %q reads an argument by position: name it in a local on the first lines", where, code)
			}
			if code != "" && !strings.HasPrefix(code, "local ") {
				body = true
			}
		}
	}
}

// TestLuaScriptsNextToTheirGo: every script but prelude.lua is loaded by exactly one Go file
// (sessionScript or luaScript), which its header names, and that file handles every status
// word the script returns ({'word', ...}).
// libraries are the files of functions that scripts load before their own text (exec.go's
// sessionScript and luaScript), not scripts of their own.
var libraries = map[string]bool{"prelude.lua": true, "user_step.lua": true, "usage.lua": true, "lease.lua": true}

func TestLuaScriptsNextToTheirGo(t *testing.T) {
	loads := regexp.MustCompile(`(?:sessionScript|luaScript)\("([\w.]+)"[,)]`)
	loadedBy := map[string][]string{}
	goSrc := goSources(t)
	for f, src := range goSrc {
		for _, m := range loads.FindAllStringSubmatch(src, -1) {
			loadedBy[m[1]] = append(loadedBy[m[1]], f)
		}
	}
	scripts := luaScripts(t)
	for name := range loadedBy {
		if _, ok := scripts[name]; !ok {
			t.Errorf("%v load lua/%s, which does not exist", loadedBy[name], name)
		}
	}
	status := regexp.MustCompile(`return \{'(\w+)'`)
	for name, src := range scripts {
		if libraries[name] {
			continue
		}
		by := loadedBy[name]
		if len(by) != 1 {
			t.Errorf("lua/%s is loaded by %v, want exactly one Go file", name, by)
			continue
		}
		if first, _, _ := strings.Cut(src, "\n"); !strings.HasPrefix(first, "-- "+name+" (") || !strings.Contains(first, ", "+by[0]) {
			t.Errorf("lua/%s: first line %q: want \"-- %s (Store.Method, %s): what it does\"", name, first, name, by[0])
		}
		for _, m := range status.FindAllStringSubmatch(src, -1) {
			if !regexp.MustCompile(`case [^:\n]*"` + m[1] + `"`).MatchString(goSrc[by[0]]) {
				t.Errorf("lua/%s returns {'%s', ...}, which %s has no case for", name, m[1], by[0])
			}
		}
	}
}
