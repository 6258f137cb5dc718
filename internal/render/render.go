// Package render is `aeraki render`: load a directory, translate it, and
// print the config one kind of proxy would receive.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Options say what to render.
type Options struct {
	// Paths are the files and directories of manifests, as kubectl -f takes them.
	Paths []string
	// Recursive reads directories recursively, as kubectl -R.
	Recursive bool
	// File carries the default namespace.
	File file.Options
	// Model carries the mesh settings.
	Model model.Options
	// Registry holds the plugins.
	Registry *plugin.Registry
}

// Result is a rendered directory.
type Result struct {
	// Output is the translation.
	Output *translate.Output
	// Diagnostics are the source's and the translation's findings together.
	Diagnostics []model.Diagnostic
}

// Render loads opts.Paths and translates them.
func Render(opts Options) (*Result, error) {
	b := model.NewBuilder(opts.Model)
	diags, err := file.LoadPaths(opts.Paths, opts.Recursive, b, opts.File)
	if err != nil {
		return nil, err
	}
	tr, err := translate.New(translate.Options{Registry: opts.Registry})
	if err != nil {
		return nil, err
	}
	out := tr.Translate(b.Build())
	return &Result{Output: out, Diagnostics: append(diags, out.Diagnostics...)}, nil
}

// Errors returns the error diagnostics.
func (r *Result) Errors() []model.Diagnostic {
	var out []model.Diagnostic
	for _, d := range r.Diagnostics {
		if d.Severity == model.SeverityError {
			out = append(out, d)
		}
	}
	return out
}

// Manifests returns the sidecar EnvoyFilters as Kubernetes objects.
func (r *Result) Manifests() []map[string]any {
	var out []map[string]any
	for _, ef := range r.Output.EnvoyFilters {
		out = append(out, ef.Manifest())
	}
	return out
}

// WriteManifests prints objects as a YAML stream ("yaml") or a
// Kubernetes List ("json"); both can be given to kubectl apply.
func WriteManifests(w io.Writer, objects []map[string]any, format string) error {
	switch format {
	case "", "yaml":
		for _, o := range objects {
			b, err := yaml.Marshal(o)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
				return err
			}
		}
		return nil
	case "json":
		items := objects
		if items == nil {
			items = []map[string]any{}
		}
		b, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	default:
		return fmt.Errorf("unknown output format %q: use yaml or json", format)
	}
}

// WriteDiagnostics prints findings one per line; info notes only when verbose.
func WriteDiagnostics(w io.Writer, diags []model.Diagnostic, verbose bool) {
	for _, d := range diags {
		if d.Severity == model.SeverityInfo && !verbose {
			continue
		}
		fmt.Fprintln(w, d.String())
	}
}

// Golden renders a result the way golden files record it: the
// diagnostics (warnings and errors) as comments, then the manifests.
func Golden(r *Result) string {
	var b strings.Builder
	b.WriteString("# diagnostics:\n")
	n := 0
	for _, d := range r.Diagnostics {
		if d.Severity == model.SeverityInfo {
			continue
		}
		n++
		fmt.Fprintf(&b, "# %s\n", d.String())
	}
	if n == 0 {
		b.WriteString("# none\n")
	}
	_ = WriteManifests(&b, r.Manifests(), "yaml")
	return b.String()
}
