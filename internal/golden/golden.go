// Package golden runs golden-file tests: every file in testdata/in is
// turned into text by the test's function and compared with the file of
// the same name in testdata/out. `go test ./... -update` rewrites the
// outputs; the diff is then reviewed like code.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/out")

// Run calls render for every file in dir/in and compares its result with
// dir/out/<same name>.
func Run(t *testing.T, dir string, render func(t *testing.T, inPath string) string) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join(dir, "in", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatalf("no golden inputs in %s/in", dir)
	}
	for _, in := range ins {
		name := filepath.Base(in)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			got := render(t, in)
			outPath := filepath.Join(dir, "out", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(outPath), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(outPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatalf("%v; run `go test %s -update` to create it", err, "./"+filepath.ToSlash(filepath.Dir(dir)))
			}
			if string(want) != got {
				t.Errorf("%s differs from the generated output; if the change is intended, run the test with -update and review the diff.\n%s", outPath, diff(string(want), got))
			}
		})
	}
}

// diff shows the first differing lines, enough to see what changed.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			var b strings.Builder
			lo := max(0, i-3)
			for j := lo; j < i; j++ {
				b.WriteString("  " + w[j] + "\n")
			}
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
			return "line " + strconv.Itoa(i+1) + ":\n" + b.String()
		}
	}
	return ""
}
