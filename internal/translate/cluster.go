package translate

import (
	"errors"
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// ClusterPatch is what a ClusterPatcher plugin asked to merge into one
// upstream cluster of a unit's port.
type ClusterPatch struct {
	// Subset is the DestinationRule subset, "" for the service's cluster.
	Subset string
	// Name is the cluster's name in the unit's role.
	Name string
	// Patch holds the fields to merge (proto.Merge semantics).
	Patch *clusterv3.Cluster
}

// patchClusters asks a ClusterPatcher for the service's cluster and each
// of its subsets' clusters, in the roles that own upstream clusters, and
// validates every patch merged into a cluster shaped like the one the
// proxy has (walks pruned by r).
func patchClusters(p plugin.Plugin, ctx *plugin.BuildContext, r *xds.Reach) ([]ClusterPatch, error) {
	cp, ok := p.(plugin.ClusterPatcher)
	if !ok || (ctx.Role != plugin.RoleSidecarOutbound && ctx.Role != plugin.RoleWaypoint) {
		return nil, nil
	}
	subsets := []string{""}
	for _, ss := range ctx.Model.Subsets(ctx.Service.Hostname) {
		subsets = append(subsets, ss.Name)
	}
	var out []ClusterPatch
	var errs []error
	for _, subset := range subsets {
		patch, err := cp.PatchCluster(ctx, subset)
		if err != nil {
			return nil, err
		}
		if patch == nil {
			continue
		}
		name := ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, subset)
		if err := r.Validate(MergedCluster(name, patch)); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", name, err))
		}
		out = append(out, ClusterPatch{Subset: subset, Name: name, Patch: patch})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("cluster patch failed validation: %w", errors.Join(errs...))
	}
	return out, nil
}

// MergedCluster is patch merged into an EDS cluster like the one istiod
// generates for a service port: what Envoy will validate, so what a
// cluster patch is validated as (a patch alone lacks required fields).
func MergedCluster(name string, patch *clusterv3.Cluster) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			ServiceName: name,
			EdsConfig:   &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}, ResourceApiVersion: corev3.ApiVersion_V3},
		},
		ConnectTimeout: durationpb.New(10 * time.Second),
	}
	proto.Merge(c, patch)
	return c
}

// chainPatcher is the L7Chain.PatchCluster of a unit: it merges the unit's
// patch for the subset, or the service-level one for a subset it does not
// know, into a ProxyBuilder's cluster.
func chainPatcher(patches []ClusterPatch) func(*clusterv3.Cluster, string) {
	if len(patches) == 0 {
		return nil
	}
	by := map[string]*clusterv3.Cluster{}
	for _, p := range patches {
		by[p.Subset] = p.Patch
	}
	return func(c *clusterv3.Cluster, subset string) {
		patch, ok := by[subset]
		if !ok {
			patch = by[""]
		}
		if patch != nil {
			proto.Merge(c, patch)
		}
	}
}

// clusterPatches turns a sidecar outbound unit's cluster patches into
// EnvoyFilter CLUSTER patches. Each matches its cluster by exact name: an
// Istio ClusterMatch by service and port with an empty subset would also
// match every subset's cluster, and merging twice appends repeated fields
// twice.
func clusterPatches(u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
	if u.FailedClosed {
		return nil
	}
	var out []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch
	for _, p := range u.ClusterPatches { // the service's cluster first, then subsets in DestinationRule order
		out = append(out, &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{
			ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER,
			Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{
				Context:     networkingv1alpha3.EnvoyFilter_SIDECAR_OUTBOUND,
				ObjectTypes: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch_Cluster{Cluster: &networkingv1alpha3.EnvoyFilter_ClusterMatch{Name: p.Name}},
			},
			Patch: &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE, Value: toStruct(p.Patch)},
		})
	}
	return out
}

// patchTarget is the Envoy message an EnvoyFilter patch's value decodes
// into, for validation: a cluster for CLUSTER patches (checked merged into
// an istiod-like cluster), a network filter otherwise.
func patchTarget(p *networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch) (proto.Message, func(proto.Message) proto.Message) {
	if p.GetApplyTo() == networkingv1alpha3.EnvoyFilter_CLUSTER {
		return &clusterv3.Cluster{}, func(m proto.Message) proto.Message {
			return MergedCluster(p.GetMatch().GetCluster().GetName(), m.(*clusterv3.Cluster))
		}
	}
	return &listenerv3.Filter{}, func(m proto.Message) proto.Message { return m }
}

// withClusterPatches adds a unit's CLUSTER patches after its listener patches.
func withClusterPatches(listener patchFunc) patchFunc {
	return func(svc *model.Service, u *Unit) []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch {
		return append(listener(svc, u), clusterPatches(u)...)
	}
}
