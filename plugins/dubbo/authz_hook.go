package dubbo

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// authorizes reports whether a role serves the workload, where its
// DubboAuthorizationPolicies are enforced: a sidecar's inbound side and a
// waypoint. A client's sidecar does not enforce the server's policy.
func authorizes(role plugin.Role) bool {
	return role == plugin.RoleSidecarInbound || role == plugin.RoleWaypoint
}

// authorize adds the call-level part of the workload's policies to a route
// table, reporting on the policies what cannot be enforced exactly. On
// dubbo_proxy what its tables cannot express fails the port closed
// (authz_dubboproxy.go).
func (p *Plugin) authorize(ctx *plugin.BuildContext, rc proto.Message) (proto.Message, error) {
	if !authorizes(ctx.Role) || !hasPolicies(ctx) {
		return rc, nil
	}
	plan := compileAuthz(ctx, true)
	switch t := rc.(type) {
	case *genericv3.RouteConfiguration:
		if !plan.denyAll {
			authorizeRoutes(plan, t)
		}
	case *dubbov3.MultipleRouteConfiguration:
		if plan.needsRoutes() && !plan.denyAll {
			if err := authorizeDubboProxy(ctx, plan, t); err != nil {
				return nil, err
			}
		}
	}
	return rc, nil
}

// withAuthz puts the connection-level part of the workload's policies (network
// RBAC filters) in front of the terminal filter.
func withAuthz(ctx *plugin.BuildContext, filters []*listenerv3.Filter) []*listenerv3.Filter {
	if !authorizes(ctx.Role) || !hasPolicies(ctx) {
		return filters
	}
	return append(authzFilters(ctx, compileAuthz(ctx, false)), filters...)
}

// hasPolicies reports whether any policy applies to the service being
// built. It reads what compileAuthz reads first, so a port without
// policies (most of them) skips compiling an empty plan, which changes
// neither the config nor the reports.
func hasPolicies(ctx *plugin.BuildContext) bool { return len(policiesFor(ctx)) > 0 }
