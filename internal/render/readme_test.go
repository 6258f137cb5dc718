package render_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/render"
)

// TestREADMEShowsWhatExamplesDubboRenders keeps README's "See what a
// MetaRouter becomes" honest: the dubbo_proxy filter it shows (with @type
// lines trimmed) is the one `aeraki render -f examples/dubbo` prints in
// the outbound EnvoyFilter, and the annotation it names is there.
func TestREADMEShowsWhatExamplesDubboRenders(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, rest, ok := strings.Cut(readme, "## See what a MetaRouter becomes")
	if !ok {
		t.Fatal(`README has no "See what a MetaRouter becomes" section`)
	}
	_, block, ok := strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatal("the section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	var shown map[string]any
	if err := yaml.Unmarshal([]byte(block), &shown); err != nil {
		t.Fatalf("README's yaml block: %v", err)
	}

	res, err := render.Render(render.Options{Paths: []string{"../../examples/dubbo"}, Recursive: true, Registry: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	if errs := res.Errors(); len(errs) != 0 {
		t.Fatalf("examples/dubbo renders with errors: %v", errs)
	}
	// Round-trip through YAML, as the command prints it.
	var docs []map[string]any
	for _, m := range res.Manifests() {
		y, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := yaml.Unmarshal(y, &d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	var found []any
	for _, d := range docs {
		meta, _ := d["metadata"].(map[string]any)
		if !strings.Contains(meta["name"].(string), "outbound") {
			continue
		}
		ann, _ := meta["annotations"].(map[string]any)
		if ann["aeraki.io/proxy-build"] != "istio-proxy" {
			t.Errorf("EnvoyFilter %s: annotation aeraki.io/proxy-build is %v, README says istio-proxy", meta["name"], ann["aeraki.io/proxy-build"])
		}
		findFilter(d, shown["name"], &found)
	}
	if len(found) != 1 {
		t.Fatalf("found %d %v filters in the outbound EnvoyFilters, want 1", len(found), shown["name"])
	}
	got := trimType(found[0])
	if !reflect.DeepEqual(got, any(shown)) {
		want, _ := yaml.Marshal(shown)
		have, _ := yaml.Marshal(got)
		t.Errorf("README's filter differs from what examples/dubbo renders.\nREADME:\n%s\nrendered (@type trimmed):\n%s", want, have)
	}
	for _, s := range []string{"dubbo_proxy", "0.0.0.0_20880", "virtualInbound"} {
		if !strings.Contains(rest, s) {
			t.Errorf("README's section does not mention %s", s)
		}
	}
}

// findFilter collects every map under v whose name is name.
func findFilter(v any, name any, out *[]any) {
	switch x := v.(type) {
	case map[string]any:
		if x["name"] == name {
			if _, ok := x["typedConfig"]; ok {
				*out = append(*out, x)
				return
			}
		}
		for _, c := range x {
			findFilter(c, name, out)
		}
	case []any:
		for _, c := range x {
			findFilter(c, name, out)
		}
	}
}

// trimType drops "@type" keys, as README does.
func trimType(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, c := range x {
			if k != "@type" {
				m[k] = trimType(c)
			}
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, c := range x {
			l[i] = trimType(c)
		}
		return l
	}
	return v
}
