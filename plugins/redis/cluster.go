package redis

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	redisclusterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/redis/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Envoy names the cluster patch uses.
const (
	// RedisClusterType is Envoy's Redis Cluster discovery.
	RedisClusterType = "envoy.clusters.redis"
	// protocolOptionsKey keys RedisProtocolOptions in a cluster's
	// typed_extension_protocol_options.
	protocolOptionsKey = FilterName
)

// PatchCluster implements plugin.ClusterPatcher with the host's
// RedisDestination: upstream credentials, CLUSTER mode, connect timeout
// and keepalive. In PROXY mode the cluster balances by key hash. Subset
// clusters get the same settings except CLUSTER mode, which only the
// service's own cluster can use (Redis Cluster has no subsets).
func (p *Plugin) PatchCluster(ctx *plugin.BuildContext, subset string) (*clusterv3.Cluster, error) {
	out := &clusterv3.Cluster{}
	rd := destinationFor(ctx)
	var pool *redisv1alpha1.ConnectionPoolSettings
	if rd != nil && rd.Spec.TrafficPolicy != nil {
		pool = rd.Spec.TrafficPolicy.ConnectionPool
	}
	cluster := pool != nil && pool.Redis != nil && pool.Redis.Mode == redisv1alpha1.RedisModeCluster
	switch {
	case cluster && subset == "":
		if err := clusterMode(ctx, out, rd); err != nil {
			return nil, plugin.Errorf(Name, destinationRef(rd), conditions.ReasonInvalidRoute, "spec.trafficPolicy.connectionPool.redis: %v", err)
		}
	case !cluster && !consistentHashing(ctx):
		out.LbPolicy = clusterv3.Cluster_MAGLEV
	}
	if pool == nil {
		return out, nil
	}
	if pool.Redis != nil && pool.Redis.Auth != nil {
		creds, err := resolveAuth(ctx.Model, rd.Namespace, pool.Redis.Auth)
		if err != nil {
			return nil, plugin.Errorf(Name, destinationRef(rd), conditions.ReasonRefNotFound, "spec.trafficPolicy.connectionPool.redis.auth: %v", err)
		}
		opts := &redisproxyv3.RedisProtocolOptions{AuthPassword: inline(creds.password)}
		if creds.username != "" {
			opts.AuthUsername = inline(creds.username)
		}
		out.TypedExtensionProtocolOptions = map[string]*anypb.Any{protocolOptionsKey: xds.MustAny(opts)}
	}
	if tcp := pool.TCP; tcp != nil {
		if err := tcpSettings(ctx, out, rd, tcp, subset); err != nil {
			return nil, plugin.Errorf(Name, destinationRef(rd), conditions.ReasonInvalidRoute, "spec.trafficPolicy.connectionPool.tcp: %v", err)
		}
	}
	return out, nil
}

// destinationFor returns the oldest RedisDestination of the host being built.
func destinationFor(ctx *plugin.BuildContext) *redisv1alpha1.RedisDestination {
	rds := RedisDestinations(ctx.Model, ctx.Service.Hostname)
	if len(rds) == 0 {
		return nil
	}
	for _, later := range rds[1:] {
		ctx.Warnf(destinationRef(later), "spec.host", conditions.ReasonUnsupportedValue,
			"ignored: RedisDestination %s/%s is older and configures %s", rds[0].Namespace, rds[0].Name, ctx.Service.Hostname)
	}
	return rds[0]
}

// clusterMode switches the cluster to Envoy's Redis Cluster discovery,
// seeded with the discovery endpoints or the service's own host and port.
func clusterMode(ctx *plugin.BuildContext, out *clusterv3.Cluster, rd *redisv1alpha1.RedisDestination) error {
	seeds, err := discoveryEndpoints(rd.Spec.TrafficPolicy.ConnectionPool.Redis.DiscoveryEndpoints, ctx.Service.Hostname, ctx.Port.Number)
	if err != nil {
		return err
	}
	out.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
		Name: RedisClusterType, TypedConfig: xds.MustAny(&redisclusterv3.RedisClusterConfig{}),
	}}
	out.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	la := &endpointv3.ClusterLoadAssignment{ClusterName: ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")}
	var eps []*endpointv3.LbEndpoint
	for _, s := range seeds {
		eps = append(eps, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: s.host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: s.port},
			}}},
		}}})
	}
	la.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps}}
	out.LoadAssignment = la
	if ctx.Role == plugin.RoleWaypoint {
		ctx.Warnf(destinationRef(rd), "spec.trafficPolicy.connectionPool.redis.mode", conditions.ReasonUnsupportedValue,
			"in waypoint %s/%s, Envoy's Redis Cluster discovery connects to the nodes it discovers directly, not over HBONE", ctx.Waypoint.Namespace, ctx.Waypoint.Name)
	}
	return nil
}

type hostPort struct {
	host string
	port uint32
}

// discoveryEndpoints parses "host[:port]" seeds; the default seed is the
// service itself.
func discoveryEndpoints(list []string, host string, port uint32) ([]hostPort, error) {
	if len(list) == 0 {
		return []hostPort{{host, port}}, nil
	}
	var out []hostPort
	for _, e := range list {
		h, p, err := net.SplitHostPort(e)
		if err != nil {
			if _, perr := strconv.Atoi(e); perr == nil || e == "" {
				return nil, fmt.Errorf("discovery endpoint %q is not host[:port]", e)
			}
			out = append(out, hostPort{e, port})
			continue
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 || h == "" {
			return nil, fmt.Errorf("discovery endpoint %q is not host[:port]", e)
		}
		out = append(out, hostPort{h, uint32(n)})
	}
	return out, nil
}

// consistentHashing reports whether a DestinationRule for the host already
// asks for consistent hashing, which redis_proxy's key hash also drives.
func consistentHashing(ctx *plugin.BuildContext) bool {
	for _, dr := range ctx.Model.DestinationRules(ctx.Service.Hostname) {
		if dr.Spec.GetTrafficPolicy().GetLoadBalancer().GetConsistentHash() != nil {
			return true
		}
	}
	return false
}

func tcpSettings(ctx *plugin.BuildContext, out *clusterv3.Cluster, rd *redisv1alpha1.RedisDestination, tcp *redisv1alpha1.TCPSettings, subset string) error {
	d, err := parse(tcp.ConnectTimeout)
	if err != nil {
		return fmt.Errorf("connectTimeout: %w", err)
	}
	if d > 0 {
		out.ConnectTimeout = durationpb.New(d)
	}
	if ka := tcp.TCPKeepalive; ka != nil {
		k := &corev3.TcpKeepalive{}
		switch {
		case ka.Probes < 0:
			return fmt.Errorf("tcpKeepalive.probes %d is negative", ka.Probes)
		case ka.Probes > 0:
			k.KeepaliveProbes = wrapperspb.UInt32(uint32(ka.Probes))
		}
		for _, d := range []struct {
			field string
			value duration.Duration
			out   **wrapperspb.UInt32Value
		}{{"time", ka.Time, &k.KeepaliveTime}, {"interval", ka.Interval, &k.KeepaliveInterval}} {
			v, err := parse(d.value)
			if err != nil {
				return fmt.Errorf("tcpKeepalive.%s: %w", d.field, err)
			}
			if v > maxKeepalive {
				return fmt.Errorf("tcpKeepalive.%s %s is over %s, the most Envoy's uint32 of seconds holds", d.field, v, maxKeepalive)
			}
			if v > 0 {
				*d.out = wrapperspb.UInt32(seconds(v))
			}
		}
		out.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: k}
	}
	if tcp.MaxConnections < 0 {
		return fmt.Errorf("maxConnections %d is negative", tcp.MaxConnections)
	}
	if tcp.MaxConnections > 0 && subset == "" {
		ctx.Warnf(destinationRef(rd), "spec.trafficPolicy.connectionPool.tcp.maxConnections", conditions.ReasonUnsupportedValue,
			"not programmed: the proxy's cluster already has a circuit breaker for the default priority, which a merged one cannot replace; set maxConnections in a DestinationRule's trafficPolicy.connectionPool.tcp for %s instead", ctx.Service.Hostname)
	}
	return nil
}

// maxKeepalive is the longest keepalive setting a uint32 of seconds holds.
const maxKeepalive = time.Duration(math.MaxUint32) * time.Second

// seconds rounds a duration up to whole seconds, at least one: TCP
// keepalive settings are in seconds.
func seconds(d time.Duration) uint32 {
	return uint32(max((d+time.Second-1)/time.Second, 1))
}
