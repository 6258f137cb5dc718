package plugin

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// IstiodWaypointModeler is implemented by the plugin that knows the
// config istiod generates for a waypoint it serves (class istio-waypoint):
// its listeners, chains and clusters, with the filters aeraki's
// EnvoyFilters patch into each port's chain. aeraki trace follows calls
// through that model, so it needs no copy of the plugin's code; a build
// without such a plugin traces no istiod waypoint.
type IstiodWaypointModeler interface {
	Plugin
	// IstiodWaypointModel returns the proxy istiod would serve for wp.
	// patched says what aeraki's EnvoyFilter does to a port's chain: the
	// filters it inserts before istiod's tcp_proxy, and the filter that
	// replaces tcp_proxy (nil keeps it).
	IstiodWaypointModel(view *model.View, wp *model.Waypoint, patched func(svc *model.Service, port *model.Port) (before []*listenerv3.Filter, terminal *listenerv3.Filter)) *Proxy
}
