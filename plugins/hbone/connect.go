package hbone

import (
	"net/netip"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	sfshttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/set_filter_state/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// upgradeConnect is the upgrade type of HTTP CONNECT.
const upgradeConnect = "CONNECT"

// connectTerminate is an HTTP connection manager that terminates HBONE:
// it accepts HTTP/2 CONNECT requests whose :authority matches domains,
// runs set_filter_state on the request headers, and carries each stream's
// payload as a TCP connection to cluster.
func connectTerminate(statPrefix, routeName string, domains []string, cluster string, state []*sfsvaluev3.FilterStateValue) *listenerv3.Filter {
	route := &routev3.Route{
		Name:  "connect",
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
			Timeout:          durationpb.New(0),
			UpgradeConfigs: []*routev3.RouteAction_UpgradeConfig{{
				UpgradeType:   upgradeConnect,
				ConnectConfig: &routev3.RouteAction_UpgradeConfig_ConnectConfig{},
			}},
		}},
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:           statPrefix,
		CodecType:            hcmv3.HttpConnectionManager_HTTP2,
		Http2ProtocolOptions: hboneHTTP2(),
		StreamIdleTimeout:    durationpb.New(0),
		UpgradeConfigs:       []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: upgradeConnect}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name:         routeName,
			VirtualHosts: []*routev3.VirtualHost{{Name: routeName, Domains: domains, Routes: []*routev3.Route{route}}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: filterHTTPSetFilterState, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: xds.MustAny(&sfshttpv3.Config{OnRequestHeaders: state})}},
			{Name: filterRouter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: xds.MustAny(&routerv3.Router{})}},
		},
	}
	return xds.NetworkFilter(filterHCM, hcm)
}

// HTTP/2 settings of an HBONE server, as istiod sets them on its
// waypoints' connect_terminate (buildHCMConnectTerminateChain in
// pilot/pkg/networking/core/listener_waypoint.go): at most 100 streams per
// connection, which is what a Rust ztunnel puts on one pooled connection
// by default (DEFAULT_POOL_MAX_STREAMS_PER_CONNECTION in its
// src/config.rs), and keepalive pings every 10s with a 20s timeout, so
// connections of vanished clients are pruned.
const (
	hboneMaxStreams        = 100
	hboneKeepaliveInterval = 10 * time.Second
	hboneKeepaliveTimeout  = 20 * time.Second
)

func hboneHTTP2() *corev3.Http2ProtocolOptions {
	return &corev3.Http2ProtocolOptions{
		AllowConnect:         true,
		MaxConcurrentStreams: wrapperspb.UInt32(hboneMaxStreams),
		ConnectionKeepalive: &corev3.KeepaliveSettings{
			Interval: durationpb.New(hboneKeepaliveInterval),
			Timeout:  durationpb.New(hboneKeepaliveTimeout),
		},
	}
}

// authorityDomain matches CONNECT requests to any port of ip: a prefix
// wildcard domain such as "10.0.2.11:*" (Envoy matches virtual hosts on
// the whole :authority, port included).
func authorityDomain(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() {
		return "[" + a.String() + "]:*"
	}
	return ip + ":*"
}

// localValue is a set_filter_state entry kept on this connection only.
func localValue(key, format string) *sfsvaluev3.FilterStateValue {
	v := stateValue(key, format)
	v.SharedWithUpstream = sfsvaluev3.FilterStateValue_NONE
	return v
}
