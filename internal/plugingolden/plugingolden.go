// Package plugingolden is the golden-file harness the built-in protocol
// plugins share: it renders one input file the way `aeraki render` does
// (diagnostics and sidecar EnvoyFilters) and adds, for every service port
// the plugin owns, what the plugin builds for the waypoint role, which the
// HBONE plugin embeds in the waypoint's per-service chain. Every message
// is validated on the way (xds.Validate, Any contents included).
package plugingolden

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// Registry builds a registry of plugins configured with the input's
// "# plugin-options: k=v,k=v" header lines (keys as <plugin>.<key>).
func Registry(t *testing.T, in string, plugins ...plugin.Plugin) *plugin.Registry {
	t.Helper()
	reg, err := plugin.NewRegistry(plugins...)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Configure(Options(t, in)); err != nil {
		t.Fatal(err)
	}
	return reg
}

// Options reads the "# plugin-options:" header lines of a file.
func Options(t *testing.T, path string) map[string]string {
	t.Helper()
	return header(t, path, "# plugin-options:")
}

// Targets reads the "# proxy-builds: sidecar=<profile>,waypoint=<profile>"
// header lines of a file: the builds to render for, defaults elsewhere.
func Targets(t *testing.T, path string) plugin.Targets {
	t.Helper()
	tg := plugin.DefaultTargets()
	for k, v := range header(t, path, "# proxy-builds:") {
		p, err := profile.Get(v)
		if err != nil {
			t.Fatalf("%s: proxy-builds %s=%s: %v", path, k, v, err)
		}
		if k == "sidecar" {
			tg.Sidecar = p
		} else {
			tg.Proxies[plugin.ProxyKind(k)] = p
		}
	}
	return tg
}

func header(t *testing.T, path, prefix string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		for _, kv := range strings.Split(line, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
				opts[k] = v
			}
		}
	}
	return opts
}

// Render renders in with reg and returns the golden text: diagnostics,
// sidecar EnvoyFilters, then one "# waypoint" document per port the named
// plugin owns. Secrets are shown as served unless redact is set.
func Render(t *testing.T, in string, reg *plugin.Registry, pluginName string, redact bool) string {
	t.Helper()
	targets := Targets(t, in)
	res, err := render.Render(render.Options{Paths: []string{in}, Registry: reg, ShowSecrets: !redact, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	for _, ef := range res.Output.EnvoyFilters {
		if err := ef.Validate(); err != nil {
			t.Errorf("EnvoyFilter %s/%s: %v", ef.Namespace, ef.Name, err)
		}
	}
	var b strings.Builder
	b.WriteString(render.Golden(res))
	p, ok := reg.Get(pluginName)
	if !ok {
		t.Fatalf("no plugin %q", pluginName)
	}
	view := res.Output.Snapshot.View()
	for _, svc := range view.Services() {
		for _, port := range svc.Ports {
			if reg.ForPort(port) != p {
				continue
			}
			build := targets.ForKind(plugin.ProxyKindWaypoint)
			classes := waypointCallers(p, res.Output.Snapshot, svc, port, build)
			b.WriteString(waypoint(t, p, res.Output.Snapshot, svc, port, build, redact, nil))
			for i := range classes {
				b.WriteString(waypoint(t, p, res.Output.Snapshot, svc, port, build, redact, &classes[i]))
			}
		}
	}
	return b.String()
}

// waypointContext is the build context the translator gives a plugin for
// one port of an aeraki-served waypoint, which picks chains by caller
// when its build can.
func waypointContext(p plugin.Plugin, snap *model.Snapshot, svc *model.Service, port *model.Port, build *profile.Profile, caller *plugin.Caller) *plugin.BuildContext {
	view := snap.View()
	ctx := plugin.NewBuildContext(p.Name(), view, plugin.RoleWaypoint, svc, port)
	ctx.Profile = build
	ctx.Waypoint = model.ObjectRef{Group: "gateway.networking.k8s.io", Kind: "Gateway", Namespace: svc.Namespace, Name: "waypoint"}
	ctx.MetaRouters = view.MetaRouters(svc.Hostname)
	ctx.ByCaller, ctx.Caller = hbone.PicksByCaller(build), caller
	return ctx
}

// waypointCallers are the caller classes a CallerClassifier plugin asks
// for on the port.
func waypointCallers(p plugin.Plugin, snap *model.Snapshot, svc *model.Service, port *model.Port, build *profile.Profile) []plugin.Caller {
	cc, ok := p.(plugin.CallerClassifier)
	if !ok || !hbone.PicksByCaller(build) {
		return nil
	}
	return cc.CallerClasses(waypointContext(p, snap, svc, port, build, nil))
}

// waypoint builds one port for the waypoint role the way the translator
// does for the HBONE plugin (the chain of callers in no class when caller
// is nil, else that class's chain), and renders it as a YAML document.
func waypoint(t *testing.T, p plugin.Plugin, snap *model.Snapshot, svc *model.Service, port *model.Port, build *profile.Profile, redact bool, caller *plugin.Caller) string {
	t.Helper()
	ctx := waypointContext(p, snap, svc, port, build, caller)
	doc := map[string]any{"waypoint": fmt.Sprintf("%s:%d", svc.Hostname, port.Number)}
	if caller != nil {
		doc["callers"] = caller.String()
	}
	var msgs []proto.Message
	err := func() error {
		if rb, ok := p.(plugin.RouteConfigBuilder); ok {
			rc, err := rb.BuildRouteConfig(ctx)
			if err != nil {
				return err
			}
			ctx.RouteConfig = rc
		}
		filters, err := p.(plugin.NetworkFilterBuilder).BuildNetworkFilters(ctx)
		if err != nil {
			return err
		}
		var fs []any
		for _, f := range filters {
			msgs = append(msgs, f)
			fs = append(fs, jsonOf(t, f, redact))
		}
		doc["filters"] = fs
		if cp, ok := p.(plugin.ClusterPatcher); ok {
			patch, err := cp.PatchCluster(ctx, "")
			if err != nil {
				return err
			}
			if patch != nil {
				// Validated merged into a cluster, as the waypoint would.
				msgs = append(msgs, translate.MergedCluster(ctx.ClusterName(svc.Hostname, port.Number, ""), patch))
				doc["clusterPatch"] = jsonOf(t, patch, redact)
			}
		}
		return nil
	}()
	switch {
	case errors.Is(err, plugin.ErrSkipPort):
		doc["skipped"] = "left at L4: " + err.Error()
	case err != nil:
		doc["error"] = err.Error()
	}
	for _, m := range msgs {
		if err := xds.Validate(m); err != nil {
			t.Errorf("waypoint %s:%d: %v", svc.Hostname, port.Number, err)
		}
		for _, f := range fidelity.Errors(fidelity.Check(build, m)) {
			t.Errorf("waypoint %s:%d on %s: %s", svc.Hostname, port.Number, build, f)
		}
	}
	var diags []string
	for _, d := range ctx.Reports() {
		diags = append(diags, d.String())
	}
	if len(diags) > 0 {
		doc["diagnostics"] = diags
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	who := ""
	if caller != nil {
		who = ", chain of caller class " + caller.String()
	}
	return "---\n# waypoint role (proxy build " + build.Name + who + "), as the HBONE plugin embeds it\n" + string(out)
}

func jsonOf(t *testing.T, m proto.Message, redact bool) any {
	t.Helper()
	if redact {
		m = xds.Redact(m)
	}
	raw, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
