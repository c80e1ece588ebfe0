package walls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestWalls checks the module's real import graph against the walls.
func TestWalls(t *testing.T) {
	pkgs := loadModule(t)
	for _, w := range walls {
		if !slices.ContainsFunc(pkgs, func(p pkg) bool { return w.holds(p.Path) }) {
			t.Errorf("wall %q holds no package of the module: its paths are out of date (%s)", w.id, w.rule)
		}
	}
	if vs := check(pkgs); len(vs) > 0 {
		t.Error(report(vs))
	}
}

// listed is the part of `go list -json` the walls read.
type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	Module     *struct{ Path string }
	Error      *struct{ Err string }
}

// loadModule lists the packages of the module that holds the working
// directory, with the net/http uses of those a wall needs them for.
func loadModule(t *testing.T) []pkg {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH (%v): the walls read the import graph with go list; CI has it", err)
	}
	gomod := strings.TrimSpace(run(t, "", goCmd, "env", "GOMOD"))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: the test does not run inside grantd's module", gomod)
	}
	root := filepath.Dir(gomod)
	out := run(t, root, goCmd, "list", "-e", "-json=ImportPath,Dir,GoFiles,CgoFiles,Imports,Module,Error", "./...")
	list, err := decodeList(strings.NewReader(out))
	if err != nil {
		t.Fatalf("decoding go list -json: %v", err)
	}
	var pkgs []pkg
	for _, l := range list {
		if l.Module == nil || l.Module.Path != module {
			t.Fatalf("go list: %s is not in module %s: the walls are written for that module path", l.ImportPath, module)
		}
		if l.Error != nil {
			t.Errorf("go list: %s: %s: its imports cannot be checked", l.ImportPath, l.Error.Err)
		}
		p := pkg{Path: l.ImportPath, Imports: l.Imports}
		if wantsHTTPUses(p.Path) {
			for _, name := range slices.Concat(l.GoFiles, l.CgoFiles) {
				uses, err := fileHTTPUses(root, filepath.Join(l.Dir, name))
				if err != nil {
					t.Errorf("%s: %v", p.Path, err)
				}
				p.HTTPUses = append(p.HTTPUses, uses...)
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list ./... in %s found no package", root)
	}
	return pkgs
}

// run runs the go command in dir ("" for the working directory) and
// returns its standard output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

// decodeList decodes go list's stream of JSON objects.
func decodeList(r io.Reader) ([]listed, error) {
	dec := json.NewDecoder(r)
	var list []listed
	for {
		var l listed
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return list, nil
		}
		if err != nil {
			return nil, err
		}
		list = append(list, l)
	}
}

// fileHTTPUses reads and parses one file; positions name it relative to root.
func fileHTTPUses(root, path string) ([]use, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name, err := filepath.Rel(root, path)
	if err != nil {
		name = path
	}
	return httpUses(filepath.ToSlash(name), src)
}

// httpUses returns every use of a name of net/http in one Go file, under
// whatever names the file imports net/http: each selector on such a name
// (http.Request, nethttp.StatusOK), and a dot import, which hides its uses.
// It reads syntax only: a local variable that shadows the import's name is
// taken for the import (rename it; it is confusing anyway).
func httpUses(filename string, src []byte) ([]use, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var uses []use
	names := map[string]bool{}
	for _, spec := range f.Imports {
		if path, err := strconv.Unquote(spec.Path.Value); err != nil || path != "net/http" {
			continue
		}
		switch name := importName(spec); name {
		case "_":
		case ".":
			uses = append(uses, use{Pos: fset.Position(spec.Pos()).String(), Expr: `import . "net/http"`})
		default:
			names[name] = true
		}
	}
	if len(names) == 0 {
		return uses, nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && names[x.Name] {
			uses = append(uses, use{
				Pos:   fset.Position(sel.Pos()).String(),
				Expr:  fmt.Sprintf("%s.%s", x.Name, sel.Sel.Name),
				Ident: sel.Sel.Name,
			})
		}
		return true
	})
	return uses, nil
}

// importName is the name a file uses for an import of net/http.
func importName(spec *ast.ImportSpec) string {
	if spec.Name != nil {
		return spec.Name.Name
	}
	return "http"
}
