package consistency_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line  int    // where it starts
	cmd   string // upper case: FROM, RUN, ...
	flags []string
	args  string // the rest, flags removed
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	ins        []instruction
}

// parseDockerfile reads the Dockerfile into its stages. It knows the little of the syntax the
// file uses: comments, backslash continuations, --flags before the arguments.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	var (
		stages []stage
		cur    *instruction
		text   string
	)
	flush := func() {
		if cur == nil {
			return
		}
		fields := strings.Fields(text)
		cur.cmd = strings.ToUpper(fields[0])
		rest := fields[1:]
		for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
			cur.flags = append(cur.flags, rest[0])
			rest = rest[1:]
		}
		cur.args = strings.Join(rest, " ")
		if cur.cmd == "FROM" {
			st := stage{from: rest[0]}
			if len(rest) == 3 && strings.EqualFold(rest[1], "AS") {
				st.name = rest[2]
			}
			stages = append(stages, st)
		} else if len(stages) == 0 {
			t.Fatalf("Dockerfile:%d: %s before FROM", cur.line, cur.cmd)
		} else {
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, *cur)
		}
		cur, text = nil, ""
	}
	for i, line := range strings.Split(string(repoFile(t, "Dockerfile")), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		if cur == nil {
			cur = &instruction{line: i + 1}
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			text += body + " "
			continue
		}
		text += trimmed
		flush()
	}
	flush()
	return stages
}

// find returns the stage's instructions of one kind.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument such as ["/chatbot"].
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		t.Fatalf("Dockerfile:%d: %s %s: want the exec form [\"...\"]: %v", in.line, in.cmd, in.args, err)
	}
	return argv
}

func TestDockerfileStages(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t)
	if len(stages) != 2 {
		t.Fatalf("want a builder and a runtime stage, got %d stages", len(stages))
	}
	build, final := stages[0], stages[1]
	// The builder's Go is go.mod's minor version (its tag follows the latest patch).
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(repoFile(t, "go.mod"))
	if goLine == nil || build.from != "golang:"+string(goLine[1]) {
		t.Errorf("builder FROM %s, want golang:%s (go.mod's Go)", build.from, goLine[1])
	}
	if final.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime FROM %s, want gcr.io/distroless/static-debian12:nonroot", final.from)
	}
	// The module and build caches survive between builds.
	var mounts []string
	for _, run := range build.find("RUN") {
		mounts = append(mounts, run.flags...)
	}
	for _, target := range []string{"/go/pkg/mod", "/root/.cache/go-build"} {
		if !slices.Contains(mounts, "--mount=type=cache,target="+target) {
			t.Errorf("builder has no cache mount for %s: %v", target, mounts)
		}
	}
	// The runtime stage holds the one binary, run as the entrypoint of every role.
	copies := final.find("COPY")
	if len(copies) != 1 || !slices.Contains(copies[0].flags, "--from="+build.name) || !strings.HasSuffix(copies[0].args, " /chatbot") {
		t.Errorf("runtime stage: want one COPY --from=%s ... /chatbot, got %+v", build.name, copies)
	}
	if ep := final.find("ENTRYPOINT"); len(ep) != 1 || strings.Join(execForm(t, ep[0]), " ") != "/chatbot" {
		t.Errorf(`want ENTRYPOINT ["/chatbot"], got %+v`, ep)
	}
	cmds := final.find("CMD")
	if len(cmds) != 1 {
		t.Fatalf("want one CMD, got %+v", cmds)
	}
	container{where: "Dockerfile CMD", args: execForm(t, cmds[0])}.run(t)
}

func TestDockerfileExposesServerPort(t *testing.T) {
	t.Parallel()
	final := parseDockerfile(t)[1]
	_, cfg := container{where: "Dockerfile CMD", args: execForm(t, final.find("CMD")[0])}.run(t)
	expose := final.find("EXPOSE")
	if len(expose) != 1 || expose[0].args != port(t, cfg.Server.Addr) {
		t.Errorf("EXPOSE %+v, want server.addr's port %s", expose, port(t, cfg.Server.Addr))
	}
}

// dockerUser is the runtime stage's USER as numbers: runAsNonRoot in Kubernetes can only check
// a numeric user.
func dockerUser(t *testing.T) (uid, gid int) {
	t.Helper()
	users := parseDockerfile(t)[1].find("USER")
	if len(users) != 1 {
		t.Fatalf("want one USER in the runtime stage, got %+v", users)
	}
	u, g, _ := strings.Cut(users[0].args, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil || uid == 0 || gid == 0 {
		t.Fatalf("USER %s: want numeric non-root uid:gid", users[0].args)
	}
	return uid, gid
}

func TestDockerfileUser(t *testing.T) {
	t.Parallel()
	dockerUser(t)
}

var secretish = regexp.MustCompile(`(?i)api_?key|password|secret|token|credential`)

// TestDockerfileNoSecrets: no ENV or ARG carries anything secret into an image layer.
func TestDockerfileNoSecrets(t *testing.T) {
	t.Parallel()
	for _, st := range parseDockerfile(t) {
		for _, in := range st.ins {
			if (in.cmd == "ENV" || in.cmd == "ARG") && secretish.MatchString(in.args) {
				t.Errorf("Dockerfile:%d: %s %s puts a secret into the image", in.line, in.cmd, in.args)
			}
		}
	}
}
