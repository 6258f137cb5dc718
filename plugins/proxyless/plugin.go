package proxyless

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Name is the plugin's registered name.
const Name = "proxyless"

// ProxyID is the id of the one proxy the plugin builds: every proxyless
// client of the mesh gets the same config.
const ProxyID = "proxyless"

// Node identification: a node is proxyless when its metadata carries
// MetadataKey = "true", or its id starts with NodeIDPrefix.
const (
	MetadataKey  = "PROXYLESS"
	NodeIDPrefix = "proxyless~"
)

// routerFilterName is the HTTP filter grpc-go requires last in every
// HttpConnectionManager.
const routerFilterName = "envoy.filters.http.router"

// connectTimeout is the cluster connect timeout. grpc-go ignores it, but
// Envoy-based consumers of the same resources need a sane value.
const connectTimeout = 5 * time.Second

// Plugin builds the config of proxyless gRPC clients. It holds no state.
type Plugin struct{}

var (
	_ plugin.Plugin       = (*Plugin)(nil)
	_ plugin.ProxyBuilder = (*Plugin)(nil)
	_ plugin.Describer    = (*Plugin)(nil)
)

// New returns the proxyless plugin.
func New() *Plugin { return &Plugin{} }

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return Name }

// Protocols implements plugin.Plugin. The plugin claims no port: it builds
// whole client configs and leaves sidecar ports to istiod and the protocol
// plugins.
func (*Plugin) Protocols() []model.Protocol { return nil }

// Description implements plugin.Describer.
func (*Plugin) Description() string {
	return "proxyless gRPC clients (grpc-go xds:///host:port): listeners, routes, clusters and endpoints for gRPC/HTTP ports"
}

// ProxyIDs implements plugin.ProxyBuilder: there is always exactly one
// proxyless config, so a client that connects before any gRPC service
// exists still gets an (empty) answer instead of waiting.
func (*Plugin) ProxyIDs(*model.View) []string { return []string{ProxyID} }

// MatchNode implements plugin.ProxyBuilder.
func (*Plugin) MatchNode(node *corev3.Node) (string, bool) {
	if node == nil {
		return "", false
	}
	if strings.HasPrefix(node.GetId(), NodeIDPrefix) {
		return ProxyID, true
	}
	switch v := node.GetMetadata().GetFields()[MetadataKey].GetKind().(type) {
	case *structpb.Value_StringValue:
		if strings.EqualFold(v.StringValue, "true") {
			return ProxyID, true
		}
	case *structpb.Value_BoolValue:
		if v.BoolValue {
			return ProxyID, true
		}
	}
	return "", false
}

// BuildProxy implements plugin.ProxyBuilder.
func (*Plugin) BuildProxy(ctx *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	if id != ProxyID {
		return nil, fmt.Errorf("unknown proxy %q: the proxyless plugin builds only %q", id, ProxyID)
	}
	p := &plugin.Proxy{ID: id, Kind: plugin.ProxyKindProxyless}
	suffix := ctx.Model.Options().DomainSuffix
	for _, svc := range ctx.Model.Services() {
		for _, port := range svc.Ports {
			if port.Protocol != model.ProtocolHTTP {
				continue
			}
			name := svc.Hostname + ":" + strconv.FormatUint(uint64(port.Number), 10)
			cluster := model.ClusterName("outbound", port.Number, "", svc.Hostname)
			p.Listeners = append(p.Listeners, apiListener(name))
			p.Routes = append(p.Routes, routeConfig(name, Domains(svc, port.Number, suffix), cluster))
			p.Clusters = append(p.Clusters, edsCluster(cluster))
			p.Endpoints = append(p.Endpoints, loadAssignment(cluster, ctx.Model.Endpoints(svc.Hostname, port.Number)))
		}
	}
	return p, nil
}

// adsSource points a resource at the ADS stream it came on, the only
// config source grpc-go accepts besides "self".
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// apiListener is the listener grpc-go looks up by the dial target: an API
// listener (no socket) whose HttpConnectionManager fetches its routes
// over RDS and ends with the router filter.
func apiListener(name string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: name,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       routerFilterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: xds.MustAny(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Listener{
		Name:        name,
		ApiListener: &listenerv3.ApiListener{ApiListener: xds.MustAny(hcm)},
	}
}

// routeConfig sends every call for the service port to its cluster.
func routeConfig(name string, domains []string, cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name,
			Domains: domains,
			Routes: []*routev3.Route{{
				Name:  "default",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
				}},
			}},
		}},
	}
}

// Domains lists the authorities a client may dial a service port by: the
// hostname with and without the port and, for Kubernetes services, the
// short names Kubernetes DNS resolves inside the cluster ("name",
// "name.ns", "name.ns.svc"), each with and without the port.
func Domains(svc *model.Service, port uint32, domainSuffix string) []string {
	hosts := []string{svc.Hostname}
	if svc.Ref.Kind == "Service" && svc.Ref.Group == "" {
		if short, ok := strings.CutSuffix(svc.Hostname, ".svc."+domainSuffix); ok {
			name, ns, _ := strings.Cut(short, ".")
			hosts = append(hosts, name, name+"."+ns, name+"."+ns+".svc")
		}
	}
	p := ":" + strconv.FormatUint(uint64(port), 10)
	out := make([]string, 0, 2*len(hosts))
	for _, h := range hosts {
		out = append(out, h+p, h)
	}
	return out
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: name},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		ConnectTimeout:       durationpb.New(connectTimeout),
	}
}

// loadAssignment lists the ready endpoints in one locality. grpc-go drops
// localities without a weight, so the locality gets weight 1.
func loadAssignment(cluster string, eps []model.Endpoint) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	var lbs []*endpointv3.LbEndpoint
	for _, ep := range eps {
		if !ep.Ready || ep.Port == 0 {
			continue
		}
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HealthStatus: corev3.HealthStatus_HEALTHY,
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address:       ep.Address,
					PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: ep.Port},
				}}},
			}},
		})
	}
	if len(lbs) > 0 {
		cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{
			Locality:            &corev3.Locality{},
			LoadBalancingWeight: wrapperspb.UInt32(1),
			LbEndpoints:         lbs,
		}}
	}
	return cla
}
