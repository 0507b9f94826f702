package consistency_test

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shellWords splits a simple shell command line: words, "double" and 'single' quotes.
func shellWords(line string) []string {
	var (
		words []string
		cur   strings.Builder
		quote rune
		in    bool
	)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// splitEnv separates leading NAME=value words from the command.
func splitEnv(words []string) (env map[string]string, argv []string) {
	env = map[string]string{}
	for i, w := range words {
		name, value, ok := strings.Cut(w, "=")
		if !ok || name == "" || strings.ContainsAny(name, "/-.$") {
			return env, words[i:]
		}
		env[name] = value
	}
	return env, nil
}

// dockerBuild is the Dockerfile's build command (the RUN of the builder that runs
// scripts/build.sh).
func dockerBuild(t *testing.T) (env map[string]string, argv []string) {
	t.Helper()
	for _, run := range parseDockerfile(t)[0].find("RUN") {
		if strings.Contains(run.args, "scripts/build.sh") {
			return splitEnv(shellWords(run.args))
		}
	}
	t.Fatal("the Dockerfile's builder has no RUN of scripts/build.sh")
	return nil, nil
}

// TestBuildCommandIsMakeBuild: the image is built by the command `make build` runs.
func TestBuildCommandIsMakeBuild(t *testing.T) {
	t.Parallel()
	c := exec.Command("make", "-s", "-n", "build", "VERSION=v9.9.9")
	c.Dir = root
	out, err := c.Output()
	if err != nil {
		t.Fatalf("make -n build: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("make build runs %d commands, want one (scripts/build.sh):\n%s", len(lines), out)
	}
	makeEnv, makeArgv := splitEnv(shellWords(lines[0]))
	dockerEnv, dockerArgv := dockerBuild(t)
	if len(makeArgv) != 3 || len(dockerArgv) != 3 || strings.Join(makeArgv[:2], " ") != strings.Join(dockerArgv[:2], " ") ||
		makeArgv[1] != "scripts/build.sh" {
		t.Fatalf("make build runs %q, the Dockerfile %q: want both `bash scripts/build.sh OUT`", makeArgv, dockerArgv)
	}
	if makeEnv["VERSION"] != "v9.9.9" || dockerEnv["VERSION"] != "$VERSION" {
		t.Errorf("the version is not passed on: make %v, Dockerfile %v", makeEnv, dockerEnv)
	}
	copies := parseDockerfile(t)[1].find("COPY")
	if len(copies) != 1 || strings.Fields(copies[0].args)[0] != dockerArgv[2] {
		t.Errorf("the runtime stage copies %+v, the build writes %s", copies, dockerArgv[2])
	}
}

// TestBuildContextBuilds runs the Dockerfile's build step for real, without Docker: the build
// context (the tree less .dockerignore) in a directory of its own, the same command and
// variables. The binary must be static (it runs on distroless/static), built with -trimpath,
// and stamped with the version.
func TestBuildContextBuilds(t *testing.T) {
	t.Parallel()
	ctxDir := buildContext(t)
	env, argv := dockerBuild(t)
	out := filepath.Join(t.TempDir(), "chatbot")
	const version = "v0.0.0-consistency"
	c := exec.Command(argv[0], argv[1], out)
	c.Dir = ctxDir
	c.Env = os.Environ()
	for name, value := range env {
		value = strings.NewReplacer("$VERSION", version, "$TARGETOS", "", "$TARGETARCH", "").Replace(value)
		c.Env = append(c.Env, name+"="+value)
	}
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s in the build context: %v\n%s", strings.Join(argv, " "), err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (has an ELF interpreter); distroless/static cannot run it")
		}
	}
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v: want CGO_ENABLED=0 and -trimpath", settings)
	}
	got, err := exec.Command(out, "version").Output()
	if err != nil || !strings.HasPrefix(string(got), "chatbot "+version+" ") {
		t.Errorf("chatbot version: %q %v", got, err)
	}
}
