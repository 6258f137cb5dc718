package plugintest

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// Snapshot builds a mesh from YAML manifests (several documents separated
// by ---), the way aeraki reads files, for a plugin's own unit tests.
// Namespaced objects without a namespace go to namespace "plugintest". A
// document aeraki would refuse fails the test.
//
// Without a registry, a port's protocol is the first name its appProtocol
// or name spells and only the core's kinds are read; use SnapshotWith to
// have the plugins of a registry decide and bring their kinds, as aeraki
// does.
func Snapshot(t testing.TB, manifests string) *model.Snapshot {
	t.Helper()
	return SnapshotWith(t, nil, manifests)
}

// SnapshotWith is Snapshot with the ports' protocols decided by reg (the
// plugins of the binary under test), as aeraki decides them.
func SnapshotWith(t testing.TB, reg *plugin.Registry, manifests string) *model.Snapshot {
	t.Helper()
	opts := model.Options{}
	if reg != nil {
		opts = reg.Bind(opts)
	}
	b := model.NewBuilder(opts)
	for _, d := range file.LoadBytes("manifests.yaml", []byte(manifests), b, file.Options{DefaultNamespace: Namespace}) {
		if d.Severity == model.SeverityError {
			t.Fatalf("plugintest.Snapshot: %s", d)
		}
	}
	return b.Build()
}

// Build calls p for one service port in one role the way aeraki does
// (BuildRouteConfig, then BuildNetworkFilters with its result), with the
// host's MetaRouters from snap, and returns what it built and reported.
// It does not validate the routers: use Run for the full pipeline.
func Build(t testing.TB, p plugin.Plugin, snap *model.Snapshot, role plugin.Role, host string, port uint32) ([]*listenerv3.Filter, proto.Message, []model.Diagnostic) {
	t.Helper()
	return BuildFor(t, p, snap, role, nil, host, port)
}

// BuildFor is Build for a proxy running build (nil: the role's default,
// istio-proxy for sidecars and upstream Envoy for waypoints).
func BuildFor(t testing.TB, p plugin.Plugin, snap *model.Snapshot, role plugin.Role, build *profile.Profile, host string, port uint32) ([]*listenerv3.Filter, proto.Message, []model.Diagnostic) {
	t.Helper()
	view := snap.View()
	svc := view.Service(host)
	if svc == nil {
		t.Fatalf("plugintest.Build: no service %s in the snapshot", host)
	}
	sp := svc.Port(port)
	if sp == nil {
		t.Fatalf("plugintest.Build: service %s has no port %d", host, port)
	}
	ctx := plugin.NewBuildContext(p.Name(), view, role, svc, sp)
	if build != nil {
		ctx.Profile = build
	}
	if role != plugin.RoleSidecarInbound {
		ctx.MetaRouters = view.MetaRouters(host)
	}
	if role == plugin.RoleWaypoint {
		ctx.Waypoint = model.ObjectRef{Group: "gateway.networking.k8s.io", Kind: "Gateway", Namespace: svc.Namespace, Name: "waypoint"}
	}
	var rc proto.Message
	if rb, ok := p.(plugin.RouteConfigBuilder); ok {
		var err error
		if rc, err = rb.BuildRouteConfig(ctx); err != nil {
			t.Fatalf("plugintest.Build: BuildRouteConfig: %v", err)
		}
		ctx.RouteConfig = rc
	}
	nb, ok := p.(plugin.NetworkFilterBuilder)
	if !ok {
		t.Fatalf("plugintest.Build: plugin %q has no NetworkFilterBuilder", p.Name())
	}
	filters, err := nb.BuildNetworkFilters(ctx)
	if err != nil {
		t.Fatalf("plugintest.Build: BuildNetworkFilters: %v", err)
	}
	return filters, rc, ctx.Reports()
}
