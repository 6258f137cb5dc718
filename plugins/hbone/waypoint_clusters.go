package hbone

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// vipClusters collects the inbound-vip|<port>|<subset>|<host> clusters a
// waypoint needs: one per bound port, plus every cluster a protocol
// plugin's routes name (another subset, another service).
type vipClusters struct {
	w    *waypoint
	keys map[string]vipKey
}

// vipKey is what an inbound-vip cluster name says.
type vipKey struct {
	name   string
	host   string
	port   uint32
	subset string
}

func newVIPClusters(w *waypoint) *vipClusters { return &vipClusters{w: w, keys: map[string]vipKey{}} }

// add records the cluster for host, port and subset and returns its name.
func (c *vipClusters) add(host string, port uint32, subset string) string {
	name := model.ClusterName("inbound-vip", port, subset, host)
	c.keys[name] = vipKey{name: name, host: host, port: port, subset: subset}
	return name
}

// addReferenced records the clusters the filters of svc's chain route to.
// A name the waypoint cannot build is reported on the service: that route
// would find no cluster.
func (c *vipClusters) addReferenced(svc *model.Service, filters []*listenerv3.Filter) {
	for _, f := range filters {
		for _, name := range xds.ReferencedClusters(f) {
			if name == plugin.ClusterBlackHole {
				continue // every waypoint has it: where denied calls go
			}
			k, ok := parseVIPCluster(name)
			if !ok {
				c.w.ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: svc.Ref, Reason: "UnknownCluster",
					Message: fmt.Sprintf("the L7 chain of waypoint %s/%s routes to cluster %q, which is not an inbound-vip|<port>|<subset>|<host> cluster the waypoint can build; calls on that route fail",
						c.w.wp.Namespace, c.w.wp.Name, name)})
				continue
			}
			c.keys[name] = k
		}
	}
}

// parseVIPCluster reads "inbound-vip|<port>|<subset>|<host>".
func parseVIPCluster(name string) (vipKey, bool) {
	parts := strings.SplitN(name, "|", 4)
	if len(parts) != 4 || parts[0] != "inbound-vip" || parts[3] == "" {
		return vipKey{}, false
	}
	port, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || port == 0 {
		return vipKey{}, false
	}
	return vipKey{name: name, host: parts[3], port: uint32(port), subset: parts[2]}, true
}

// allClusters lists the waypoint's clusters, sorted by name, and the EDS
// resources of the inbound-vip ones.
func (w *waypoint) allClusters() ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	out := []*clusterv3.Cluster{
		listenerCluster(ClusterMainInternal, ListenerMainInternal),
		listenerCluster(ClusterEncap, ListenerConnectOriginate),
		hboneCluster(ClusterConnectOriginate, w.identity, w.td),
		blackHoleCluster(),
	}
	var eds []*endpointv3.ClusterLoadAssignment
	names := make([]string, 0, len(w.clusters.keys))
	for n := range w.clusters.keys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k := w.clusters.keys[n]
		c := edsInternalCluster(n)
		if patch := w.patches[patchKey(k.host, k.port)]; patch != nil {
			patch(c, k.subset)
		}
		out = append(out, c)
		eds = append(eds, w.vipEndpoints(k))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, eds
}

// vipEndpoints are the endpoints of an inbound-vip cluster: the service
// port's endpoints in the subset, each an internal address on
// connect_originate whose metadata holds <pod IP>:<target port>. Endpoints
// outside the mesh cannot be reached over HBONE and are left out, with a
// warning on the service.
func (w *waypoint) vipEndpoints(k vipKey) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: k.name}
	svc := w.view.Service(k.host)
	var selector map[string]string
	if k.subset != "" {
		ss, ok := w.view.Subset(k.host, k.subset)
		if !ok {
			return cla // the route's validation reported the unknown subset
		}
		selector = ss.Labels
	}
	var eps []*endpointv3.LbEndpoint
	skipped := 0
	for _, ep := range w.view.Endpoints(k.host, k.port) {
		if !model.LabelsMatch(selector, ep.Labels) || ep.Port == 0 {
			continue
		}
		if ok, _ := w.view.Captured(ep.Workload); !ok {
			skipped++
			continue
		}
		eps = append(eps, internalEndpoint(ListenerConnectOriginate, hostPort(ep.Address, ep.Port), "", ep.Ready))
	}
	if skipped > 0 && svc != nil {
		w.ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Object: svc.Ref, Reason: "EndpointNotInMesh",
			Message: fmt.Sprintf("%d endpoint(s) of %s port %d are not in the ambient mesh; waypoint %s/%s reaches workloads over HBONE only and leaves them out (put their pods in the mesh: %s=%s on the namespace, and no %s=%s on the pods)",
				skipped, k.host, k.port, w.wp.Namespace, w.wp.Name, model.LabelDataplaneMode, model.DataplaneModeAmbient, model.LabelDataplaneMode, model.DataplaneModeNone)})
	}
	if len(eps) > 0 {
		cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps}}
	}
	return cla
}
