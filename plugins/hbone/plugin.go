package hbone

import (
	"fmt"
	"strings"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Name is the plugin's registered name.
const Name = "hbone"

// OptionZtunnelServiceAccounts is the plugin option naming the
// ServiceAccounts (namespace/name, comma separated) ztunnels run as.
const OptionZtunnelServiceAccounts = "ztunnel-service-accounts"

// Plugin builds ztunnel and waypoint proxies. It claims no protocol: the
// protocol plugins fill the waypoints' L7 chains.
type Plugin struct {
	ztunnelSAs []string // namespace/name; DefaultZtunnelServiceAccounts when nil
}

var (
	_ plugin.ProxyBuilder = (*Plugin)(nil)
	_ plugin.Describer    = (*Plugin)(nil)
	_ plugin.Configurable = (*Plugin)(nil)
)

// Configure implements plugin.Configurable; a key not given keeps its
// value.
func (p *Plugin) Configure(opts map[string]string) error {
	for k, v := range opts {
		switch k {
		case OptionZtunnelServiceAccounts:
			p.ztunnelSAs = nil
			for _, sa := range strings.Split(v, ",") {
				sa = strings.TrimSpace(sa)
				ns, name, ok := strings.Cut(sa, "/")
				if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
					return fmt.Errorf("option %s=%q: write namespace/serviceaccount[,namespace/serviceaccount...]", k, v)
				}
				p.ztunnelSAs = append(p.ztunnelSAs, sa)
			}
		default:
			return fmt.Errorf("unknown option %q; known options: %s", k, OptionZtunnelServiceAccounts)
		}
	}
	return nil
}

func (p *Plugin) ztunnelAccounts() []string {
	if p.ztunnelSAs == nil {
		return DefaultZtunnelServiceAccounts
	}
	return p.ztunnelSAs
}

// New returns the HBONE plugin.
func New() *Plugin { return &Plugin{} }

// Name implements plugin.Plugin.
func (p *Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin: none; the plugin owns whole proxies.
func (p *Plugin) Protocols() []model.Protocol { return nil }

// Description implements plugin.Describer.
func (p *Plugin) Description() string {
	return "ambient mesh: ztunnel and waypoint proxies over ADS, HBONE with upstream Envoy extensions"
}

// ProxyIDs implements plugin.ProxyBuilder: a ztunnel for every node that
// runs pods, once any pod is in the ambient mesh, and every waypoint of
// aeraki's own class.
func (p *Plugin) ProxyIDs(view *model.View) []string {
	var ids []string
	if meshHasCapturedPods(view) {
		for _, node := range view.Nodes() {
			ids = append(ids, ZtunnelID(node))
		}
	}
	for _, wp := range view.Waypoints() {
		if wp.AerakiServed() { // istiod serves istio-waypoint Gateways
			ids = append(ids, WaypointID(wp.Namespace, wp.Name))
		}
	}
	return ids
}

func meshHasCapturedPods(view *model.View) bool {
	for _, w := range view.Workloads() {
		if ok, _ := view.Captured(w); ok {
			return true
		}
	}
	return false
}

// BuildProxy implements plugin.ProxyBuilder.
func (p *Plugin) BuildProxy(ctx *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	kind, rest, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	switch kind {
	case plugin.ProxyKindZtunnel:
		return buildZtunnel(ctx, id, rest[0])
	case plugin.ProxyKindWaypoint:
		wp := ctx.Model.Waypoint(rest[0], rest[1])
		class := ctx.Model.Options().WaypointClass
		if wp == nil {
			return nil, fmt.Errorf("proxy %s: there is no Gateway %s/%s of class %s; create it or stop the proxy", id, rest[0], rest[1], class)
		}
		if !wp.AerakiServed() {
			return nil, fmt.Errorf("proxy %s: Gateway %s/%s is of class %s, so istiod serves it, not aeraki; use class %s for a waypoint aeraki serves", id, rest[0], rest[1], wp.Class, class)
		}
		return buildWaypoint(ctx, id, wp)
	}
	return nil, fmt.Errorf("proxy %s: not a ztunnel or waypoint id", id)
}
