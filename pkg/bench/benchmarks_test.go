package bench

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/BENCHMARKS.md from testdata/run")

// testdata/run is a run directory as scripts/bench.sh leaves it; testdata/BENCHMARKS.md is the
// document made from it, the same, line for line, as the jq/awk script this code replaced
// printed from the same files (but for the line that names the generator).
func TestWriteBenchmarks(t *testing.T) {
	t.Parallel()
	m := Machine{Cores: 2, CPU: "Intel(R) Xeon(R) Processor", MemGiB: 7.75, Kernel: "Linux 6.1.0-test",
		Go: "go1.26.8", LoadAvg: "0.50 0.40 0.30", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var got bytes.Buffer
	if err := WriteBenchmarks(&got, "testdata/run", m); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/BENCHMARKS.md", got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	g, w := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			t.Fatalf("line %d differs (go test -run TestWriteBenchmarks -update rewrites the file):\ngot  %q\nwant %q",
				i+1, at(g, i), at(w, i))
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}

// jqNumber prints numbers as jq 1.6 does.
func TestJQNumber(t *testing.T) {
	t.Parallel()
	tenth, third := 0.1, 1.0
	for v, want := range map[float64]string{
		0: "0", 1: "1", 200: "200", tenth + 0.2: "0.30000000000000004", third / 3: "0.3333333333333333",
		0.0001: "0.0001", 0.00001: "1e-05", 1e-7: "1e-07", 1e16: "1e+16", 123456789012345678: "123456789012345680",
		1.5e300: "1.5e+300", 12345678.9: "12345678.9", -2.5: "-2.5",
	} {
		if got := jqNumber(v); got != want {
			t.Errorf("jqNumber(%v) = %s, want %s", v, got, want)
		}
	}
}
