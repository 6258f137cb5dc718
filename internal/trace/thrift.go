package trace

import (
	"fmt"
	"strings"

	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
)

// Attributes a traced Thrift call is described with: "method", "service"
// (multiplexed Thrift: the method name on the wire is "service:method")
// and any other attribute as a Thrift header.
const (
	thriftAttrMethod  = "method"
	thriftAttrService = "service"
)

// thriftProxy simulates thrift_proxy on one call: routes are tried in
// order and the first match wins. method_name compares the whole method
// name ("" matches any), service_name requires the method name to start
// with "<service>:", every header matcher must hold, invert negates the
// method or service condition. The route's cluster (or weighted
// clusters) receives the call; mirrors and rate limit descriptors are
// reported.
func (r *run) thriftProxy(c *conn, tp *thriftv3.ThriftProxy) {
	rc := tp.GetRouteConfig()
	if rc == nil {
		r.stop(c.proxy, "thrift_proxy %s: routes come over TRDS, which the trace does not simulate", tp.GetStatPrefix())
		return
	}
	name := c.attrs[thriftAttrMethod]
	if svc := c.attrs[thriftAttrService]; svc != "" {
		name = svc + ":" + name
	}
	headers := map[string]string{}
	for k, v := range c.attrs {
		if k != thriftAttrMethod && k != thriftAttrService {
			headers[k] = v
		}
	}
	var tried []string
	for i, route := range rc.GetRoutes() {
		ok, why, err := thriftRouteMatches(route.GetMatch(), name, headers)
		if err != nil {
			r.stop(c.proxy, "thrift_proxy %s route %d: %v", tp.GetStatPrefix(), i, err)
			return
		}
		if !ok {
			tried = append(tried, fmt.Sprintf("route %d: %s", i, why))
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
		for _, m := range a.GetRequestMirrorPolicies() {
			detail += fmt.Sprintf("; mirrored to %s (%s of calls)", m.GetCluster(), fraction(m.GetRuntimeFraction().GetDefaultValue().GetNumerator(), m.GetRuntimeFraction().GetDefaultValue().GetDenominator().String()))
		}
		if len(a.GetRateLimits()) > 0 {
			detail += "; rate limited by the rate limit service"
		}
		r.hop(c.proxy, StepRoute, fmt.Sprintf("route %d", i), fmt.Sprintf("thrift call %q %s: %s; %s", name, describeRequest(headers), why, detail))
		r.upstream(c, cluster, nil)
		return
	}
	r.stop(c.proxy, "thrift_proxy %s: no route matches thrift call %q [%s]", tp.GetStatPrefix(), name, strings.Join(tried, "; "))
}

func thriftRouteMatches(m *thriftv3.RouteMatch, name string, headers map[string]string) (bool, string, error) {
	var ok bool
	var why string
	switch s := m.GetMatchSpecifier().(type) {
	case *thriftv3.RouteMatch_MethodName:
		ok = s.MethodName == "" || s.MethodName == name
		why = fmt.Sprintf("method_name %q", s.MethodName)
	case *thriftv3.RouteMatch_ServiceName:
		prefix := s.ServiceName
		if !strings.HasSuffix(prefix, ":") {
			prefix += ":"
		}
		ok = s.ServiceName == "" || strings.HasPrefix(name, prefix)
		why = fmt.Sprintf("service_name %q", s.ServiceName)
	default:
		return false, "", fmt.Errorf("route without method_name or service_name")
	}
	if m.GetInvert() {
		ok, why = !ok, "not "+why
	}
	if !ok {
		return false, why + " does not match", nil
	}
	for _, hm := range m.GetHeaders() {
		hok, hwhy, err := headerMatches(hm, headers)
		if err != nil {
			return false, "", err
		}
		if !hok {
			return false, hwhy + " does not match", nil
		}
		why += ", " + hwhy
	}
	return true, why + " matches", nil
}

// fraction renders a FractionalPercent as a percentage.
func fraction(num uint32, denominator string) string {
	d := 100.0
	switch denominator {
	case "TEN_THOUSAND":
		d = 10000
	case "MILLION":
		d = 1000000
	}
	return fmt.Sprintf("%g%%", 100*float64(num)/d)
}
