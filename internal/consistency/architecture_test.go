package consistency_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// citation is a name the docs cite with its file: `store.Store.Send` (`pkg/store/send.go`),
// or (`pkg/store/turn.go`, script ...).
var citation = regexp.MustCompile("`([a-z][a-z0-9]*)\\.([A-Za-z_][A-Za-z0-9_.]*)`,?\\s+\\(`((?:pkg|cmd|internal)/[a-z0-9_/]+\\.go)`(?:,[^)]*)?\\)")

// TestArchitectureCitesNamesThatExist checks every function, method and type that
// docs/ARCHITECTURE.md cites with its file: the file exists, is of that package, and declares
// the name (Func, or Type.Method). So the map of a message's path cannot drift from the code.
func TestArchitectureCitesNamesThatExist(t *testing.T) {
	t.Parallel()
	doc := string(repoFile(t, "docs/ARCHITECTURE.md"))
	cites := citation.FindAllStringSubmatch(doc, -1)
	if len(cites) < 40 {
		t.Fatalf("docs/ARCHITECTURE.md cites %d names with their files; the path of a message should cite each step's function (want at least 40)", len(cites))
	}
	decls := map[string]map[string]bool{} // file -> declared names
	pkgs := map[string]string{}           // file -> package name
	for _, c := range cites {
		pkg, name, file := c[1], c[2], c[3]
		if _, seen := decls[file]; !seen {
			var err error
			if pkgs[file], decls[file], err = declared(file); err != nil {
				t.Errorf("docs/ARCHITECTURE.md cites %s: %v", file, err)
			}
		}
		if decls[file] == nil {
			continue // reported
		}
		if pkgs[file] != pkg {
			t.Errorf("docs/ARCHITECTURE.md cites %s.%s in %s, which is package %s", pkg, name, file, pkgs[file])
			continue
		}
		if !decls[file][name] {
			t.Errorf("docs/ARCHITECTURE.md cites %s.%s in %s, which declares no %s", pkg, name, file, name)
		}
	}
}

// declared parses a Go file of the repository and returns its package name and the names it
// declares at the top level: functions, types, variables and constants as Name, methods as
// Type.Method.
func declared(file string) (string, map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, filepath.FromSlash(file)), nil, parser.SkipObjectResolution)
	if err != nil {
		return "", nil, err
	}
	names := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) == 0 {
				names[d.Name.Name] = true
				continue
			}
			names[recvType(d.Recv.List[0].Type)+"."+d.Name.Name] = true
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names[s.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names[n.Name] = true
					}
				}
			}
		}
	}
	return f.Name.Name, names, nil
}

// recvType is the type name of a method's receiver: T for T, *T, T[P] and *T[P].
func recvType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}

// repoPath is a path of the repository in a code span: `pkg/store`, `pkg/web/hub.go`.
var repoPath = regexp.MustCompile("`((?:pkg|cmd|internal)(?:/[A-Za-z0-9_.-]+)*/?)`")

// TestArchitecturePathsExist checks that every file or directory docs/ARCHITECTURE.md names
// (`pkg/...`, `cmd/...`, `internal/...`) is in the repository.
func TestArchitecturePathsExist(t *testing.T) {
	t.Parallel()
	for _, m := range repoPath.FindAllStringSubmatch(string(repoFile(t, "docs/ARCHITECTURE.md")), -1) {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("docs/ARCHITECTURE.md names %s, which is not in the repository", m[1])
		}
	}
}
