package plugin

import "github.com/aeraki-ng/aeraki/pkg/model"

// Peer is the client of an xDS stream, as aeraki authenticated it on its
// TLS address: the SPIFFE identities of the certificate it presented,
// verified against the mesh root, and the address it connects from.
type Peer struct {
	// Identities are the URI SANs of the client's verified certificate,
	// "spiffe://<trust-domain>/ns/<ns>/sa/<sa>"; never empty when a
	// ProxyAuthorizer is asked (a client without a certificate is refused
	// before).
	Identities []string
	// Address is the client's IP address.
	Address string
}

// ProxyAuthorizer is implemented by ProxyBuilders to say who may read the
// proxies they build. A proxy's config is everything the proxy can
// reach and, for some, credentials, so aeraki serves it on its TLS
// address only to a client whose certificate proves it is that proxy, the
// way istiod checks a proxy's identity against its node
// (pilot/pkg/xds/auth.go in istio/istio). A ProxyBuilder that does not
// implement it has its proxies refused to every client there.
type ProxyAuthorizer interface {
	// AuthorizeProxy returns nil when peer may read the config of the
	// proxy id (one MatchNode returned), and otherwise an error that says
	// what was missing: the client sees it, so it must name identities
	// and proxy ids only, never config. view is the current snapshot's;
	// lookups through it are not tracked.
	AuthorizeProxy(view *model.View, id string, peer Peer) error
}
