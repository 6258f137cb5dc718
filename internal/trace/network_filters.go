package trace

import (
	"fmt"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	redisproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	sfsnetworkv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/set_filter_state/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
)

// filterStateTCPProxyCluster overrides tcp_proxy's cluster per connection.
const filterStateTCPProxyCluster = "envoy.tcp_proxy.cluster"

// runFilters runs a chain's network filters in order until a terminal one.
func (r *run) runFilters(c *conn, filters []*listenerv3.Filter) {
	for _, f := range filters {
		msg, err := unpack(f.GetTypedConfig())
		if err != nil {
			r.stop(c.proxy, "filter %s: %v", f.GetName(), err)
			return
		}
		switch m := msg.(type) {
		case *sfsnetworkv3.Config:
			set, err := setValues(c.state, m.GetOnNewConnection(), c)
			if err != nil {
				r.stop(c.proxy, "set_filter_state: %v", err)
				return
			}
			r.hop(c.proxy, StepFilter, f.GetName(), "set "+strings.Join(set, ", "))
		case *rbacv3.RBAC:
			denied, why := rbacDecide(c, m.GetRules())
			r.hop(c.proxy, StepFilter, f.GetName(), why)
			if denied {
				r.stop(c.proxy, "denied by %s: %s", f.GetName(), why)
				return
			}
		case *tcpproxyv3.TcpProxy:
			r.tcpProxy(c, f.GetName(), m)
			return
		case *hcmv3.HttpConnectionManager:
			r.httpConnectionManager(c, m)
			return
		case *genericv3.GenericProxy:
			r.genericProxy(c, m)
			return
		case *thriftv3.ThriftProxy:
			r.thriftProxy(c, m)
			return
		case *dubbov3.DubboProxy:
			r.dubboProxy(c, m)
			return
		case *redisproxyv3.RedisProxy:
			r.redisProxy(c, m)
			return
		default:
			r.stop(c.proxy, "network filter %s (%T) is not simulated", f.GetName(), msg)
			return
		}
	}
	r.stop(c.proxy, "the filter chain has no terminal filter: the connection is closed")
}

// tcpProxy is the tcp_proxy filter: its cluster is the one named in filter
// state envoy.tcp_proxy.cluster when set, else the configured cluster or
// one of the weighted clusters; with tunneling_config the connection
// travels inside an HTTP/2 CONNECT.
func (r *run) tcpProxy(c *conn, name string, tp *tcpproxyv3.TcpProxy) {
	cluster := tp.GetCluster()
	detail := "cluster " + cluster
	if v, ok := c.state.get(filterStateTCPProxyCluster); ok {
		cluster, detail = v, "cluster "+v+" from filter state "+filterStateTCPProxyCluster
	} else if wc := tp.GetWeightedClusters(); wc != nil {
		var ws []weighted
		for _, cw := range wc.GetClusters() {
			ws = append(ws, weighted{name: cw.GetName(), weight: cw.GetWeight()})
		}
		cluster, detail = pickWeighted(ws)
	}
	if tp.GetTunnelingConfig() != nil {
		detail += ", tunneling_config hostname " + tp.GetTunnelingConfig().GetHostname()
	}
	r.hop(c.proxy, StepFilter, name, detail)
	r.upstream(c, cluster, tp.GetTunnelingConfig())
}

// weighted is one destination of a weighted split.
type weighted struct {
	name   string
	weight uint32
}

// pickWeighted reports a split's weights as shares and follows the
// heaviest destination (the first of equals): one trace follows one path.
func pickWeighted(ws []weighted) (string, string) {
	total := uint32(0)
	for _, w := range ws {
		total += w.weight
	}
	best := 0
	parts := make([]string, len(ws))
	for i, w := range ws {
		share := 0.0
		if total > 0 {
			share = 100 * float64(w.weight) / float64(total)
		}
		parts[i] = fmt.Sprintf("%s weight %d (%.0f%%)", w.name, w.weight, share)
		if w.weight > ws[best].weight {
			best = i
		}
	}
	if len(ws) == 0 {
		return "", "weighted clusters: none"
	}
	return ws[best].name, fmt.Sprintf("weighted clusters: %s; following %s", strings.Join(parts, ", "), ws[best].name)
}
