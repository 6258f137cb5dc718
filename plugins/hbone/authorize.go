package hbone

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// DefaultZtunnelServiceAccounts are the ServiceAccounts ztunnels run as:
// Istio's ztunnel DaemonSet's.
var DefaultZtunnelServiceAccounts = []string{"istio-system/ztunnel"}

var _ plugin.ProxyAuthorizer = (*Plugin)(nil)

// AuthorizeProxy implements plugin.ProxyAuthorizer.
//
// A waypoint's config goes only to waypoints aeraki serves (its own
// GatewayClass; istio-waypoint Gateways are istiod's), and only to the
// waypoint's own identity: its Gateway's
// namespace and the ServiceAccount its pods run as (the Gateway's name
// when none runs, which is what Istio deploys).
//
// A ztunnel's config goes to a ztunnel identity (the plugin option
// ztunnel-service-accounts) and only for the node that ztunnel's pod
// runs on: the client's pod is looked up by its address and its
// certificate's identity, the way istiod's node authorizer finds a
// ztunnel's pod before it signs certificates for that node's workloads
// (security/pkg/server/ca/node_auth.go in istio/istio), so a ztunnel
// cannot read another node's workloads.
func (p *Plugin) AuthorizeProxy(view *model.View, id string, peer plugin.Peer) error {
	kind, rest, err := ParseID(id)
	if err != nil {
		return err
	}
	td := view.Options().TrustDomain
	switch kind {
	case plugin.ProxyKindWaypoint:
		wp := view.Waypoint(rest[0], rest[1])
		if wp == nil {
			return fmt.Errorf("there is no waypoint Gateway %s/%s", rest[0], rest[1])
		}
		if !wp.AerakiServed() {
			// aeraki builds no config for it (Plugin.Proxies): istiod deploys
			// and serves it, and a client asking aeraki is misconfigured.
			return fmt.Errorf("waypoint %s/%s is of class %s, which istiod serves; aeraki serves the waypoints of class %s", rest[0], rest[1], wp.Class, view.Options().WaypointClass)
		}
		want := view.WaypointIdentity(wp)
		if slices.Contains(peer.Identities, want) {
			return nil
		}
		return fmt.Errorf("a waypoint's config is served to the waypoint's identity %s; the client's certificate names %s", want, names(peer.Identities))
	case plugin.ProxyKindZtunnel:
		var ztunnel []string
		for _, sa := range p.ztunnelAccounts() {
			ns, name, _ := strings.Cut(sa, "/")
			ztunnel = append(ztunnel, model.SPIFFEID(td, ns, name))
		}
		if !slices.ContainsFunc(peer.Identities, func(id string) bool { return slices.Contains(ztunnel, id) }) {
			return fmt.Errorf("a ztunnel's config is served to the ztunnel identities %s (plugin option %s.%s); the client's certificate names %s",
				strings.Join(ztunnel, ", "), Name, OptionZtunnelServiceAccounts, names(peer.Identities))
		}
		pod := clientPod(view, peer)
		if pod == nil {
			return fmt.Errorf("no pod with IP %s runs as %s, so the node this ztunnel runs on is not known", peer.Address, names(peer.Identities))
		}
		if pod.Node != rest[0] {
			return fmt.Errorf("the client is pod %s/%s on node %q, not on node %q: a ztunnel is served its own node's config only", pod.Namespace, pod.Name, pod.Node, rest[0])
		}
		return nil
	}
	return fmt.Errorf("proxy %s: not a ztunnel or waypoint id", id)
}

// clientPod is the pod at the client's address running as one of its
// identities. Pods on the host network share the node's address, so every
// pod at that address is considered.
func clientPod(view *model.View, peer plugin.Peer) *model.Workload {
	match := func(w *model.Workload) bool {
		return w != nil && w.Ref.Kind == "Pod" && w.IP == peer.Address && slices.Contains(peer.Identities, view.Identity(w))
	}
	if w := view.WorkloadByIP(peer.Address); match(w) {
		return w
	}
	for _, w := range view.Workloads() {
		if match(w) {
			return w
		}
	}
	return nil
}

func names(ids []string) string {
	if len(ids) == 0 {
		return "no identity"
	}
	return strings.Join(ids, ", ")
}
