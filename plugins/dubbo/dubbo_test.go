package dubbo_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/golden"
	"github.com/aeraki-ng/aeraki/internal/plugingolden"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// TestGolden renders every testdata/in case with the Dubbo plugin and
// compares the diagnostics, the sidecar EnvoyFilters and the waypoint
// chain with testdata/out.
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", func(t *testing.T, in string) string {
		p, err := dubbo.New(dubbo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		reg := plugingolden.Registry(t, in, p)
		return plugingolden.Render(t, in, reg, dubbo.Name, false)
	})
}

func TestConfigureRejectsUnknownFilter(t *testing.T) {
	if _, err := dubbo.New(dubbo.Options{Filter: "thrift_proxy"}); err == nil || !strings.Contains(err.Error(), "auto, generic_proxy or dubbo_proxy") {
		t.Fatalf("want an error naming the valid filters, got %v", err)
	}
	p, _ := dubbo.New(dubbo.Options{})
	if err := p.Configure(map[string]string{"colour": "blue"}); err == nil || !strings.Contains(err.Error(), "known: filter") {
		t.Fatalf("want an error listing known options, got %v", err)
	}
}

// Defect: Registry.Configure with no options reset what New was given
// (Filter: dubbo_proxy reverted to auto). The constructor's options are
// the configuration; command-line keys override only what they name.
func TestConfigureKeepsConstructorOptions(t *testing.T) {
	p, err := dubbo.New(dubbo.Options{Filter: dubbo.FilterDubboProxy})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Configure(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Configure(map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if d := p.Description(); !strings.Contains(d, "filter dubbo_proxy") {
		t.Fatalf("after Configure without options: %q, want the constructor's dubbo_proxy", d)
	}
	if err := reg.Configure(map[string]string{"dubbo.filter": "generic_proxy"}); err != nil {
		t.Fatal(err)
	}
	if d := p.Description(); !strings.Contains(d, "filter generic_proxy") {
		t.Fatalf("after --plugin-option dubbo.filter=generic_proxy: %q", d)
	}
	if _, err := dubbo.New(dubbo.Options{Filter: "grpc"}); err == nil {
		t.Fatal("New accepted an unknown filter")
	}
}
