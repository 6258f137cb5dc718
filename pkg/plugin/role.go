package plugin

// Role is the kind of proxy, and the side of it, a build is for. Names
// and defaults differ by role: cluster names, stat prefixes, and whether
// routes pick a destination (outbound, waypoint) or deliver to the local
// workload (inbound).
type Role int

const (
	// RoleSidecarOutbound is a sidecar's listener for calls its workload makes.
	RoleSidecarOutbound Role = iota + 1
	// RoleSidecarInbound is a sidecar's virtualInbound chain for calls its
	// workload receives: routes deliver to the local workload, so only
	// policy (authorization, rate limits) applies.
	RoleSidecarInbound
	// RoleWaypoint is a waypoint's per-service chain in main_internal.
	RoleWaypoint
)

// String is the role's name in logs and golden files.
func (r Role) String() string {
	switch r {
	case RoleSidecarOutbound:
		return "sidecar-outbound"
	case RoleSidecarInbound:
		return "sidecar-inbound"
	case RoleWaypoint:
		return "waypoint"
	}
	return "unknown"
}

// Roles lists every role, in the order builds run.
func Roles() []Role { return []Role{RoleSidecarOutbound, RoleSidecarInbound, RoleWaypoint} }
