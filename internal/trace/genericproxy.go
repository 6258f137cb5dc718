package trace

import (
	"fmt"
	"sort"
	"strings"

	actionv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/action/v3"
	dubbocodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/dubbo/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/router/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
)

// genericProxy simulates generic_proxy on one request: the codec decodes
// the call's attributes into service, host, path, method and properties;
// the route table (a virtual host chosen by host, else the top-level
// routes) is a unified matcher whose action is a RouteAction; the router
// sends the request to its cluster.
func (r *run) genericProxy(c *conn, g *genericv3.GenericProxy) {
	codec := "unknown codec"
	if msg, err := unpack(g.GetCodecConfig().GetTypedConfig()); err == nil {
		if _, ok := msg.(*dubbocodecv3.DubboCodecConfig); ok {
			codec = "dubbo"
		}
	}
	rc := g.GetRouteConfig()
	if rc == nil {
		r.stop(c.proxy, "generic_proxy %s: routes come over generic RDS, which the trace does not simulate", g.GetStatPrefix())
		return
	}
	req := newRequest(c.attrs)
	routes, where := rc.GetRoutes(), "routes"
	for _, vh := range rc.GetVirtualHosts() {
		if hostMatches(vh.GetHosts(), req.host) {
			routes, where = vh.GetRoutes(), "virtual host "+vh.GetName()
			break
		}
	}
	if routes == nil {
		r.stop(c.proxy, "generic_proxy %s: no route table for host %q", g.GetStatPrefix(), req.host)
		return
	}
	var trail matchTrail
	action, err := evalMatcher(routes, genericInputs(req), &trail)
	if err != nil {
		r.stop(c.proxy, "generic_proxy %s: %v", g.GetStatPrefix(), err)
		return
	}
	if action == nil {
		r.stop(c.proxy, "generic_proxy %s (%s codec): no route matches %s [%s]", g.GetStatPrefix(), codec, describeRequest(c.attrs), trail)
		return
	}
	msg, err := unpack(action.GetTypedConfig())
	if err != nil {
		r.stop(c.proxy, "generic_proxy route action: %v", err)
		return
	}
	ra, ok := msg.(*actionv3.RouteAction)
	if !ok {
		r.stop(c.proxy, "generic_proxy route action %T is not simulated", msg)
		return
	}
	// RouteEntryImpl takes route_action.cluster() alone and the timeout
	// or DEFAULT_ROUTE_TIMEOUT_MS (route_impl.cc); weighted_clusters is
	// not implemented, so such a route has cluster "".
	cluster, detail := ra.GetCluster(), "cluster "+ra.GetCluster()
	if wc := ra.GetWeightedClusters(); wc != nil {
		var names []string
		for _, cw := range wc.GetClusters() {
			names = append(names, fmt.Sprintf("%s weight %d", cw.GetName(), cw.GetWeight().GetValue()))
		}
		detail = fmt.Sprintf("weighted_clusters %s, which generic_proxy does not implement ([#not-implemented-hide:]): the route's cluster is \"\"", strings.Join(names, ", "))
	}
	r.hop(c.proxy, StepRoute, ra.GetName(), fmt.Sprintf("%s codec, request %s; %s: %s; %s; %s", codec, describeRequest(c.attrs), where, trail, detail, describeTimeout(ra)))
	if !hasGenericRouter(g) {
		r.stop(c.proxy, "generic_proxy %s has no router filter", g.GetStatPrefix())
		return
	}
	if r.cluster(c.proxy, cluster) == nil {
		// RouterFilter::kickOffNewUpstreamRequest (router/router.cc): no
		// thread-local cluster of that name, a local reply.
		r.stop(c.proxy, "generic_proxy router: no cluster %q on proxy %s, so the call gets the local reply cluster_not_found (status NotFound, response flag NoClusterFound)", cluster, c.proxy)
		return
	}
	r.upstream(c, cluster, nil)
}

// describeTimeout says what timeout the generic_proxy router arms: the
// route's (a positive one only, router.cc), else none for an explicit 0s,
// else Envoy's 15 s default.
func describeTimeout(ra *actionv3.RouteAction) string {
	switch {
	case ra.GetTimeout() == nil:
		return "no timeout set: Envoy's default of 15s applies"
	case ra.GetTimeout().AsDuration() > 0:
		return "timeout " + ra.GetTimeout().AsDuration().String()
	}
	return "timeout 0s: none"
}

func hasGenericRouter(g *genericv3.GenericProxy) bool {
	for _, f := range g.GetFilters() {
		if msg, err := unpack(f.GetTypedConfig()); err == nil {
			if _, ok := msg.(*routerv3.Router); ok {
				return true
			}
		}
	}
	return false
}

// hostMatches applies generic_proxy's virtual host names: exact, "*",
// suffix ("*.foo") and prefix ("foo.*") wildcards.
func hostMatches(hosts []string, host string) bool {
	for _, h := range hosts {
		switch {
		case h == "*" || h == host:
			return true
		case strings.HasPrefix(h, "*") && strings.HasSuffix(host, h[1:]):
			return true
		case strings.HasSuffix(h, "*") && strings.HasPrefix(host, h[:len(h)-1]):
			return true
		}
	}
	return false
}

func describeRequest(attrs map[string]string) string {
	if len(attrs) == 0 {
		return "(no attributes)"
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + attrs[k]
	}
	return strings.Join(parts, " ")
}
