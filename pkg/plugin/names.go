package plugin

// Names shared by protocol plugins and the ProxyBuilders that embed their
// chains, so both sides of a waypoint agree without importing each other.
const (
	// ClusterBlackHole is a cluster without endpoints that every proxy aeraki
	// programs has: istiod generates it for sidecars, and a waypoint's
	// ProxyBuilder must build it. A route that must refuse calls (a request
	// denied by an authorization policy) sends them there, so the call fails
	// with no upstream and never reaches a workload. ProxyBuilders must accept
	// it among the clusters an L7 chain names.
	ClusterBlackHole = "BlackHoleCluster"

	// FilterStatePeerPrincipal is the filter state key under which a
	// waypoint's ProxyBuilder stores the SPIFFE id of the HBONE peer
	// ("spiffe://<td>/ns/<ns>/sa/<sa>", from %DOWNSTREAM_PEER_URI_SAN% at
	// connect_terminate, a string object shared with the upstream internal
	// connection), so L7 chains behind the internal listener can authorize
	// the caller: there is no TLS peer on the internal connection itself.
	// The name is Istio's, so operators recognise it in config dumps.
	FilterStatePeerPrincipal = "io.istio.peer_principal"
)
