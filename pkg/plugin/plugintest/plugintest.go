package plugintest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Options adapt the standard scenarios to a plugin.
type Options struct {
	// Protocol is the protocol exercised; default the plugin's first
	// claimed protocol. Required for plugins that claim only
	// plugin.AnyMetaProtocol.
	Protocol model.Protocol
	// PortName names the service port; default "tcp-metaprotocol-<protocol>".
	PortName string
	// Attribute is the MetaRouter attribute used in match scenarios; default "method".
	Attribute string
	// Manifests are extra YAML documents the plugin needs to exist (an
	// ApplicationProtocol naming its codec, a Secret, ...), in namespace
	// "plugintest" unless they say otherwise.
	Manifests string
	// PluginOptions are handed to Configure when the plugin is Configurable.
	PluginOptions map[string]string
	// NoRouting says the plugin does not route (an L4 or policy-only
	// protocol): the checks that MetaRouter routes reach the output are
	// skipped. Everything else still applies.
	NoRouting bool
	// Concurrency is how many goroutines build at once in the concurrency
	// check; default 8.
	Concurrency int
	// Targets are the proxy builds the plugin is run for (the sidecar's
	// for the sidecar roles, the waypoint kind's for the waypoint role);
	// plugin.DefaultTargets() fills what is unset. Every output must pass
	// the fidelity gate for its build: no extension the build lacks, no
	// field Envoy does not implement.
	Targets plugin.Targets
}

// The mesh every scenario runs in.
const (
	Namespace = "plugintest"
	Host      = "svc.plugintest.svc.cluster.local"
	OtherHost = "other.plugintest.svc.cluster.local"
	Port      = 9000
)

// Run puts p through every scenario, each as a subtest of t.
func Run(t *testing.T, p plugin.Plugin, opts Options) {
	t.Helper()
	k, err := newKit(p, opts)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	for _, sc := range k.scenarios() {
		t.Run(sc.name, func(t *testing.T) { k.run(t, sc) })
	}
	t.Run("concurrent-builds", k.concurrency)
}

type kit struct {
	p    plugin.Plugin
	reg  *plugin.Registry
	opts Options
}

func newKit(p plugin.Plugin, opts Options) (*kit, error) {
	if p == nil {
		return nil, fmt.Errorf("nil plugin")
	}
	if opts.Protocol == "" {
		for _, pr := range p.Protocols() {
			if pr != plugin.AnyMetaProtocol {
				opts.Protocol = pr
				break
			}
		}
	}
	if opts.Protocol == "" {
		return nil, fmt.Errorf("plugin %q claims no named protocol: set Options.Protocol", p.Name())
	}
	if opts.PortName == "" {
		opts.PortName = "tcp-metaprotocol-" + string(opts.Protocol)
	}
	if opts.Attribute == "" {
		opts.Attribute = "method"
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	d := plugin.DefaultTargets()
	if opts.Targets.Sidecar == nil {
		opts.Targets.Sidecar = d.Sidecar
	}
	if opts.Targets.Proxies == nil {
		opts.Targets.Proxies = d.Proxies
	}
	if _, ok := p.(plugin.NetworkFilterBuilder); !ok {
		return nil, fmt.Errorf("plugin %q has no NetworkFilterBuilder: there is nothing to check", p.Name())
	}
	reg, err := plugin.NewRegistry(p)
	if err != nil {
		return nil, err
	}
	if err := reg.Configure(prefixed(p.Name(), opts.PluginOptions)); err != nil {
		return nil, err
	}
	port := &model.Port{Name: opts.PortName, ProtocolInfo: model.DetectProtocolWith(reg, opts.PortName, "")}
	if o := reg.ForPort(port); o == nil || o.Name() != p.Name() {
		return nil, fmt.Errorf("port %q (protocol %q) is not claimed by plugin %q: set Options.PortName or Options.Protocol", opts.PortName, port.Protocol, p.Name())
	}
	return &kit{p: p, reg: reg, opts: opts}, nil
}

func prefixed(name string, opts map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range opts {
		out[name+"."+k] = v
	}
	return out
}

// result is what one translation of a scenario produced for the service.
type result struct {
	out       *translate.Output
	outbound  *translate.Unit
	inbound   *translate.Unit
	waypoint  []*listenerv3.Filter
	wpRoutes  proto.Message
	wpReports []model.Diagnostic
	panicked  any
}

// translateScenario runs the whole pipeline once on a fresh translator.
func (k *kit) translateScenario(t *testing.T, sc scenario) *result {
	t.Helper()
	b := model.NewBuilder(k.reg.Bind(model.Options{}))
	for _, d := range file.LoadBytes("scenario.yaml", []byte(k.mesh()+"\n---\n"+sc.router+"\n---\n"+k.opts.Manifests), b, file.Options{DefaultNamespace: Namespace}) {
		if d.Severity == model.SeverityError {
			t.Fatalf("plugintest scenario input is invalid (is Options.Manifests valid YAML?): %s", d)
		}
	}
	tr, err := translate.New(translate.Options{Registry: k.reg, Workers: 1, Targets: k.opts.Targets})
	if err != nil {
		t.Fatal(err)
	}
	res := &result{out: tr.Translate(b.Build())}
	for _, u := range res.out.Units {
		if u.Service.Hostname != Host {
			continue
		}
		switch u.Role {
		case plugin.RoleSidecarOutbound:
			res.outbound = u
		case plugin.RoleSidecarInbound:
			res.inbound = u
		}
	}
	res.waypoint, res.wpRoutes, res.wpReports, res.panicked = k.buildWaypoint(res.out.Snapshot)
	return res
}

// buildWaypoint calls the plugin directly for the waypoint role, the way
// the HBONE plugin asks for a per-service chain.
func (k *kit) buildWaypoint(snap *model.Snapshot) (filters []*listenerv3.Filter, rc proto.Message, reports []model.Diagnostic, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	view := snap.View()
	svc := view.Service(Host)
	if svc == nil || len(svc.Ports) == 0 {
		return nil, nil, nil, nil
	}
	ctx := plugin.NewBuildContext(k.p.Name(), view, plugin.RoleWaypoint, svc, svc.Ports[0])
	ctx.Profile = k.opts.Targets.ForKind(plugin.ProxyKindWaypoint)
	ctx.Waypoint = model.ObjectRef{Group: "gateway.networking.k8s.io", Kind: "Gateway", Namespace: Namespace, Name: "waypoint"}
	ctx.MetaRouters = view.MetaRouters(Host)
	return k.buildDirect(ctx)
}

// sidecarPacking calls the plugin directly for a sidecar role, as the
// translator does, and returns what xds.Unpacked.Verify finds wrong with
// the messages it packed (any other failure is the translator's to
// report, and is not looked at here).
func (k *kit) sidecarPacking(snap *model.Snapshot, role plugin.Role) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = nil
		}
	}()
	view := snap.View()
	svc := view.Service(Host)
	if svc == nil || len(svc.Ports) == 0 {
		return nil
	}
	ctx := plugin.NewBuildContext(k.p.Name(), view, role, svc, svc.Ports[0])
	ctx.Profile = k.opts.Targets.ForRole(role)
	if role != plugin.RoleSidecarInbound {
		ctx.MetaRouters = view.MetaRouters(Host)
	}
	ctx.Packed = xds.NewUnpacked(nil)
	if rb, ok := k.p.(plugin.RouteConfigBuilder); ok {
		rc, err := rb.BuildRouteConfig(ctx)
		if err != nil {
			return ctx.Packed.Verify()
		}
		ctx.RouteConfig = rc
	}
	_, _ = k.p.(plugin.NetworkFilterBuilder).BuildNetworkFilters(ctx)
	return ctx.Packed.Verify()
}

// buildDirect runs the plugin's builders with ctx, and requires every
// message it packed through ctx.Pack to be what its Any holds once the
// build is done (xds.Unpacked.Verify): the core's checks read those
// messages in place of the Anys' bytes.
func (k *kit) buildDirect(ctx *plugin.BuildContext) (filters []*listenerv3.Filter, rc proto.Message, reports []model.Diagnostic, panicked any) {
	ctx.Packed = xds.NewUnpacked(nil)
	if rb, ok := k.p.(plugin.RouteConfigBuilder); ok {
		var err error
		if rc, err = rb.BuildRouteConfig(ctx); err != nil {
			return nil, nil, ctx.Reports(), fmt.Errorf("BuildRouteConfig: %w", err)
		}
		ctx.RouteConfig = rc
	}
	f, err := k.p.(plugin.NetworkFilterBuilder).BuildNetworkFilters(ctx)
	if err != nil {
		return nil, rc, ctx.Reports(), fmt.Errorf("BuildNetworkFilters: %w", err)
	}
	if err := ctx.Packed.Verify(); err != nil {
		return f, rc, ctx.Reports(), fmt.Errorf("BuildNetworkFilters, for role %s: %w", ctx.Role, err)
	}
	return f, rc, ctx.Reports(), nil
}

// concurrency builds the richest scenario from many goroutines at once and
// requires every result to equal the sequential one.
func (k *kit) concurrency(t *testing.T) {
	sc := k.scenario("subsets-and-weights")
	want := k.translateScenario(t, sc)
	wantBytes := fingerprint(want)
	snap := want.out.Snapshot
	var wg sync.WaitGroup
	errs := make(chan string, k.opts.Concurrency)
	for i := 0; i < k.opts.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, rc, _, p := k.buildWaypoint(snap)
			if p != nil {
				errs <- fmt.Sprintf("panicked or failed: %v", p)
				return
			}
			if got := marshal(append(asMessages(f), rc)...); got != marshal(append(asMessages(want.waypoint), want.wpRoutes)...) {
				errs <- "a concurrent build returned different config"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("plugin %q is not safe for concurrent builds: %s", k.p.Name(), e)
		break
	}
	if again := fingerprint(k.translateScenario(t, sc)); again != wantBytes {
		t.Errorf("plugin %q is not deterministic: the same input gave different output", k.p.Name())
	}
}

func asMessages(fs []*listenerv3.Filter) []proto.Message {
	out := make([]proto.Message, 0, len(fs))
	for _, f := range fs {
		out = append(out, f)
	}
	return out
}

// marshal serializes messages deterministically.
func marshal(ms ...proto.Message) string {
	var b strings.Builder
	for _, m := range ms {
		if m == nil {
			continue
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return "unmarshalable: " + err.Error()
		}
		b.Write(raw)
		b.WriteByte(0)
	}
	return b.String()
}

// fingerprint is the byte form of everything a scenario produced.
func fingerprint(r *result) string {
	var ms []proto.Message
	for _, ef := range r.out.EnvoyFilters {
		ms = append(ms, ef.Spec())
	}
	ms = append(ms, asMessages(r.waypoint)...)
	ms = append(ms, r.wpRoutes)
	return marshal(ms...)
}

// validateAll runs the deep validation and the fidelity check for build
// on a unit's or waypoint's output.
func validateAll(build *profile.Profile, filters []*listenerv3.Filter, rc proto.Message) error {
	var errs []string
	for _, f := range filters {
		if err := xds.Validate(f); err != nil {
			errs = append(errs, err.Error())
		}
		for _, finding := range fidelity.Errors(fidelity.Check(build, f)) {
			errs = append(errs, "on proxy build "+build.Name+": "+finding.Message)
		}
	}
	if rc != nil {
		if err := xds.Validate(rc); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
