package hbone

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

var _ plugin.IstiodWaypointModeler = (*Plugin)(nil)

// IstiodWaypointModel implements plugin.IstiodWaypointModeler: a model, for `aeraki trace`, of the config istiod
// serves a waypoint of class istio-waypoint, which aeraki does not serve
// and so never sees: built from the same data path as aeraki's own
// waypoints (connect_terminate, main_internal, connect_originate; istiod's
// connect_terminate also stores the caller's SPIFFE id in
// io.istio.peer_principal, pilot/pkg/xds/filters/filters.go
// ConnectAuthorityFilter) with istiod's names (package istiodwaypoint):
// one main_internal chain per bound service port named
// inbound-vip|<port>|tcp|<host> (inbound-vip|<port>|http|<host> for HTTP
// ports, proxied at L4 here), clusters inbound-vip|<port>|tcp|<host> and
// inbound-vip|<port>|tcp/<subset>|<host> for every DestinationRule subset
// of every bound service, and no BlackHoleCluster (istiod's waypoint CDS
// has none: pilot/pkg/networking/core/cluster_waypoint.go).
//
// patched returns what aeraki's EnvoyFilter does to a port's chain: the
// filters it inserts before istiod's tcp_proxy, and the filter that
// replaces tcp_proxy (nil: istiod's tcp_proxy to the port's cluster stays). The istio.metadata_exchange filter
// istiod puts first in each chain is left out: it only exchanges peer
// metadata for telemetry.
func (*Plugin) IstiodWaypointModel(view *model.View, wp *model.Waypoint, patched func(svc *model.Service, port *model.Port) (before []*listenerv3.Filter, terminal *listenerv3.Filter)) *plugin.Proxy {
	ctx := plugin.NewProxyContext(Name, view, nil)
	id := WaypointID(wp.Namespace, wp.Name)
	w := &waypoint{ctx: ctx, view: view, id: id, wp: wp, td: view.Options().TrustDomain}
	w.identity = view.WaypointIdentity(wp)
	w.clusters = newVIPClusters(w)
	for _, svc := range view.Services() {
		if !w.bound(view.ServiceWaypoint(svc)) || len(svc.Addresses) == 0 {
			continue
		}
		s := &wpService{svc: svc}
		for _, port := range svc.Ports {
			kind, _ := istiodwaypoint.Classify(svc, port)
			name := istiodwaypoint.ChainName(svc.Hostname, port.Number)
			cluster := istiodwaypoint.ClusterName(svc.Hostname, port.Number, "")
			if kind == istiodwaypoint.PortHTTP {
				name = istiodwaypoint.HTTPChainName(svc.Hostname, port.Number)
				cluster = name
			}
			w.clusters.keys[cluster] = vipKey{name: cluster, host: svc.Hostname, port: port.Number}
			if kind != istiodwaypoint.PortHTTP {
				for _, ss := range view.Subsets(svc.Hostname) {
					n := istiodwaypoint.ClusterName(svc.Hostname, port.Number, ss.Name)
					w.clusters.keys[n] = vipKey{name: n, host: svc.Hostname, port: port.Number, subset: ss.Name}
				}
			}
			before, terminal := patched(svc, port)
			if terminal == nil {
				terminal = tcpProxy(name, cluster)
			}
			s.ports = append(s.ports, &wpPort{port: port, chain: chain(name, append(before, terminal)...)})
		}
		w.services = append(w.services, s)
	}
	_ = w.collectWorkloads() // a context of its own: the piece's build does not fail
	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindWaypoint}
	p.Listeners = append(p.Listeners, w.connectTerminateListener(), w.mainInternalListener(), w.connectOriginateListener())
	clusters, eds := w.allClusters()
	for _, c := range clusters {
		if c.GetName() != plugin.ClusterBlackHole {
			p.Clusters = append(p.Clusters, c)
		}
	}
	p.Endpoints = eds
	return p
}
