package translate_test

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// TestGateVerdictsFollowTheOutput: the gates' verdicts are kept by the
// content of a unit's output and reused for units with equal output, so
// every unit here that builds the same tcp_proxy passes once it has
// passed, while the unit whose filter misses its stat_prefix (refused by
// validation) and the one with generic_proxy (refused by the fidelity
// gate: istio-proxy lacks it) are refused, in the first translation and
// again when the bad outputs move to the other services' units; and a
// refused output is not let through for a unit that builds a good one.
func TestGateVerdictsFollowTheOutput(t *testing.T) {
	type bad struct{ host, role string }
	var invalid, missing bad
	f := &fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		here := bad{ctx.Service.Hostname, ctx.Role.String()}
		switch here {
		case invalid:
			return []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}})}, nil
		case missing:
			return genericFilter(ctx, false), nil
		}
		return []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: "c"}})}, nil
	}}
	tr := translatorWith(t, plugin.DefaultTargets(), f)
	out, in := plugin.RoleSidecarOutbound.String(), plugin.RoleSidecarInbound.String()
	a, b := "a.ns.svc.cluster.local", "b.ns.svc.cluster.local"
	for i, step := range []struct {
		invalid, missing bad
		mesh             string
		refusedKeep      bool // the refused units keep an earlier good output
	}{
		{bad{a, out}, bad{b, in}, mesh, false},
		{bad{b, out}, bad{a, in}, strings.NewReplacer("10.0.0.1", "10.0.0.7", "10.0.0.2", "10.0.0.8").Replace(mesh), true},
	} {
		invalid, missing = step.invalid, step.missing
		res := tr.Translate(snapshot(t, step.mesh))
		refused := map[bad]string{}
		for _, d := range errorsOf(res) {
			for _, u := range res.Units {
				if strings.Contains(d.Message, u.Service.Hostname+" port") && strings.Contains(d.Message, "for "+u.Role.String()) {
					refused[bad{u.Service.Hostname, u.Role.String()}] = d.Reason + ": " + d.Message
				}
			}
		}
		if len(refused) != 2 {
			t.Fatalf("step %d: want 2 units refused, got %v", i, refused)
		}
		if msg := refused[invalid]; !strings.Contains(msg, "failed validation") || !strings.Contains(msg, "StatPrefix") {
			t.Errorf("step %d: %v not refused by validation: %q", i, invalid, msg)
		}
		if msg := refused[missing]; !strings.HasPrefix(msg, fidelity.ReasonExtensionMissing) || !strings.Contains(msg, "generic_proxy") {
			t.Errorf("step %d: %v not refused by the fidelity gate: %q", i, missing, msg)
		}
		for _, u := range res.Units {
			if u.Service.Hostname != a && u.Service.Hostname != b {
				continue
			}
			here := bad{u.Service.Hostname, u.Role.String()}
			isBad := here == invalid || here == missing
			switch {
			case isBad && step.refusedKeep && !u.Stale:
				t.Errorf("step %d: refused unit %s does not keep its last good output", i, u.Key)
			case isBad && !step.refusedKeep && !u.FailedClosed:
				t.Errorf("step %d: refused unit %s does not fail closed", i, u.Key)
			case !isBad && (u.Stale || u.FailedClosed):
				t.Errorf("step %d: unit %s with the good output was refused (stale %v, failed closed %v)", i, u.Key, u.Stale, u.FailedClosed)
			}
		}
	}
}
