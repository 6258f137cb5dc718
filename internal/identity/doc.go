// Package identity keeps aeraki's own TLS identity current: the
// certificate its xDS/MCP server presents on 15012 and the roots client
// certificates are checked against.
//
// A certificate comes from one of two places:
//
//   - Istio's CA (Rotator): a key generated in memory, never written to
//     disk, and a certificate for aeraki's ServiceAccount identity from
//     istiod (internal/istioca), renewed once half its lifetime has passed
//     (istio-agent's SECRET_GRACE_PERIOD_RATIO) and retried with backoff
//     while the CA is unreachable. A certificate from Istio's CA carries
//     only the SPIFFE URI, no DNS name.
//   - A mounted Secret (Dir): tls.crt, tls.key and optionally ca.crt in a
//     directory, the layout of a kubernetes.io/tls Secret and of
//     cert-manager's Certificates, read again when the files change.
//
// Roots (the mesh root clients' certificates must chain to) come from the
// istio-ca-root-cert ConfigMap istiod writes into every namespace
// (ConfigMapRoots), from a file (FileRoots), or from a Dir's ca.crt.
//
// ServerConfig puts them together into the tls.Config of a server: each
// handshake gets the certificates and roots of the moment, so rotation
// never needs a restart and never drops a connection (a connection keeps
// the certificate it was opened with).
package identity
