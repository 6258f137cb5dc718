package render_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/plugingolden"
	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// fidelityBuilds are the builds every input is rendered for: each runs
// the sidecars, the waypoints and the ztunnels at once.
var fidelityBuilds = []string{profile.IstioProxy, profile.Envoy, profile.AerakiMetaProtocolProxy}

// fidelityInput is one thing to render: paths (a corpus sub-folder is
// applied on top of its parent), the namespace objects without one get,
// and plugin options from a golden file's header.
type fidelityInput struct {
	name      string
	paths     []string
	recursive bool
	namespace string
	options   map[string]string
	// refused marks a golden input ("# fidelity: refused") that shows a
	// refusal on purpose: it must be refused on every build.
	refused bool
}

// fidelityInputs lists every golden input, every example folder and every
// folder of the compatibility corpus (when it is there).
func fidelityInputs(t *testing.T) []fidelityInput {
	t.Helper()
	var out []fidelityInput
	goldens, err := filepath.Glob("../../plugins/*/testdata/in/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../plugins/*/testdata/*/in/*.yaml")
	goldens = append(goldens, more...)
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fidelityInput{name: "golden/" + strings.TrimPrefix(g, "../../"), paths: []string{g}, options: plugingolden.Options(t, g),
			refused: strings.Contains(string(b), "\n# fidelity: refused")})
	}
	for _, d := range []string{"testdata/bad-protocols", "../trace/testdata/protocols"} {
		out = append(out, fidelityInput{name: "testdata/" + filepath.Base(d), paths: []string{d}})
	}
	examples, _ := filepath.Glob("../../examples/*")
	for _, dir := range examples {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			continue // a plugin module: its own conformance test checks it for its build
		}
		out = append(out, fidelityInput{name: "example/" + filepath.Base(dir), paths: []string{dir}, recursive: true})
	}
	if len(goldens) < 30 || len(examples) < 3 {
		t.Fatalf("found %d golden inputs and %d examples: the globs are wrong", len(goldens), len(examples))
	}
	root := corpusDir(t) // skips, saying so, without the corpus
	var rels []string
	for rel := range corpus {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		paths := []string{filepath.Join(root, rel)}
		if parent := filepath.Dir(rel); parent != "." {
			paths = append([]string{filepath.Join(root, parent)}, paths...)
		}
		out = append(out, fidelityInput{name: "corpus/" + rel, paths: paths, namespace: corpus[rel].namespace})
	}
	return out
}

// fidelityProblems renders in for build and returns what the build would
// reject or ignore: findings of the fidelity check on every EnvoyFilter
// patch (decoded as istiod gives it to the sidecar) and on every resource
// of every proxy, and every refusal the gate reported.
func fidelityProblems(t *testing.T, in fidelityInput, build *profile.Profile) []string {
	t.Helper()
	reg := registry(t)
	if err := reg.Configure(in.options); err != nil {
		t.Fatal(err)
	}
	targets := plugin.DefaultTargets()
	targets.Sidecar = build
	targets.Proxies[plugin.ProxyKindWaypoint], targets.Proxies[plugin.ProxyKindZtunnel] = build, build
	targets.IstioWaypoint = build
	res, err := render.Render(render.Options{Paths: in.paths, Recursive: in.recursive, Registry: reg, File: fileOptions(in.namespace), Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ef := range res.Output.EnvoyFilters {
		msgs, err := ef.PatchMessages()
		if err != nil {
			t.Fatalf("EnvoyFilter %s: %v", ef.Name, err)
		}
		for _, m := range msgs {
			for _, f := range fidelity.Errors(fidelity.Check(build, m)) {
				out = append(out, "EnvoyFilter "+ef.Name+": "+f.Message)
			}
		}
	}
	for _, p := range res.Output.Proxies {
		pb := targets.ForKind(p.Kind)
		for _, m := range messagesOf(p.Proxy) {
			for _, f := range fidelity.Errors(fidelity.Check(pb, m)) {
				out = append(out, "proxy "+p.ID+" ("+pb.Name+"): "+f.Message)
			}
		}
	}
	for _, d := range res.Diagnostics {
		if d.Reason == fidelity.ReasonExtensionMissing || d.Reason == fidelity.ReasonNotImplemented || d.Reason == "WeightsNotImplemented" {
			out = append(out, "refused: "+d.String())
		}
	}
	return out
}

// TestEveryInputRunsAsWrittenOnEveryBuild renders every golden input,
// example and corpus folder for each proxy build and requires that the
// output names only extensions the build has and sets no field Envoy
// does not implement, and that the fidelity gate refused nothing: the
// defaults choose, for each build, filters it runs.
func TestEveryInputRunsAsWrittenOnEveryBuild(t *testing.T) {
	inputs := fidelityInputs(t)
	for _, name := range fidelityBuilds {
		build := profile.MustGet(name)
		t.Run(name, func(t *testing.T) {
			for _, in := range inputs {
				t.Run(in.name, func(t *testing.T) {
					problems := fidelityProblems(t, in, build)
					if in.refused {
						if len(problems) == 0 {
							t.Error("marked \"# fidelity: refused\" but nothing was refused")
						}
						return
					}
					for _, p := range problems {
						t.Error(p)
					}
				})
			}
		})
	}
}

// TestOldGenericProxyDefaultFailsOnIstioProxy is the check above on the
// defaults aeraki had before profiles (Dubbo always on generic_proxy):
// on istio-proxy they are refused, which is why the default changed.
func TestOldGenericProxyDefaultFailsOnIstioProxy(t *testing.T) {
	old := map[string]string{"dubbo.filter": "generic_proxy"}
	for _, in := range []fidelityInput{
		{name: "example/dubbo", paths: []string{"../../examples/dubbo"}, recursive: true, options: old},
		{name: "golden/match-exact", paths: []string{"../../plugins/dubbo/testdata/in/match-exact.yaml"}, options: old},
	} {
		t.Run(in.name, func(t *testing.T) {
			problems := fidelityProblems(t, in, profile.MustGet(profile.IstioProxy))
			if len(problems) == 0 {
				t.Fatal("the old generic_proxy default passed on istio-proxy")
			}
			joined := strings.Join(problems, "\n")
			if !strings.Contains(joined, "envoy.filters.network.generic_proxy") && !strings.Contains(joined, "does not implement") {
				t.Errorf("problems do not say generic_proxy is missing or weights are not implemented:\n%s", joined)
			}
			// The same option on upstream Envoy passes where no route splits calls.
			if in.name == "golden/match-exact" {
				if p := fidelityProblems(t, in, profile.MustGet(profile.Envoy)); len(p) != 0 {
					t.Errorf("generic_proxy on upstream Envoy: %v", p)
				}
			}
		})
	}
}

// messagesOf is every resource of a proxy.
func messagesOf(p *plugin.Proxy) []proto.Message {
	var out []proto.Message
	for _, r := range p.Listeners {
		out = append(out, r)
	}
	for _, r := range p.Routes {
		out = append(out, r)
	}
	for _, r := range p.Clusters {
		out = append(out, r)
	}
	for _, r := range p.Endpoints {
		out = append(out, r)
	}
	for _, r := range p.Secrets {
		out = append(out, r)
	}
	return out
}
