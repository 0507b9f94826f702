package consistency_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatbot/pkg/config"

	"go.yaml.in/yaml/v3"
)

// fileKey is one key of config.yaml: its value node and the comment above it.
type fileKey struct {
	value   *yaml.Node
	comment string
}

// configFile reads config.yaml into its dotted keys.
func configFile(t *testing.T) map[string]fileKey {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(repoFile(t, "config.yaml"), &doc); err != nil {
		t.Fatalf("parse config.yaml: %v", err)
	}
	out := map[string]fileKey{}
	top := doc.Content[0]
	for i := 0; i < len(top.Content); i += 2 {
		section, body := top.Content[i], top.Content[i+1]
		if body.Kind != yaml.MappingNode {
			t.Fatalf("config.yaml:%d: %s is not a section", section.Line, section.Value)
		}
		for j := 0; j < len(body.Content); j += 2 {
			k, v := body.Content[j], body.Content[j+1]
			out[section.Value+"."+k.Value] = fileKey{v, strings.TrimSpace(k.HeadComment + k.LineComment)}
		}
	}
	return out
}

// sameDefault says whether text (as written in config.yaml or the README) is key's default.
// An empty default may be written as nothing, "" or a parenthesised note such as "(empty)".
func sameDefault(key config.Key, text string) error {
	text = strings.TrimSpace(text)
	note := text == "" || text == `""` || (strings.HasPrefix(text, "(") && strings.HasSuffix(text, ")"))
	ok := false
	switch d := key.Default.(type) {
	case string:
		ok = text == d || (d == "" && note)
	case int:
		n, err := strconv.Atoi(text)
		ok = err == nil && n == d
	case bool:
		b, err := strconv.ParseBool(text)
		ok = err == nil && b == d
	case float64:
		f, err := strconv.ParseFloat(text, 64)
		ok = err == nil && f == d
	case time.Duration:
		v, err := time.ParseDuration(text)
		ok = err == nil && v == d
	case []string:
		ok = (text == "[]" || note) && len(d) == 0 ||
			text == "["+strings.Join(d, ", ")+"]"
	}
	if !ok {
		return fmt.Errorf("%s: %q is not its default %v", key.Name, text, key.Default)
	}
	return nil
}

// TestConfigYAMLListsEveryKey: config.yaml has every key of config.Keys, no other, each with
// a comment and its default.
func TestConfigYAMLListsEveryKey(t *testing.T) {
	t.Parallel()
	file := configFile(t)
	for _, k := range config.Keys {
		fk, ok := file[k.Name]
		if !ok {
			t.Errorf("config.yaml lacks %s", k.Name)
			continue
		}
		delete(file, k.Name)
		if fk.comment == "" {
			t.Errorf("config.yaml:%d: %s has no comment", fk.value.Line, k.Name)
		}
		text := fk.value.Value
		if fk.value.Kind == yaml.SequenceNode {
			var items []string
			for _, n := range fk.value.Content {
				items = append(items, n.Value)
			}
			text = "[" + strings.Join(items, ", ") + "]"
		}
		if err := sameDefault(k, text); err != nil {
			t.Errorf("config.yaml:%d: %v", fk.value.Line, err)
		}
	}
	for name, fk := range file {
		t.Errorf("config.yaml:%d: %s is not a configuration key", fk.value.Line, name)
	}
}

// TestConfigYAMLLoadsToDefaults: config.Load reads config.yaml into exactly the configuration
// of no file at all.
func TestConfigYAMLLoadsToDefaults(t *testing.T) {
	t.Parallel()
	got, err := config.Load(parseFlagSet(t, "--config", filepath.Join(root, "config.yaml")))
	if err != nil {
		t.Fatalf("config.yaml does not load: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := config.Load(parseFlagSet(t, "--config", empty))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config.yaml loads to\n%+v\nthe defaults are\n%+v", got, want)
	}
}

var readmeRow = regexp.MustCompile("^\\|\\s*`([a-z_]+\\.[a-z_]+)`\\s*\\|(.*)\\|(.*)\\|\\s*$")

// TestReadmeConfigTable: the README's configuration reference has one row per key of
// config.Keys, with its default and a meaning, and no other.
func TestReadmeConfigTable(t *testing.T) {
	t.Parallel()
	readme := string(repoFile(t, "README.md"))
	_, section, ok := strings.Cut(readme, "\n## Configuration reference\n")
	if !ok {
		t.Fatal("README.md has no \"## Configuration reference\" section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	rows := map[string][2]string{}
	for _, line := range strings.Split(section, "\n") {
		if m := readmeRow.FindStringSubmatch(line); m != nil {
			if _, dup := rows[m[1]]; dup {
				t.Errorf("README.md: %s has two rows", m[1])
			}
			rows[m[1]] = [2]string{strings.Trim(strings.TrimSpace(m[2]), "`"), strings.TrimSpace(m[3])}
		}
	}
	for _, k := range config.Keys {
		row, ok := rows[k.Name]
		if !ok {
			t.Errorf("README.md's configuration reference lacks %s", k.Name)
			continue
		}
		delete(rows, k.Name)
		if err := sameDefault(k, row[0]); err != nil {
			t.Errorf("README.md: %v", err)
		}
		if row[1] == "" {
			t.Errorf("README.md: %s has no meaning", k.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		t.Errorf("README.md lists %s, which is not a configuration key", name)
	}
}
