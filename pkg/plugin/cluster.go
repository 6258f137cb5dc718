package plugin

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

// ClusterPatcher is implemented by plugins whose protocol needs settings on
// the upstream clusters of the ports they claim, not only on the listener:
// Redis credentials (typed_extension_protocol_options), Envoy's Redis
// Cluster discovery (cluster_type envoy.clusters.redis), a connect timeout.
//
// PatchCluster returns the fields to set on the cluster that carries
// traffic to ctx.Service's ctx.Port in ctx.Role, for subset ("" is the
// service's own cluster, named by ctx.ClusterName(host, port, "")). The
// result is merged into that cluster with proto.Merge semantics: scalar
// and singular message fields replace, oneofs switch, maps add keys, and
// repeated fields append (so do not rely on replacing a list). Return nil
// to leave the cluster as it is.
//
// On sidecars aeraki turns the result into an EnvoyFilter CLUSTER patch
// (MERGE) matched by the cluster's exact name, so istiod applies it to the
// cluster it generates; in waypoints the ProxyBuilder merges it, through
// L7Chain.PatchCluster, into the cluster it builds. Only the roles that
// own upstream clusters ask: RoleSidecarOutbound and RoleWaypoint (a
// sidecar's inbound cluster is the local workload). The merged cluster must
// pass ValidateAll; aeraki checks that before anything is served, and a
// returned error fails the port closed like a NetworkFilterBuilder error.
type ClusterPatcher interface {
	PatchCluster(ctx *BuildContext, subset string) (*clusterv3.Cluster, error)
}
