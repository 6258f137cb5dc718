package hbone_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// snapshotOf loads the example with edit applied to its routing file.
func snapshotOf(t *testing.T, edit func(name, text string) string) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{})
	files, _ := filepath.Glob("../../examples/ambient-dubbo/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.LoadBytes(filepath.Base(f), []byte(edit(filepath.Base(f), string(data))), b, file.Options{}) {
			if d.Severity == model.SeverityError {
				t.Fatal(d)
			}
		}
	}
	return b.Build()
}

// TestIncremental_MetaRouterChangeRebuildsOnlyTheWaypoint: ztunnels do not
// read routes, so a MetaRouter edit reuses them; the waypoint, whose L7
// chain depends on it, is rebuilt.
func TestIncremental_MetaRouterChangeRebuildsOnlyTheWaypoint(t *testing.T) {
	d, _ := dubbo.New(dubbo.Options{})
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	same := func(_, text string) string { return text }
	first := tr.Translate(snapshotOf(t, same))
	if first.Stats.ProxiesBuilt != 4 {
		t.Fatalf("first translation built %d proxies, want 3 ztunnels + 1 waypoint", first.Stats.ProxiesBuilt)
	}
	second := tr.Translate(snapshotOf(t, func(name, text string) string {
		if name == "routing.yaml" {
			return strings.Replace(text, "subset: v2\n  - name: say-goodbye-split", "subset: v1\n  - name: say-goodbye-split", 1)
		}
		return text
	}))
	if second.Stats.ProxiesBuilt != 1 || second.Stats.ProxiesReused != 3 {
		t.Fatalf("after a MetaRouter edit: built %d, reused %d; want only the waypoint rebuilt", second.Stats.ProxiesBuilt, second.Stats.ProxiesReused)
	}
}
