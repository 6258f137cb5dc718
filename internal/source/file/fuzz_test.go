package file

import (
	"context"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// FuzzDecode feeds arbitrary bytes to the manifest decoder, as a file in
// a config directory. It must not panic, and must account for every
// document: each one that is not blank is an object of the snapshot or
// the subject of a diagnostic naming the file and the document (nothing
// is dropped in silence). The seeds in testdata/fuzz/FuzzDecode are the
// hostile inputs that found bugs (wrongly typed headers, out-of-range
// ports and weights, oversized regexes, alias bombs, deep nesting, invalid
// UTF-8) and valid meshes; plain `go test` runs them.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		b := model.NewBuilder(model.Options{})
		diags := append(LoadBytes(name, data, b, Options{}), b.Diagnostics()...)
		snap := b.Build()
		accounted := map[int]bool{}
		for _, o := range snap.Objects() {
			if o.Origin.File != name {
				t.Fatalf("%s has origin %q", o.Ref, o.Origin)
			}
			accounted[o.Origin.Index] = true
		}
		splitFailedAt := -1
		for _, d := range diags {
			if d.Origin.File != name || d.Message == "" {
				t.Fatalf("diagnostic without a file or a message: %#v", d)
			}
			accounted[d.Origin.Index] = true
			if d.Reason == "InvalidYAML" && strings.Contains(d.Message, "cannot split") {
				splitFailedAt = d.Origin.Index
			}
		}
		// Objects replaced by a later duplicate carry the later origin, so
		// an earlier document of the same object is accounted for by the
		// duplicate warning of the later one.
		dups := 0
		for _, d := range diags {
			if d.Reason == "Duplicate" {
				dups++
			}
		}
		docs, _ := splitDocuments(data)
		missing := 0
		for i, doc := range docs {
			if splitFailedAt >= 0 && i >= splitFailedAt {
				break
			}
			if accounted[i] || isBlank(doc) || isNull(doc) {
				continue
			}
			t.Logf("document %d is unaccounted for: %.200q", i, doc)
			missing++
		}
		if missing > dups {
			t.Fatalf("%d documents neither loaded nor reported (diagnostics: %v)", missing-dups, diags)
		}
	})
}

// isNull reports whether a document decodes to YAML's null (`~`, `null`,
// or only a document marker), which is no object and nothing to report.
func isNull(doc []byte) bool {
	d := decodeDocuments(context.Background(), "n.yaml", doc, model.NewKindIndex(nil), Options{})
	return len(d) == 0
}
