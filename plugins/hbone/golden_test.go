package hbone_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the current output")

// TestGolden renders every testdata/in/<case>.yaml and compares each
// ztunnel and waypoint, and the diagnostics, with
// testdata/out/<case>/. Run with -update to rewrite them, then review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			res := renderWith(t, in)
			outDir := filepath.Join("testdata", "out", name)
			got := map[string]string{"diagnostics.txt": diagnostics(res)}
			for _, p := range res.Output.Proxies {
				if p.Stale || len(p.Listeners) == 0 {
					t.Errorf("proxy %s was not built: %v", p.ID, p.Diagnostics)
				}
				validate(t, p.Proxy)
				doc, err := render.ProxyDocument(p.Proxy)
				if err != nil {
					t.Fatal(err)
				}
				b, err := yaml.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				got[strings.ReplaceAll(p.ID, "/", "_")+".yaml"] = string(b)
			}
			compare(t, outDir, got)
		})
	}
}

func renderWith(t *testing.T, in string) *render.Result {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(render.Options{Paths: []string{in}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// validate runs Envoy's own validation on every resource, including the
// messages packed in Any.
func validate(t *testing.T, p *plugin.Proxy) {
	t.Helper()
	for _, l := range p.Listeners {
		if err := xds.Validate(l); err != nil {
			t.Errorf("%s listener %s: %v", p.ID, l.GetName(), err)
		}
	}
	for _, c := range p.Clusters {
		if err := xds.Validate(c); err != nil {
			t.Errorf("%s cluster %s: %v", p.ID, c.GetName(), err)
		}
	}
	for _, e := range p.Endpoints {
		if err := xds.Validate(e); err != nil {
			t.Errorf("%s endpoints %s: %v", p.ID, e.GetClusterName(), err)
		}
	}
}

func diagnostics(res *render.Result) string {
	var b strings.Builder
	for _, d := range res.Diagnostics {
		if d.Plugin == hbone.Name {
			b.WriteString(d.String())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func compare(t *testing.T, dir string, got map[string]string) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, content := range got {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != len(got) {
		t.Errorf("%s has %d files, the render produces %d; run go test -update and review", dir, len(files), len(got))
	}
	for f, content := range got {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%v; run go test ./plugins/hbone -update and review the new file", err)
			continue
		}
		if string(want) != content {
			t.Errorf("%s/%s differs from the render; run go test ./plugins/hbone -update and review the diff", dir, f)
		}
	}
}
