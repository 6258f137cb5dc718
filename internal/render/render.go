// Package render is `aeraki render`: load a directory, translate it, and
// print the config one kind of proxy would receive.
package render

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
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
	// ShowSecrets prints credentials (Redis passwords) as they are served;
	// by default Manifests and translate.RedactProxy replace them.
	ShowSecrets bool
	// Targets are the proxy builds to render for; the defaults
	// (plugin.DefaultTargets) fill what is unset.
	Targets plugin.Targets
	// Profiles names the builds that would carry what a target lacks, in
	// messages; profile.Builtin() when nil.
	Profiles *profile.Catalog
}

// Result is a rendered directory.
type Result struct {
	// Output is the translation.
	Output *translate.Output
	// Diagnostics are the source's and the translation's findings together.
	Diagnostics []model.Diagnostic
	// ShowSecrets is Options.ShowSecrets.
	ShowSecrets bool
}

// Render loads opts.Paths and translates them.
func Render(opts Options) (*Result, error) { return RenderContext(context.Background(), opts) }

// RenderContext is Render that stops as soon as ctx ends (the signal
// context of `aeraki render` and `aeraki trace`) and returns ctx's error:
// loading stops between two reads or documents, translation between two
// units.
func RenderContext(ctx context.Context, opts Options) (*Result, error) {
	if opts.Model.Protocols == nil && opts.Registry != nil {
		opts.Model = opts.Registry.Bind(opts.Model) // the plugins decide which protocol a port means and bring their kinds
	}
	b := model.NewBuilder(opts.Model)
	diags, err := file.LoadPaths(ctx, opts.Paths, opts.Recursive, b, opts.File)
	if err != nil {
		return nil, err
	}
	tr, err := translate.New(translate.Options{Registry: opts.Registry, Targets: opts.Targets, Profiles: opts.Profiles})
	if err != nil {
		return nil, err
	}
	out, err := tr.TranslateContext(ctx, b.Build())
	if err != nil {
		return nil, err
	}
	return &Result{Output: out, Diagnostics: append(diags, out.Diagnostics...), ShowSecrets: opts.ShowSecrets}, nil
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

// ProxyIDs lists the proxies served over ADS that the directory produced.
func (r *Result) ProxyIDs() []string {
	out := make([]string, 0, len(r.Output.Proxies))
	for _, p := range r.Output.Proxies {
		out = append(out, p.ID)
	}
	return out
}

// Proxy returns the config of one proxy served over ADS ("ztunnel/<node>",
// "waypoint/<ns>/<name>"), or an error naming the ones there are.
func (r *Result) Proxy(id string) (*plugin.Proxy, error) {
	for _, p := range r.Output.Proxies {
		if p.ID == id {
			return p.Proxy, nil
		}
	}
	ids := r.ProxyIDs()
	if len(ids) == 0 {
		return nil, fmt.Errorf("no proxy %q: the manifests produce no ztunnel or waypoint (label a namespace istio.io/dataplane-mode=ambient, or add a Gateway of class %s)", id, r.Output.Snapshot.Options().WaypointClass)
	}
	return nil, fmt.Errorf("no proxy %q: the manifests produce %s", id, strings.Join(ids, ", "))
}

// IstiodWaypoint reports whether id ("waypoint/<ns>/<name>") names a
// waypoint istiod serves (class istio-waypoint), and returns the
// EnvoyFilters that target it: aeraki builds no proxy for it.
func (r *Result) IstiodWaypoint(id string) ([]*translate.EnvoyFilter, *model.Waypoint, bool) {
	rest, ok := strings.CutPrefix(id, "waypoint/")
	ns, name, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return nil, nil, false
	}
	wp := r.Output.Snapshot.View().Waypoint(ns, name)
	if wp == nil || wp.ServedBy != model.ServedByIstiod {
		return nil, nil, false
	}
	var out []*translate.EnvoyFilter
	for _, ef := range r.Output.EnvoyFilters {
		if ef.Annotation(translate.WaypointAnnotation) == ns+"/"+name {
			out = append(out, ef)
		}
	}
	return out, wp, true
}

// Build names the proxy build a proxy served over ADS was built and
// checked for, "" when there is no such proxy.
func (r *Result) Build(id string) string {
	for _, p := range r.Output.Proxies {
		if p.ID == id && p.Profile != nil {
			return p.Profile.Name
		}
	}
	return ""
}

// ProxyDocument turns a proxy's resources into plain data, with Envoy's
// field names (snake_case) and every Any expanded, as `envoy
// --config-yaml` and config dumps show them.
func ProxyDocument(p *plugin.Proxy) (map[string]any, error) {
	doc := map[string]any{"id": p.ID, "kind": string(p.Kind)}
	add := func(key string, msgs []proto.Message) error {
		if len(msgs) == 0 {
			return nil
		}
		list := make([]any, 0, len(msgs))
		for _, m := range msgs {
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
			if err != nil {
				return fmt.Errorf("proxy %s: %s: %w", p.ID, key, err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
			list = append(list, v)
		}
		doc[key] = list
		return nil
	}
	for _, part := range []struct {
		key  string
		msgs []proto.Message
	}{
		{"listeners", messages(p.Listeners)}, {"routes", messages(p.Routes)}, {"clusters", messages(p.Clusters)},
		{"endpoints", messages(p.Endpoints)}, {"secrets", messages(p.Secrets)},
	} {
		if err := add(part.key, part.msgs); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func messages[T proto.Message](list []T) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}
