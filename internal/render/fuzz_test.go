package render_test

import (
	"context"
	"io"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// FuzzRender is what `aeraki render` does with arbitrary YAML: decode it,
// translate it with the built-in plugins, and write the result. It must
// not panic or fail to write, and whatever it emits must pass the gate
// istiod's parse goes through (EnvoyFilter.Validate). The seeds in
// testdata/fuzz/FuzzRender are the hostile inputs that found bugs and
// valid meshes (examples/, Aeraki's demo manifests, plugin goldens);
// plain `go test` runs them.
func FuzzRender(f *testing.F) {
	defaults := builtin.Plugins()
	reg, err := plugin.NewRegistry(defaults...)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := model.NewBuilder(model.Options{})
		diags := file.LoadBytes("fuzz.yaml", data, b, file.Options{})
		tr, err := translate.New(translate.Options{Registry: reg, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		out, err := tr.TranslateContext(context.Background(), b.Build())
		if err != nil {
			t.Fatal(err)
		}
		res := &render.Result{Output: out, Diagnostics: append(diags, out.Diagnostics...)}
		for _, ef := range out.EnvoyFilters {
			if err := ef.Validate(); err != nil {
				t.Fatalf("EnvoyFilter %s/%s does not validate: %v", ef.Namespace, ef.Name, err)
			}
		}
		for _, format := range []string{"yaml", "json"} {
			if err := res.WriteManifestsTo(context.Background(), io.Discard, format); err != nil {
				t.Fatalf("writing %s: %v", format, err)
			}
		}
		for _, id := range res.ProxyIDs() {
			p, err := res.Proxy(id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := render.ProxyDocument(p); err != nil {
				t.Fatalf("proxy %s: %v", id, err)
			}
		}
	})
}
