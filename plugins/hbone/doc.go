// Package hbone is aeraki's ambient-mesh plugin: it builds the complete
// config of Envoy-based ztunnels (one per Kubernetes node) and waypoints
// (one per Gateway of aeraki's own waypoint class, aeraki-waypoint by
// default; istiod serves istio-waypoint Gateways), served to them over ADS.
//
// Everything it emits uses upstream Envoy extensions only (internal
// listeners and the internal_upstream transport socket, the original_dst
// listener filter and ORIGINAL_DST clusters, set_filter_state, tcp_proxy's
// tunneling_config, the unified matcher API and the HTTP connection
// manager's CONNECT support), so a stock Envoy can play either role.
//
// Protocol plugins own the L7 part of a waypoint: for every service port
// bound to a waypoint, the plugin asks ProxyContext.L7 for the owning
// plugin's chain (generic_proxy with the Dubbo codec, say) and puts it in
// that port's main_internal filter chain; ports no plugin owns are proxied
// at L4.
//
// docs/ambient.md explains the data path hop by hop and why the ztunnel's
// config grows as (local workloads + services) rather than their product.
package hbone
