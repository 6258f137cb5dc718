package dubbo_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/golden"
	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// TestGolden renders every testdata/in case with the Dubbo plugin and
// compares the EnvoyFilters and diagnostics with testdata/out.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", func(t *testing.T, in string) string {
		reg := registry(t, pluginOptions(t, in))
		res, err := render.Render(render.Options{Paths: []string{in}, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		for _, ef := range res.Output.EnvoyFilters {
			if err := ef.Validate(); err != nil {
				t.Errorf("EnvoyFilter %s/%s: %v", ef.Namespace, ef.Name, err)
			}
		}
		return render.Golden(res)
	})
}

// pluginOptions reads a "# plugin-options: k=v,k=v" header line.
func pluginOptions(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# plugin-options:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			opts[k] = v
		}
	}
	return opts
}

func registry(t *testing.T, opts map[string]string) *plugin.Registry {
	t.Helper()
	p, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Configure(opts); err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestConfigureRejectsUnknownFilter(t *testing.T) {
	if _, err := dubbo.New(dubbo.Options{Filter: "thrift_proxy"}); err == nil || !strings.Contains(err.Error(), "generic_proxy") {
		t.Fatalf("want an error naming the valid filters, got %v", err)
	}
	p, _ := dubbo.New(dubbo.Options{})
	if err := p.Configure(map[string]string{"colour": "blue"}); err == nil || !strings.Contains(err.Error(), "known: filter") {
		t.Fatalf("want an error listing known options, got %v", err)
	}
}
