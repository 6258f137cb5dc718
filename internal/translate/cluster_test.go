package translate_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// patcher is a fakePlugin that also patches clusters and leaves inbound at L4.
type patcher struct {
	fakePlugin
	patch func(ctx *plugin.BuildContext, subset string) (*clusterv3.Cluster, error)
}

func (p *patcher) PatchCluster(ctx *plugin.BuildContext, subset string) (*clusterv3.Cluster, error) {
	return p.patch(ctx, subset)
}

func newPatcher(patch func(*plugin.BuildContext, string) (*clusterv3.Cluster, error)) *patcher {
	return &patcher{
		fakePlugin: fakePlugin{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
			if ctx.Role == plugin.RoleSidecarInbound {
				return nil, fmt.Errorf("nothing to add inbound: %w", plugin.ErrSkipPort)
			}
			return validFilter(ctx), nil
		}},
		patch: patch,
	}
}

// TestClusterPatchesBecomeMergePatchesByName: a ClusterPatcher's fields
// reach sidecars as CLUSTER MERGE patches, one per cluster (service and
// each subset), matched by exact name; ErrSkipPort leaves inbound alone.
func TestClusterPatchesBecomeMergePatchesByName(t *testing.T) {
	p := newPatcher(func(ctx *plugin.BuildContext, subset string) (*clusterv3.Cluster, error) {
		return &clusterv3.Cluster{ConnectTimeout: durationpb.New(3 * time.Second)}, nil
	})
	out := newTranslator(t, p).Translate(snapshot(t, mesh))
	if len(errorsOf(out)) > 0 {
		t.Fatalf("unexpected errors: %v", errorsOf(out))
	}
	if ef := envoyFilter(out, "aeraki-inbound-a.ns.svc.cluster.local"); ef != nil {
		t.Fatalf("a skipped inbound role must not be patched: %v", ef.Spec())
	}
	ef := envoyFilter(out, "aeraki-outbound-a.ns.svc.cluster.local")
	if err := ef.Validate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cp := range ef.Spec().ConfigPatches {
		if cp.ApplyTo.String() != "CLUSTER" {
			continue
		}
		if cp.Patch.Operation.String() != "MERGE" || cp.Match.Context.String() != "SIDECAR_OUTBOUND" {
			t.Errorf("cluster patch %v: want a SIDECAR_OUTBOUND MERGE", cp)
		}
		names = append(names, cp.Match.GetCluster().GetName())
	}
	want := "outbound|20880||a.ns.svc.cluster.local,outbound|20880|v1|a.ns.svc.cluster.local,outbound|20880|v2|a.ns.svc.cluster.local"
	if strings.Join(names, ",") != want {
		t.Fatalf("cluster patches for %v, want %s", names, want)
	}
	for _, u := range out.Units {
		if u.Role == plugin.RoleSidecarInbound && (!u.Skipped || u.FailedClosed) {
			t.Errorf("unit %s: want skipped, not failed", u.Key)
		}
	}
}

// TestInvalidClusterPatchFailsClosed: a patch that makes the cluster
// invalid never leaves the translator; the port fails closed.
func TestInvalidClusterPatchFailsClosed(t *testing.T) {
	p := newPatcher(func(ctx *plugin.BuildContext, subset string) (*clusterv3.Cluster, error) {
		return &clusterv3.Cluster{ConnectTimeout: durationpb.New(-time.Second)}, nil
	})
	out := newTranslator(t, p).Translate(snapshot(t, mesh))
	failed := 0
	for _, u := range out.Units {
		if u.Role == plugin.RoleSidecarOutbound && u.FailedClosed {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d outbound units failed closed, want 2 (a and b)", failed)
	}
	for _, ef := range out.EnvoyFilters {
		for _, cp := range ef.Spec().ConfigPatches {
			if cp.ApplyTo.String() == "CLUSTER" {
				t.Fatalf("an invalid cluster patch was let through: %v", cp)
			}
		}
	}
	found := false
	for _, d := range errorsOf(out) {
		found = found || strings.Contains(d.Message, "cluster patch failed validation")
	}
	if !found {
		t.Fatalf("want the invalid patch reported, got %v", out.Diagnostics)
	}
}

// TestChainPatcherReachesProxyBuilders: a ProxyBuilder gets the unit's
// patch through L7Chain.PatchCluster, and nothing for a skipped role.
func TestChainPatcherReachesProxyBuilders(t *testing.T) {
	p := newPatcher(func(ctx *plugin.BuildContext, subset string) (*clusterv3.Cluster, error) {
		return &clusterv3.Cluster{ConnectTimeout: durationpb.New(time.Duration(len(subset)+1) * time.Second)}, nil
	})
	var got []string
	pb := &proxyBuilder{build: func(ctx *plugin.ProxyContext) {
		svc := ctx.Model.Service("a.ns.svc.cluster.local")
		chain, ok := ctx.L7(plugin.L7Request{Role: plugin.RoleWaypoint, Service: svc, Port: svc.Ports[0], Waypoint: model.ObjectRef{Kind: "Gateway", Namespace: "ns", Name: "wp"}})
		if !ok || chain.PatchCluster == nil {
			got = append(got, "no patcher")
			return
		}
		for _, subset := range []string{"", "v1", "unknown"} {
			c := &clusterv3.Cluster{Name: subset}
			chain.PatchCluster(c, subset)
			got = append(got, c.ConnectTimeout.AsDuration().String())
		}
		if _, ok := ctx.L7(plugin.L7Request{Role: plugin.RoleSidecarInbound, Service: svc, Port: svc.Ports[0]}); ok {
			got = append(got, "skipped role offered")
		}
	}}
	newTranslator(t, p, pb).Translate(snapshot(t, mesh))
	if strings.Join(got, ",") != "1s,3s,1s" {
		t.Fatalf("patched timeouts %v, want 1s (service), 3s (v1), 1s (unknown subset gets the service's)", got)
	}
}

// proxyBuilder is a ProxyBuilder that lets a test look at L7 chains.
type proxyBuilder struct {
	build func(ctx *plugin.ProxyContext)
}

func (b *proxyBuilder) Name() string                            { return "proxies" }
func (b *proxyBuilder) Protocols() []model.Protocol             { return nil }
func (b *proxyBuilder) ProxyIDs(*model.View) []string           { return []string{"test"} }
func (b *proxyBuilder) MatchNode(_ *corev3.Node) (string, bool) { return "", false }
func (b *proxyBuilder) BuildProxy(ctx *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	b.build(ctx)
	return &plugin.Proxy{ID: id}, nil
}
