package render_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// oldWrite is how render wrote manifests before it streamed them: every
// document built first, YAML through sigs.k8s.io/yaml (a JSON round
// trip), JSON as one indented List.
func oldWrite(t *testing.T, objects []map[string]any, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if format == "json" {
		items := objects
		if items == nil {
			items = []map[string]any{}
		}
		out, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
		b.WriteByte('\n')
		return b.Bytes()
	}
	for _, o := range objects {
		out, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	return b.Bytes()
}

// TestStreamedOutputIsByteIdentical: the streaming writer without the
// JSON round trip prints exactly what the old writer printed, for every
// input the golden tests render and for scalars the round trip changes.
func TestStreamedOutputIsByteIdentical(t *testing.T) {
	defaults := builtin.Plugins()
	reg, err := plugin.NewRegistry(defaults...)
	if err != nil {
		t.Fatal(err)
	}
	inputs, _ := filepath.Glob("../../plugins/*/testdata/in/*.yaml")
	more, _ := filepath.Glob("../../plugins/*/testdata/*/in/*.yaml")
	inputs = append(append(inputs, more...), "../../examples/dubbo", "../../examples/ambient-dubbo")
	if len(inputs) < 10 {
		t.Fatalf("only %d inputs found", len(inputs))
	}
	docs := 0
	for _, in := range inputs {
		res, err := render.Render(render.Options{Paths: []string{in}, Registry: reg})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"yaml", "json"} {
			var got bytes.Buffer
			if err := res.WriteManifestsTo(context.Background(), &got, format); err != nil {
				t.Fatal(err)
			}
			if want := oldWrite(t, res.Manifests(), format); !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s, %s: streamed output differs from the old writer's:\n%s\n--- want ---\n%s", in, format, got.Bytes(), want)
			}
		}
		docs += len(res.Output.EnvoyFilters)
	}
	if docs == 0 {
		t.Fatal("the inputs rendered no EnvoyFilter")
	}

	tricky := []map[string]any{{
		"ints":    []any{0.0, 1.0, -7.0, 20880.0, 1e6, 1e15, 1e20, 1e21, 9007199254740993.0},
		"floats":  []any{0.1, 1.5, -2.25, 1e-7, 3.14159},
		"strings": []any{"true", "no", "123", "1e3", "", " x", "a: b", "\xff\xfe bad", "日本", "<&>", "null", "~", "- x", "#c", "multi\nline"},
		"nested":  map[string]any{"\xffkey": map[string]string{"b": "1", "a": "yes"}, "z": nil, "b": true},
	}}
	for _, format := range []string{"yaml", "json"} {
		var got bytes.Buffer
		if err := render.WriteManifests(&got, tricky, format); err != nil {
			t.Fatal(err)
		}
		if want := oldWrite(t, tricky, format); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("tricky scalars, %s:\n%s\n--- want ---\n%s", format, got.Bytes(), want)
		}
	}
	var empty bytes.Buffer
	if err := render.WriteManifests(&empty, nil, "json"); err != nil || !bytes.Equal(empty.Bytes(), oldWrite(t, nil, "json")) {
		t.Errorf("an empty List: %q, %v", empty.String(), err)
	}
}
