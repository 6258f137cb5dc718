// Package istiodwaypoint is what aeraki knows about the waypoints istiod
// serves (Gateways of class istio-waypoint), as data in one place: the
// names istiod gives their listeners, filter chains and clusters, which
// service ports it builds a TCP chain for, and how an EnvoyFilter must
// target one of them to be applied at all.
//
// aeraki patches those waypoints with EnvoyFilters over MCP. Istio
// documents EnvoyFilter on waypoints as unsupported and liable to change,
// and every patch depends on the names below: they were read in istiod's
// source at the commit aeraki's tests build (tools/istio,
// istio.io/istio b01690e6db7d) and are checked against that istiod by
// TestIstiodWaypointServesAerakiRoutes (pkg/aeraki), which fails naming the
// chain or cluster it no longer finds when istiod renames them.
//
// Sources, relative to istio/istio:
//
//   - pilot/pkg/networking/core/waypoint.go (buildWaypointInternal): the
//     internal listener main_internal; per service port a chain named
//     after its cluster, inbound-vip|<port>|tcp|<host> for TCP ports (filters
//     istio.metadata_exchange, tcp_proxy) and inbound-vip|<port>|http|<host>
//     for HTTP ports; ports of unknown protocol get both chains and the HTTP
//     inspector picks one per connection; pod-addressed traffic goes to the
//     chains direct-tcp and direct-http.
//   - pilot/pkg/networking/core/cluster_waypoint.go (buildWaypointInboundVIP):
//     for every service bound to the waypoint, clusters
//     inbound-vip|<port>|tcp|<host> for its TCP and sniffed ports, and
//     inbound-vip|<port>|tcp/<subset>|<host> for each DestinationRule subset;
//     no BlackHoleCluster. pilot/pkg/networking/core/cluster.go
//     (BuildClusters, case model.Waypoint) applies no EnvoyFilter CLUSTER
//     MERGE to them, only inserted clusters.
//   - pilot/pkg/serviceregistry/serviceentry/conversion.go (convertPort): a
//     ServiceEntry port's protocol is protocol.Parse of its protocol field.
//   - pkg/config/kube/conversion.go (ConvertProtocol) and
//     pkg/config/protocol/instance.go (Parse, IsTCP, IsHTTP): a port's
//     protocol is its appProtocol when set, else its name, up to the first
//     '-'; a name istiod does not know is "unsupported" and sniffed, except
//     on the well-known ports 25, 53, 3306 and 27017, which are TCP.
//   - pilot/pkg/model/policyattachment.go (ShouldAttachPolicy): an
//     EnvoyFilter reaches a waypoint only through targetRefs naming its
//     Gateway (in its namespace) or the istio-waypoint GatewayClass (in the
//     root namespace); one with a workloadSelector, or none, is not applied.
//   - pilot/pkg/xds/filters/filters.go (ConnectAuthorityFilter): the
//     waypoint's connect_terminate stores the caller's SPIFFE id in the
//     filter state io.istio.peer_principal, shared with main_internal, which
//     is what network RBAC in a patched chain checks.
package istiodwaypoint
