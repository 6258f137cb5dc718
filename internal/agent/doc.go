// Package agent is `aeraki agent`: the certificate agent that runs beside
// an Envoy aeraki serves (a waypoint of aeraki's own class, or an
// Envoy-based ztunnel). It gets certificates from Istio's CA
// (internal/istioca) with the pod's projected ServiceAccount token, keeps
// them fresh (internal/identity's Rotator: renewed at half their
// lifetime, retried with backoff) and serves them to Envoy over SDS on a
// Unix socket, under the names aeraki's config asks for: the SPIFFE id of
// the identity (plugins/hbone, hboneTLS) and ROOTCA, the mesh's trust
// bundle.
//
// It exists because istio-agent cannot do this job: istio-agent answers
// every SDS request with its own ServiceAccount's certificate, whatever
// name is asked for (security/pkg/nodeagent/cache/secretcache.go in
// istio/istio), so an Envoy ztunnel asking for one secret per pod identity
// would silently present its own identity on every tunnel.
//
// Two modes:
//
//   - Waypoint (ModeWaypoint): one identity, the pod's own (a waypoint runs
//     as the ServiceAccount its Gateway's Deployment names). A request for
//     any other name is left unanswered and logged: Envoy keeps waiting for
//     that secret rather than presenting a certificate of another identity.
//   - Ztunnel (ModeZtunnel): an identity per name Envoy asks for, each
//     requested from the CA with ImpersonatedIdentity. istiod signs such a
//     request only when the caller's ServiceAccount is listed in its
//     CA_TRUSTED_NODE_ACCOUNTS and a pod running as the requested identity
//     is on the caller's node (security/pkg/server/ca/node_auth.go,
//     authenticateImpersonation); the caller's pod is read from the token,
//     so the token must be the pod-bound one kubelet projects. istiod is
//     the one that decides; the agent only asks for what Envoy asks for
//     (names outside the trust domain are not asked for), and reports
//     refusals (Identities).
//
// SDS is go-control-plane's server over a LinearCache of secrets: a
// request names the secrets wanted, and each is sent once it is in and
// again on every renewal. The first answer to a request without a version
// may hold none of them (LinearCache answers such a request at once);
// Envoy's SotW mux passes a response to a named watch only when it holds
// one of its resources (source/extensions/config_subscription/grpc/
// grpc_mux_impl.cc, onDiscoveryResponse), so Envoy just ACKs it and waits.
//
// ROOTCA is the mesh root file the agent also verifies istiod with (the
// istio-ca-root-cert ConfigMap mounted as a file), re-read when it
// changes. Keys are generated in memory and never written to disk; they
// leave the process only over the socket, whose directory should be an
// emptyDir shared with Envoy alone.
package agent
