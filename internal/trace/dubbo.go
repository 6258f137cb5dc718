package trace

import (
	"fmt"
	"strings"

	dubbov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/dubbo_proxy/v3"
)

// Attributes a traced Dubbo call is described with: "interface" (the
// service name), "method", and any other attribute as an attachment.
const (
	dubboAttrInterface = "interface"
	dubboAttrMethod    = "method"
)

// dubboProxy simulates dubbo_proxy's MultiRouteMatcher on one call
// (source/extensions/filters/network/dubbo_proxy/router/route_matcher.cc):
// the route tables are tried in order; a table applies when its interface
// matches (exact; "*" any non-empty interface; "*suffix" and "prefix*"
// strictly longer than the literal); its routes are tried in order, each
// needing every attachment (header) matcher and the method's
// StringMatcher to hold (a call without a method matches no route); a
// table none of whose routes matches passes the call on to the next. The
// route's cluster or one of its weighted clusters receives the call.
func (r *run) dubboProxy(c *conn, dp *dubbov3.DubboProxy) {
	mrc := dp.GetMultipleRouteConfig()
	if mrc == nil {
		r.stop(c.proxy, "dubbo_proxy %s: routes come over RDS or a single route_config, which the trace does not simulate", dp.GetStatPrefix())
		return
	}
	iface, method := c.attrs[dubboAttrInterface], c.attrs[dubboAttrMethod]
	if iface == "" {
		r.stop(c.proxy, "dubbo_proxy %s routes by the call's interface, which every Dubbo request carries: give the trace one (--attr interface=<service interface>)", dp.GetStatPrefix())
		return
	}
	attachments := map[string]string{}
	for k, v := range c.attrs {
		if k != dubboAttrInterface && k != dubboAttrMethod {
			attachments[k] = v
		}
	}
	var tried []string
	for _, t := range mrc.GetRouteConfig() {
		if !dubboInterfaceMatches(t.GetInterface(), iface) {
			tried = append(tried, fmt.Sprintf("%s: interface %q does not match %q", tableName(mrc, t), iface, t.GetInterface()))
			continue
		}
		for i, route := range t.GetRoutes() {
			ok, why, err := dubboRouteMatches(route.GetMatch(), method, attachments)
			if err != nil {
				r.stop(c.proxy, "dubbo_proxy %s table %s route %d: %v", dp.GetStatPrefix(), t.GetName(), i, err)
				return
			}
			if !ok {
				tried = append(tried, fmt.Sprintf("%s route %d: %s", tableName(mrc, t), i, why))
				continue
			}
			a := route.GetRoute()
			cluster, detail := a.GetCluster(), "cluster "+a.GetCluster()
			if wc := a.GetWeightedClusters(); wc != nil {
				var ws []weighted
				for _, cw := range wc.GetClusters() {
					ws = append(ws, weighted{name: cw.GetName(), weight: cw.GetWeight().GetValue()})
				}
				cluster, detail = pickWeighted(ws)
			}
			if len(tried) > 0 {
				why = strings.Join(tried, "; ") + "; " + why
			}
			call := fmt.Sprintf("dubbo call interface=%q method=%q", iface, method)
			if len(attachments) > 0 {
				call += " attachments " + describeRequest(attachments)
			}
			r.hop(c.proxy, StepRoute, tableName(mrc, t), fmt.Sprintf("%s: table interface %q; %s; %s", call, t.GetInterface(), why, detail))
			if r.cluster(c.proxy, cluster) == nil {
				// Router::onMessageDecoded (dubbo_proxy/router/router_impl.cc).
				r.stop(c.proxy, "dubbo_proxy router: no cluster %q on proxy %s, so the call gets the local reply \"dubbo router: unknown cluster '%s'\" (ServerError)", cluster, c.proxy, cluster)
				return
			}
			r.upstream(c, cluster, nil)
			return
		}
	}
	r.stop(c.proxy, "dubbo_proxy %s: no route matches the call (interface %q, method %q), which gets the local reply \"dubbo router: no route for interface '%s'\" (ServiceNotFound, router_impl.cc) [%s]", dp.GetStatPrefix(), iface, method, iface, strings.Join(tried, "; "))
}

// tableName is a route table's name without the route configuration's
// own prefix, which aeraki puts before every table's name.
func tableName(mrc *dubbov3.MultipleRouteConfiguration, t *dubbov3.RouteConfiguration) string {
	if n, ok := strings.CutPrefix(t.GetName(), mrc.GetName()+"|"); ok && n != "" {
		return n
	}
	return t.GetName()
}

// dubboInterfaceMatches is SingleRouteMatcherImpl's InterfaceMatcher.
func dubboInterfaceMatches(pattern, iface string) bool {
	switch {
	case pattern == "*":
		return iface != ""
	case strings.HasPrefix(pattern, "*"):
		return len(iface) > len(pattern)-1 && strings.HasSuffix(iface, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return len(iface) > len(pattern)-1 && strings.HasPrefix(iface, pattern[:len(pattern)-1])
	}
	return iface == pattern
}

// dubboRouteMatches is MethodRouteEntryImpl::matches: headers, then the
// method (required in the call), then parameters (not simulated).
func dubboRouteMatches(m *dubbov3.RouteMatch, method string, attachments map[string]string) (bool, string, error) {
	var parts []string
	for _, hm := range m.GetHeaders() {
		ok, why, err := headerMatches(hm, attachments)
		if err != nil {
			return false, "", err
		}
		if !ok {
			return false, why + " does not match", nil
		}
		parts = append(parts, why)
	}
	if method == "" {
		return false, "the call has no method", nil
	}
	if nm := m.GetMethod().GetName(); nm != nil {
		ok, err := envoyStringMatch(nm, method)
		if err != nil {
			return false, "", err
		}
		what := "method " + describeEnvoyStringMatcher(nm)
		if !ok {
			return false, fmt.Sprintf("method %q does not match %s", method, describeEnvoyStringMatcher(nm)), nil
		}
		parts = append(parts, what)
	}
	if len(m.GetMethod().GetParamsMatch()) > 0 {
		return false, "", fmt.Errorf("parameter matches are not simulated")
	}
	return true, strings.Join(parts, ", ") + " matches", nil
}
