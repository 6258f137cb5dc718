package layering

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/aeraki-ng/aeraki/"

// testHarness are packages only tests import (never linked into a
// binary): the plugins' golden harness mirrors how the hbone plugin asks
// for chains.
var testHarness = map[string]bool{"../../internal/plugingolden": true}

// TestCoreImportsNoPlugin: the core (pkg/, internal/) never imports a
// plugin, so a custom build chooses its plugins (aeraki.Main takes the
// list) and tools such as aeraki trace read the names they share with a
// plugin from a package both import (pkg/hbonenames). Only cmd/aeraki
// and plugins/builtin assemble plugins; tests may use them.
func TestCoreImportsNoPlugin(t *testing.T) {
	coreFiles(t, parser.ImportsOnly, func(rel string, f *ast.File) {
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module+"plugins/") {
				t.Errorf("%s imports %s: the core must not depend on a plugin; move what both need to a package under pkg/", rel, p)
			}
		}
	})
}

// coreFiles parses every non-test Go file of the core (pkg/, internal/,
// but the test harness) with mode and hands it to check with its path
// from the repository root.
func coreFiles(t *testing.T, mode parser.Mode, check func(rel string, f *ast.File)) {
	t.Helper()
	root := filepath.Join("..", "..")
	for _, dir := range []string{"pkg", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			if testHarness[filepath.ToSlash(filepath.Dir(path))] {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, mode)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			check(rel, f)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestStandsAlone: README, docs and code comments never point outside the
// repository (a design file or a shared folder beside it): the project's
// own docs say what it does. Tests may locate the compatibility corpus
// (internal/testenv.RequireCorpus), so test files are not checked.
func TestStandsAlone(t *testing.T) {
	root := filepath.Join("..", "..")
	banned := []string{"../" + "shared", "DESIGN" + ".md"}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "bin", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".md")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range banned {
			if strings.Contains(string(b), s) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s mentions %q: say it in the project's own docs (docs/architecture.md) instead", rel, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
