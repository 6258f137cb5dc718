package plugin

import (
	"sort"

	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// Targets says which proxy build (profile) runs in each place aeraki
// configures, so every build is for a known binary: plugins choose their
// filters by it and the fidelity gate checks the result against it.
//
// The zero value is not useful; start from DefaultTargets.
type Targets struct {
	// Sidecar is the build of Istio's sidecars and gateways, which get
	// aeraki's config through istiod as EnvoyFilters (RoleSidecarOutbound,
	// RoleSidecarInbound). Default istio-proxy.
	Sidecar *profile.Profile
	// Proxies are the builds of the proxies aeraki serves over ADS, by
	// kind: waypoints and ztunnels upstream Envoy, proxyless clients
	// grpc-go. A kind not listed gets upstream Envoy.
	Proxies map[ProxyKind]*profile.Profile
	// IstioWaypoint is the build of the waypoints istiod deploys and
	// serves (GatewayClass istio-waypoint), which get aeraki's chains as
	// EnvoyFilters through istiod (RoleWaypoint with
	// BuildContext.WaypointServedBy istiod). Default istio-proxy, the
	// image istiod's waypoints run.
	IstioWaypoint *profile.Profile
}

// DefaultTargets are the builds a stock install runs: istio-proxy for
// sidecars, upstream Envoy for the waypoints and ztunnels aeraki serves,
// grpc-go for proxyless clients.
func DefaultTargets() Targets {
	return Targets{
		Sidecar: defaultSidecar(),
		Proxies: map[ProxyKind]*profile.Profile{
			ProxyKindWaypoint:  defaultForKind(ProxyKindWaypoint),
			ProxyKindZtunnel:   defaultForKind(ProxyKindZtunnel),
			ProxyKindProxyless: defaultForKind(ProxyKindProxyless),
		},
		IstioWaypoint: defaultSidecar(),
	}
}

// defaultSidecar is DefaultTargets' Sidecar and IstioWaypoint, without
// building the whole Targets (a map) for one lookup: NewBuildContext
// and the fallbacks below run once per unit built.
func defaultSidecar() *profile.Profile { return profile.MustGet(profile.IstioProxy) }

// defaultForKind is DefaultTargets' Proxies[kind], or nil for a kind it
// does not list.
func defaultForKind(kind ProxyKind) *profile.Profile {
	switch kind {
	case ProxyKindWaypoint, ProxyKindZtunnel:
		return profile.MustGet(profile.Envoy)
	case ProxyKindProxyless:
		return profile.MustGet(profile.GRPCGo)
	}
	return nil
}

// defaultForRole is DefaultTargets().ForRole(role).
func defaultForRole(role Role) *profile.Profile {
	if role == RoleWaypoint {
		return defaultForKind(ProxyKindWaypoint)
	}
	return defaultSidecar()
}

// ForIstioWaypoint is the build of the waypoints istiod serves.
func (t Targets) ForIstioWaypoint() *profile.Profile {
	if t.IstioWaypoint != nil {
		return t.IstioWaypoint
	}
	return defaultSidecar()
}

// ForKind is the build of the proxies of a kind served over ADS.
func (t Targets) ForKind(kind ProxyKind) *profile.Profile {
	if p := t.Proxies[kind]; p != nil {
		return p
	}
	if p := defaultForKind(kind); p != nil {
		return p
	}
	return profile.MustGet(profile.Envoy)
}

// ForRole is the build a port is built for in role: the sidecar's for the
// sidecar roles, the waypoint kind's for RoleWaypoint.
func (t Targets) ForRole(role Role) *profile.Profile {
	if role == RoleWaypoint {
		return t.ForKind(ProxyKindWaypoint)
	}
	if t.Sidecar != nil {
		return t.Sidecar
	}
	return defaultSidecar()
}

// RoleBuilds lists the distinct builds of the roles protocol plugins
// build for (the sidecar's, the waypoint's and istiod's waypoints'), sorted by name: what a
// validator may assume some proxy can run.
func (t Targets) RoleBuilds() []*profile.Profile {
	seen := map[string]*profile.Profile{}
	for _, r := range Roles() {
		if p := t.ForRole(r); p != nil {
			seen[p.Name] = p
		}
	}
	if p := t.ForIstioWaypoint(); p != nil {
		seen[p.Name] = p
	}
	out := make([]*profile.Profile, 0, len(seen))
	for _, p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
