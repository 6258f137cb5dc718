// Package waypoint deploys the waypoints of aeraki's own GatewayClass
// (aeraki-waypoint by default, controllerName aeraki.io/waypoint-controller)
// and writes their status, the way istiod's deployment controller does for
// istio-waypoint Gateways. It runs on the replica that holds the leader
// Lease, beside the status writer (internal/kubemode).
//
// For each Gateway of the class it server-side applies, owned by the
// Gateway, from a template the operator can replace (DefaultTemplate,
// `aeraki serve --waypoint-template`):
//
//   - a ServiceAccount named like the Gateway: the waypoint's identity,
//     spiffe://<trust domain>/ns/<ns>/sa/<gateway>, which is also what
//     aeraki serves the waypoint's config to (plugins/hbone's
//     AuthorizeProxy);
//   - a Service named like the Gateway with the HBONE port 15008 and the
//     status port 15021;
//   - a Deployment running upstream Envoy (the envoy profile) with a
//     generated bootstrap (Bootstrap) passed as --config-yaml, and
//     `aeraki agent --mode=waypoint` beside it serving the waypoint's
//     certificate over SDS on a shared Unix socket.
//
// Status: Accepted=True on the GatewayClass (created when missing) and on
// each Gateway; Programmed=True once the objects are applied and the
// Service has a cluster IP, which goes into status.addresses. That address
// is what makes istiod treat the Gateway as a waypoint: istiod reads any
// Gateway with status.addresses as one, whatever its class
// (pilot/pkg/serviceregistry/ambient/waypoints.go in istio/istio,
// gatewayToWaypointTransform, getGatewayAddress), and tells ztunnels over
// WDS that services bound to it (istio.io/use-waypoint) go to that
// address with HBONE port 15008.
//
// Deleting a Gateway deletes its objects through their owner references
// (Kubernetes' garbage collector); a Gateway moved to another class keeps
// them until deleted.
package waypoint
