package trace

import (
	"fmt"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	sfshttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/set_filter_state/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// httpConnectionManager simulates the HTTP connection manager on the one
// kind of request HBONE carries: an HTTP/2 CONNECT. The virtual host is
// chosen on :authority, the first route whose match accepts CONNECT wins,
// the HTTP filters run on the request headers, and the router either
// terminates the CONNECT (the stream's payload continues as a TCP
// connection to the route's cluster) or stops.
func (r *run) httpConnectionManager(c *conn, h *hcmv3.HttpConnectionManager) {
	if c.connect == nil {
		r.stop(c.proxy, "http_connection_manager %s: the trace simulates HTTP/2 CONNECT (HBONE) streams only, and this connection carries none", h.GetStatPrefix())
		return
	}
	// Every HBONE client speaks HTTP/2 whatever ALPN said. Envoy's AUTO
	// codec picks HTTP/2 from the ALPN or, without one, from the HTTP/2
	// connection preface; a fixed HTTP/1 codec cannot parse the preface.
	switch h.GetCodecType() {
	case hcmv3.HttpConnectionManager_HTTP1:
		r.stop(c.proxy, "http_connection_manager %s has codec_type HTTP1, which cannot parse the client's HTTP/2 connection preface (ALPN %s): the tunnel fails", h.GetStatPrefix(), orNone(c.alpn))
		return
	case hcmv3.HttpConnectionManager_HTTP3:
		r.stop(c.proxy, "http_connection_manager %s has codec_type HTTP3, which a TCP listener cannot serve: the tunnel fails", h.GetStatPrefix())
		return
	}
	rc, err := r.routeConfig(c, h)
	if err != nil {
		r.stop(c.proxy, "http_connection_manager %s: %v", h.GetStatPrefix(), err)
		return
	}
	authority := c.connect.authority
	vh, why := selectVirtualHost(rc.GetVirtualHosts(), authority)
	if vh == nil {
		r.stop(c.proxy, "route configuration %s: no virtual host matches :authority %s (404)", rc.GetName(), authority)
		return
	}
	route := connectRoute(vh)
	if route == nil {
		r.stop(c.proxy, "virtual host %s: no route matches the CONNECT request for %s (404)", vh.GetName(), authority)
		return
	}
	r.hop(c.proxy, StepRoute, route.GetName(), fmt.Sprintf("CONNECT %s: route configuration %s, %s; route %q (connect_matcher)", authority, rc.GetName(), why, route.GetName()))

	stream := &conn{proxy: c.proxy, listener: c.listener, src: c.src, dst: c.dst, restored: c.restored, internal: c.internal,
		connect: c.connect, attrs: c.attrs, state: c.state.clone(), dynMeta: c.dynMeta, peer: c.peer}
	for _, f := range h.GetHttpFilters() {
		msg, err := unpack(f.GetTypedConfig())
		if err != nil {
			r.stop(c.proxy, "http filter %s: %v", f.GetName(), err)
			return
		}
		switch m := msg.(type) {
		case *sfshttpv3.Config:
			set, err := setValues(stream.state, m.GetOnRequestHeaders(), stream)
			if err != nil {
				r.stop(c.proxy, "http filter %s: %v", f.GetName(), err)
				return
			}
			r.hop(c.proxy, StepFilter, f.GetName(), "on request headers: set "+strings.Join(set, ", "))
		case *routerv3.Router:
			r.router(stream, route)
			return
		default:
			r.stop(c.proxy, "http filter %s (%T) is not simulated", f.GetName(), msg)
			return
		}
	}
	r.stop(c.proxy, "http_connection_manager %s has no router filter", h.GetStatPrefix())
}

// routeConfig is the inline route configuration, or the RDS one by name.
func (r *run) routeConfig(c *conn, h *hcmv3.HttpConnectionManager) (*routev3.RouteConfiguration, error) {
	if rc := h.GetRouteConfig(); rc != nil {
		return rc, nil
	}
	if rds := h.GetRds(); rds != nil {
		for _, rc := range r.s.Proxies[c.proxy].Routes {
			if rc.GetName() == rds.GetRouteConfigName() {
				return rc, nil
			}
		}
		return nil, fmt.Errorf("RDS route configuration %q is not in the proxy's config", rds.GetRouteConfigName())
	}
	return nil, fmt.Errorf("no route configuration")
}

// router forwards the stream by the route's action.
func (r *run) router(stream *conn, route *routev3.Route) {
	action := route.GetRoute()
	if action == nil {
		r.stop(stream.proxy, "route %q has no route action (redirect or direct response)", route.GetName())
		return
	}
	cluster := action.GetCluster()
	detail := "cluster " + cluster
	if wc := action.GetWeightedClusters(); wc != nil {
		var ws []weighted
		for _, cw := range wc.GetClusters() {
			ws = append(ws, weighted{name: cw.GetName(), weight: cw.GetWeight().GetValue()})
		}
		cluster, detail = pickWeighted(ws)
	}
	if cluster == "" {
		r.stop(stream.proxy, "route %q names its cluster in a way the trace does not simulate", route.GetName())
		return
	}
	terminate := false
	for _, u := range action.GetUpgradeConfigs() {
		if strings.EqualFold(u.GetUpgradeType(), "CONNECT") && u.GetConnectConfig() != nil {
			terminate = true
		}
	}
	if !terminate {
		r.stop(stream.proxy, "route %q proxies the CONNECT request itself (no upgrade_configs CONNECT with connect_config); not simulated", route.GetName())
		return
	}
	r.hop(stream.proxy, StepFilter, "envoy.filters.http.router", detail+"; CONNECT terminated: the stream's payload continues as TCP")
	payload := &conn{proxy: stream.proxy, listener: stream.listener, src: stream.src, dst: stream.dst, restored: stream.restored,
		internal: stream.internal, attrs: stream.attrs, state: stream.state, dynMeta: stream.dynMeta}
	r.upstream(payload, cluster, nil)
}

// selectVirtualHost applies Envoy's domain search order on the whole
// :authority (port included): exact names, then suffix wildcards
// (*.foo), then prefix wildcards (foo.*, 10.0.0.1:*), longest first, then "*".
func selectVirtualHost(vhs []*routev3.VirtualHost, authority string) (*routev3.VirtualHost, string) {
	host := strings.ToLower(authority)
	type cand struct {
		vh     *routev3.VirtualHost
		domain string
	}
	var exact, suffix, prefix, star []cand
	for _, vh := range vhs {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				star = append(star, cand{vh, d})
			case d == host:
				exact = append(exact, cand{vh, d})
			case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1:
				suffix = append(suffix, cand{vh, d})
			case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]) && len(host) > len(d)-1:
				prefix = append(prefix, cand{vh, d})
			}
		}
	}
	longest := func(cs []cand) {
		sort.SliceStable(cs, func(i, j int) bool { return len(cs[i].domain) > len(cs[j].domain) })
	}
	longest(suffix)
	longest(prefix)
	for _, group := range []struct {
		name string
		cs   []cand
	}{{"exact domain", exact}, {"suffix wildcard", suffix}, {"prefix wildcard", prefix}, {"wildcard", star}} {
		if len(group.cs) > 0 {
			c := group.cs[0]
			return c.vh, fmt.Sprintf("virtual host %s (%s %q)", c.vh.GetName(), group.name, c.domain)
		}
	}
	return nil, ""
}

// connectRoute is the first route a CONNECT request matches: CONNECT
// requests have no path, so only connect_matcher routes (and no header
// matchers the trace cannot evaluate) match them.
func connectRoute(vh *routev3.VirtualHost) *routev3.Route {
	for _, rt := range vh.GetRoutes() {
		if rt.GetMatch().GetConnectMatcher() != nil && len(rt.GetMatch().GetHeaders()) == 0 {
			return rt
		}
	}
	return nil
}
