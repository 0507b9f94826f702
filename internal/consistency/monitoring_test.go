package consistency_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The monitoring that ships in deploy/: Prometheus alert rules and a Grafana dashboard.
const (
	alertsFile    = "deploy/prometheus/alerts.yaml"
	alertsTests   = "deploy/prometheus/alerts_test.yaml"
	dashboardFile = "deploy/grafana/chatbot.json"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRulesPassPromtool: promtool (Debian's prometheus package; scripts/deps.sh installs
// it) accepts the rules, and their unit tests (alerts_test.yaml) pass: the alerts whose
// expressions are easy to get wrong fire when they should.
func TestAlertRulesPassPromtool(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run scripts/deps.sh promtool (make test does)")
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertsTests}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestMonitoringQueriesExportedMetrics: every metric the alert rules and the dashboard query
// is one the code registers, with the labels it has and label values the code writes, so a
// renamed metric or label cannot leave a panel empty or an alert silent.
func TestMonitoringQueriesExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedMetrics(t)
	if len(exported) < 20 {
		t.Fatalf("found only %d metrics in pkg/: the scan is broken", len(exported))
	}
	literals := goStringLiterals(t)
	var exprs []query
	var rules ruleFile
	if err := yaml.Unmarshal(repoFile(t, alertsFile), &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, query{alertsFile + ": " + r.Alert, r.Expr})
		}
	}
	exprs = append(exprs, dashboardQueries(t)...)
	if len(exprs) < 30 {
		t.Fatalf("found only %d queries in the rules and the dashboard", len(exprs))
	}
	for _, q := range exprs {
		for _, err := range checkQuery(q.expr, exported, literals) {
			t.Errorf("%s: %s\n\t%s", q.where, err, q.expr)
		}
	}
}

// TestDashboardShape: the dashboard is one Grafana can import: a uid, panels with unique ids,
// positions inside the 24-column grid, and every query on the datasource variable.
func TestDashboardShape(t *testing.T) {
	t.Parallel()
	var d struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(repoFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: all are needed", d.UID, d.Title, d.SchemaVersion)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type string }) bool {
		return v.Name == "datasource" && v.Type == "datasource"
	}) {
		t.Error("no datasource variable: the dashboard would be bound to one Prometheus")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" || tg.RefID == "" {
				t.Errorf("panel %q: target %+v: not on ${datasource}, or no refId", p.Title, tg)
			}
		}
	}
}

// TestAlertsDocumented: docs/OPERATIONS.md's alert table names every alert of the rules with
// its expression, and no other.
func TestAlertsDocumented(t *testing.T) {
	t.Parallel()
	var rules ruleFile
	if err := yaml.Unmarshal(repoFile(t, alertsFile), &rules); err != nil {
		t.Fatal(err)
	}
	inRules := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			inRules[r.Alert] = r.Expr
		}
	}
	row := regexp.MustCompile("^\\| `(Chatbot\\w+)` \\| `(.*?)` \\|")
	inDoc := map[string]string{}
	for _, line := range strings.Split(string(repoFile(t, "docs/OPERATIONS.md")), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			inDoc[m[1]] = strings.ReplaceAll(m[2], `\|`, "|")
		}
	}
	for name, expr := range inRules {
		doc, ok := inDoc[name]
		switch {
		case !ok:
			t.Errorf("alert %s is not in docs/OPERATIONS.md's table", name)
		case doc != expr:
			t.Errorf("alert %s: docs/OPERATIONS.md says\n\t%s\nthe rules say\n\t%s", name, doc, expr)
		}
	}
	for name := range inDoc {
		if _, ok := inRules[name]; !ok {
			t.Errorf("docs/OPERATIONS.md lists alert %s, which %s does not have", name, alertsFile)
		}
	}
}

type query struct{ where, expr string }

type dashPanel struct {
	ID      int    `json:"id"`
	Title   string `json:"title"`
	Type    string `json:"type"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // a collapsed row's
}

func dashboardQueries(t *testing.T) []query {
	var d struct {
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(repoFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []query
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, query{dashboardFile + ": " + p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// metricInfo is a metric the code registers: its label names, and whether it is a histogram
// (then it is queried as _bucket with le, _sum and _count).
type metricInfo struct {
	labels    []string
	histogram bool
}

// exportedMetrics reads the metrics registered in pkg/ from the source: every
// prometheus.NewCounter/Gauge/Histogram/Summary(Vec|Func) call with its Opts' Name and, for a
// Vec, its label names.
func exportedMetrics(t *testing.T) map[string]metricInfo {
	out := map[string]metricInfo{}
	forEachGoFile(t, func(f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok || pkg.Name != "prometheus" || !strings.HasPrefix(sel.Sel.Name, "New") {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			name := ""
			for _, el := range opts.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
						name = stringLit(kv.Value)
					}
				}
			}
			if name == "" {
				return true
			}
			info := metricInfo{histogram: strings.Contains(sel.Sel.Name, "Histogram")}
			if strings.HasSuffix(sel.Sel.Name, "Vec") && len(call.Args) > 1 {
				if lst, ok := call.Args[1].(*ast.CompositeLit); ok {
					for _, el := range lst.Elts {
						info.labels = append(info.labels, stringLit(el))
					}
				}
			}
			out[name] = info
			return true
		})
	})
	return out
}

// goStringLiterals is every string literal of the non-test code in pkg/: the label values the
// code can write.
func goStringLiterals(t *testing.T) map[string]bool {
	out := map[string]bool{}
	forEachGoFile(t, func(f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out[s] = true
				}
			}
			return true
		})
	})
	return out
}

func forEachGoFile(t *testing.T, f func(*ast.File)) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "pkg"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		f(file)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func stringLit(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	return ""
}

var (
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promSelector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"group_left": true, "group_right": true, "by": true, "without": true, "on": true, "ignoring": true}
	// targetLabels are put on every series by the scrape, not by the code.
	targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true}
)

// checkQuery finds the metrics, label names and label values a PromQL expression uses and
// says which of them the code does not export. (A small scan, not a PromQL parser: enough for
// selectors, matchers and by/without/on/ignoring clauses.)
func checkQuery(expr string, exported map[string]metricInfo, literals map[string]bool) []string {
	var errs []string
	labelsOf := map[string]bool{} // every label of the metrics the query reads
	use := func(name string) (metricInfo, bool) {
		if name == "up" {
			return metricInfo{}, true
		}
		if m, ok := exported[name]; ok {
			return m, true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if m, ok := exported[strings.TrimSuffix(name, suffix)]; ok && m.histogram && strings.HasSuffix(name, suffix) {
				if suffix == "_bucket" {
					m.labels = append(slices.Clone(m.labels), "le")
				}
				return m, true
			}
		}
		errs = append(errs, "metric "+name+" is not registered by the code (pkg/)")
		return metricInfo{}, false
	}
	s := promRange.ReplaceAllString(expr, " ")
	for _, m := range promSelector.FindAllStringSubmatch(s, -1) {
		info, ok := use(m[1])
		for _, l := range info.labels {
			labelsOf[l] = true
		}
		for _, mm := range promMatcher.FindAllStringSubmatch(m[2], -1) {
			label, op, value := mm[1], mm[2], mm[3]
			if ok && !targetLabels[label] && !slices.Contains(info.labels, label) {
				errs = append(errs, "metric "+m[1]+" has no label "+label)
				continue
			}
			if targetLabels[label] || op == "!=" || op == "!~" {
				continue
			}
			for _, v := range strings.Split(value, "|") {
				if _, err := strconv.Atoi(v); err != nil && !literals[v] {
					errs = append(errs, "label value "+label+"="+strconv.Quote(v)+" is written nowhere in pkg/")
				}
			}
		}
	}
	s = promSelector.ReplaceAllString(s, " ")
	var grouped []string
	for _, m := range promGrouping.FindAllStringSubmatch(s, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				grouped = append(grouped, l)
			}
		}
	}
	s = promGrouping.ReplaceAllString(s, " ")
	s = regexp.MustCompile(`"[^"]*"`).ReplaceAllString(s, " ")
	s = regexp.MustCompile(`\$\w+`).ReplaceAllString(s, " ")
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " ")
		if promKeywords[name] || strings.HasPrefix(rest, "(") || (loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.")) {
			continue // a keyword, a function, or an exponent/number's tail
		}
		info, _ := use(name)
		for _, l := range info.labels {
			labelsOf[l] = true
		}
	}
	for _, l := range grouped {
		if !labelsOf[l] && !targetLabels[l] {
			errs = append(errs, "grouped by "+l+", a label of none of the metrics it reads")
		}
	}
	return errs
}
