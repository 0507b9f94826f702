package consistency_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"chatbot/cmd"
	"chatbot/pkg/config"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// root is the repository's top directory.
var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// repoFile reads a file of the repository, named by its slash-separated path from the top.
func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// yamlDocs decodes every document of a (multi-document) YAML file into a fresh T.
func yamlDocs[T any](t *testing.T, name string) []T {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(repoFile(t, name)))
	var out []T
	for {
		var doc T
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("parse %s (document %d): %v", name, len(out)+1, err)
		}
		out = append(out, doc)
	}
}

// envKeys maps each CHATBOT_* variable to its configuration key (CHATBOT_REDIS_URL ->
// redis.url), as config.Load reads them.
var envKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range config.Keys {
		m[envName(k.Name)] = k.Name
	}
	return m
}()

func envName(key string) string {
	return config.EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// configEnv is the one CHATBOT_* variable that is not a key: it names the config file.
var configEnv = config.EnvPrefix + "_CONFIG"

// container is what a manifest says about one chatbot process: its arguments (after the
// image's /chatbot entrypoint), its environment, and files mounted into it (path -> content).
type container struct {
	where string // for messages: "docker-compose.yml serve", ...
	args  []string
	env   map[string]string
	files map[string]string
}

// argv is the command line c amounts to: the manifest's arguments with the environment
// turned into flags placed before the manifest's own (so flags still win over the
// environment, as in config.Load; empty values count as unset, as in viper), and paths of
// mounted files pointing into a temporary directory that holds them. Every CHATBOT_*
// variable must be a configuration key, or CHATBOT_CONFIG.
func (c container) argv(t *testing.T) []string {
	t.Helper()
	if len(c.args) == 0 {
		t.Fatalf("%s: no command (the image's default is %q)", c.where, "serve")
	}
	tree := cmd.NewRootCommand()
	sub, rest, err := tree.Find(c.args)
	if err != nil || sub == tree {
		t.Fatalf("%s: %q is not a chatbot command (%v); commands: %s", c.where, c.args[0], err, commandNames(tree))
	}
	dir := t.TempDir()
	for path, content := range c.files {
		p := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(s string) string {
		if _, ok := c.files[s]; ok {
			return filepath.Join(dir, filepath.FromSlash(s))
		}
		return s
	}
	var flags []string
	for name, value := range c.env {
		if !strings.HasPrefix(name, config.EnvPrefix+"_") {
			continue
		}
		if name == configEnv {
			flags = append(flags, "--config="+mount(value))
			continue
		}
		key, ok := envKeys[name]
		if !ok {
			t.Errorf("%s: environment variable %s is not a configuration key (see config.yaml)", c.where, name)
			continue
		}
		if value != "" {
			flags = append(flags, "--"+key+"="+value)
		}
	}
	rest = slices.Clone(rest)
	for i, a := range rest {
		if i > 0 && rest[i-1] == "--config" {
			rest[i] = mount(a)
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			rest[i] = "--config=" + mount(v)
		}
	}
	out := slices.Clone(c.args[:len(c.args)-len(rest)])
	return append(append(out, flags...), rest...)
}

// run resolves c against the real command tree and configuration: the command must exist, its
// flags must parse, and the configuration it all adds up to must load and validate. It
// returns the command and that configuration.
func (c container) run(t *testing.T) (*cobra.Command, *config.Config) {
	t.Helper()
	argv := c.argv(t)
	tree := cmd.NewRootCommand()
	sub, flags, err := tree.Find(argv)
	if err != nil {
		t.Fatalf("%s: %v", c.where, err)
	}
	if err := sub.ParseFlags(flags); err != nil {
		t.Fatalf("%s: chatbot %s: %v", c.where, strings.Join(c.args, " "), err)
	}
	if err := sub.ValidateArgs(sub.Flags().Args()); err != nil {
		t.Fatalf("%s: chatbot %s: %v", c.where, strings.Join(c.args, " "), err)
	}
	// Without --config, config.Load reads ./config.yaml when present; the image has none,
	// and neither has this test's directory.
	cfg, err := config.Load(sub.Flags())
	if err != nil {
		t.Fatalf("%s: the configuration does not load: %v", c.where, err)
	}
	return sub, cfg
}

// start runs c in-process in the background, with extra arguments appended, until ctx ends.
// The returned channel gets what it returned, and its output.
func (c container) start(t *testing.T, ctx context.Context, extra ...string) <-chan result {
	t.Helper()
	tree := cmd.NewRootCommand()
	out := &lockedBuffer{}
	tree.SetOut(out)
	tree.SetErr(out)
	tree.SetArgs(append(c.argv(t), extra...))
	done := make(chan result, 1)
	go func() {
		err := tree.ExecuteContext(ctx)
		done <- result{err, out.String()}
	}()
	return done
}

// execute runs c in-process with extra arguments appended, to the end.
func (c container) execute(t *testing.T, ctx context.Context, extra ...string) result {
	t.Helper()
	return <-c.start(t, ctx, extra...)
}

type result struct {
	err error
	out string
}

// lockedBuffer is an output a running command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func commandNames(c *cobra.Command) string {
	var names []string
	for _, sub := range c.Commands() {
		names = append(names, sub.Name())
	}
	return strings.Join(names, ", ")
}

// parseFlagSet is config.Load's flag set with args parsed.
func parseFlagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// port is the port of a listen address such as ":8080".
func port(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[i+1:]
}
