// Package istioca is a client of Istio's certificate authority: istiod's
// IstioCertificateService/CreateCertificate, served on istiod's TLS port
// 15012. It is how aeraki gets a workload certificate for its own
// SPIFFE identity, and how a node agent gets certificates for the
// workloads it serves (ImpersonatedIdentity, istiod's
// CA_TRUSTED_NODE_ACCOUNTS).
//
// It calls the CA the way istio-agent does
// (security/pkg/nodeagent/caclient/providers/citadel/client.go in
// istio/istio):
//
//   - over TLS, verifying istiod's certificate against the mesh root
//     (the istio-ca-root-cert ConfigMap) and istiod's DNS name
//     (istiod.<namespace>.svc, istiod's own DNS certificate);
//   - authenticated by a Kubernetes ServiceAccount token in the
//     "authorization: Bearer <token>" header (caclient/credentials.go).
//     istiod checks it with a TokenReview for the audience "istio-ca"
//     (security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go,
//     security/pkg/k8s/tokenreview/k8sauthn.go), so the token must be a
//     projected token with that audience;
//   - with the cluster id in the "ClusterID" header when one is set.
//
// The CA signs the CSR's public key for the caller's identity: the
// subject alternative names it writes are the authenticated identity
// (or the impersonated one), never the CSR's
// (security/pkg/server/ca/server.go, CreateCertificate). A certificate
// from Istio's CA therefore carries exactly one URI SAN,
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, and no DNS
// name. The requested lifetime is honoured up to istiod's
// MAX_WORKLOAD_CERT_TTL (90 days by default); zero asks for istiod's
// DEFAULT_WORKLOAD_CERT_TTL (24h).
//
// The package only talks to the CA. Keeping a certificate fresh is
// internal/identity's job.
package istioca
