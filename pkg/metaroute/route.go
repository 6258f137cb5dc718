package metaroute

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// MatchKind is how an attribute value is compared.
type MatchKind int

const (
	// MatchExact compares the whole value.
	MatchExact MatchKind = iota + 1
	// MatchPrefix compares the start of the value.
	MatchPrefix
	// MatchRegex matches the whole value against an RE2 expression.
	MatchRegex
	// MatchPresent only requires the attribute to be there.
	MatchPresent
)

// String names the kind as the MetaRouter field does.
func (k MatchKind) String() string {
	switch k {
	case MatchExact:
		return "exact"
	case MatchPrefix:
		return "prefix"
	case MatchRegex:
		return "regex"
	case MatchPresent:
		return "present"
	}
	return "unknown"
}

// AttributeMatch is one condition of a route: attribute Name compared with Value.
type AttributeMatch struct {
	// Name is the attribute as the MetaRouter writes it ("method", "interface", "foo").
	Name string
	// Kind is the comparison.
	Kind MatchKind
	// Value is the operand; empty for MatchPresent.
	Value string
}

// Destination is where a route sends (a share of) its calls.
type Destination struct {
	// Host is the destination service's hostname.
	Host string
	// Port is the destination service port.
	Port uint32
	// Subset is the DestinationRule subset, or "".
	Subset string
	// Cluster is the Envoy cluster for Host, Port and Subset in the role being built.
	Cluster string
	// Weight is the share of calls, 0..100; 0 with a single destination means all.
	Weight uint32
}

// Mirror copies a share of a route's calls to another destination.
type Mirror struct {
	Destination
	// Percent of calls mirrored, 0..100.
	Percent float64
}

// Retries is a route's retry policy.
type Retries struct {
	// Attempts is the number of retries after the first try.
	Attempts uint32
	// PerTryTimeout bounds each try; 0 means the route timeout.
	PerTryTimeout time.Duration
	// RetryOn lists the conditions that trigger a retry, protocol specific.
	RetryOn []string
}

// Fault is a route's fault injection.
type Fault struct {
	// Delay is a fixed delay before forwarding, 0 for none.
	Delay time.Duration
	// DelayPercent is the share of calls delayed.
	DelayPercent float64
	// AbortStatus is the status calls are aborted with, "" for none.
	AbortStatus string
	// AbortCode is the numeric (gRPC-style) code of AbortStatus.
	AbortCode int32
	// AbortPercent is the share of calls aborted.
	AbortPercent float64
}

// KeyValue is one request or response mutation.
type KeyValue struct{ Key, Value string }

// Route is one route in protocol-neutral form.
type Route struct {
	// Name is the route's name, or a generated "<router>-<index>".
	Name string
	// Object is the MetaRouter or VirtualService the route came from; zero
	// for the default route.
	Object model.ObjectRef
	// Field is the route's path in Object, such as "spec.routes[1]".
	Field string
	// Match lists the conditions, all of which must hold, sorted by name.
	// Empty means the route catches every call.
	Match []AttributeMatch
	// Destinations are the weighted destinations; never empty.
	Destinations []Destination
	// Mirror, RequestMutation, ResponseMutation, Timeout, Retries and Fault
	// are the optional parts; plugins program what their data plane can
	// carry and report the rest with BuildContext.Warnf.
	Mirror           *Mirror
	RequestMutation  []KeyValue
	ResponseMutation []KeyValue
	Timeout          time.Duration
	Retries          *Retries
	Fault            *Fault
}

// CatchAll reports whether the route matches every call.
func (r *Route) CatchAll() bool { return len(r.Match) == 0 }

// Weighted reports whether the route splits calls over several destinations.
func (r *Route) Weighted() bool { return len(r.Destinations) > 1 }

// Build returns the routes for ctx: those of ctx.MetaRouters in order,
// followed by a default route to ctx.Service when none of them catches
// every call. On a sidecar's inbound side it is the one route to the
// local workload. Routes that cannot be resolved are reported and skipped (the
// core validated the routers, so this only happens when a plugin calls
// Build with routers of its own).
func Build(ctx *plugin.BuildContext) []Route {
	if ctx.Role == plugin.RoleSidecarInbound {
		return onlyDefaultRoute(ctx)
	}
	n, nd, nm := 1, 1, 0 // room for the default route
	for _, mr := range ctx.MetaRouters {
		n += len(mr.Spec.Routes)
		for i := range mr.Spec.Routes {
			nd += len(mr.Spec.Routes[i].Route)
			if m := mr.Spec.Routes[i].Match; m != nil {
				nm += len(m.Attributes)
			}
		}
	}
	out := make([]Route, 0, n)
	res := resolver{ctx: ctx, lookups: lookups{view: ctx.Model}, dests: make([]Destination, 0, nd)}
	if nm > 0 {
		res.matches = make([]AttributeMatch, 0, nm)
	}
	for _, mr := range ctx.MetaRouters {
		for i := range mr.Spec.Routes {
			r, err := res.fromMetaRoute(mr, i)
			if err != nil {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: RouterRef(mr), Field: routeField(i), Reason: "InvalidRoute", Message: err.Error()})
				continue
			}
			out = append(out, r)
		}
	}
	for i := range out {
		if out[i].CatchAll() {
			return out
		}
	}
	return append(out, res.defaultRoute())
}

// onlyDefaultRoute is the one route of a sidecar's inbound side, the
// route and its destination in one allocation.
func onlyDefaultRoute(ctx *plugin.BuildContext) []Route {
	one := &struct {
		r [1]Route
		d [1]Destination
	}{}
	one.d[0] = defaultDestination(ctx)
	one.r[0] = Route{Name: "default", Destinations: one.d[:]}
	return one.r[:]
}

// routeFields holds the paths of a router's first ten routes,
// "spec.routes[0]" to "spec.routes[9]", each routeFieldLen long.
const (
	routeFields   = "spec.routes[0]spec.routes[1]spec.routes[2]spec.routes[3]spec.routes[4]spec.routes[5]spec.routes[6]spec.routes[7]spec.routes[8]spec.routes[9]"
	routeFieldLen = len("spec.routes[0]")
)

// routeField is the path of a MetaRouter's i-th route, "spec.routes[i]";
// a router's first ten are not formatted (every route built has one).
func routeField(i int) string {
	if i >= 0 && i < 10 {
		return routeFields[i*routeFieldLen : (i+1)*routeFieldLen]
	}
	return "spec.routes[" + strconv.Itoa(i) + "]"
}

// ForPort is the routes of a port its users may route with MetaRouters or,
// as Aeraki allowed on plain tcp-dubbo and tcp-thrift ports, with Istio
// VirtualServices: MetaRouters on tcp-metaprotocol-* ports; on plain ports
// the MetaRouters when there are any (the host's VirtualServices are then
// reported as shadowed), else the VirtualServices; on a sidecar's inbound
// side the one route to the local workload.
func ForPort(ctx *plugin.BuildContext) []Route {
	if ctx.Role == plugin.RoleSidecarInbound || ctx.Port.Meta {
		return Build(ctx)
	}
	vss := ctx.Model.VirtualServices(ctx.Service.Hostname)
	if len(ctx.MetaRouters) == 0 {
		return WithDefault(ctx, FromVirtualServices(ctx, vss))
	}
	first := ctx.MetaRouters[0]
	for _, vs := range vss {
		ctx.Warnf(VirtualServiceRef(vs), "spec.http", conditions.ReasonUnsupportedValue,
			"ignored for %s port %s: MetaRouter %s/%s routes this host and takes precedence", ctx.Service.Hostname, ctx.Port, first.Namespace, first.Name)
	}
	return Build(ctx)
}

// WithDefault appends the default route to ctx.Service unless a route
// already catches every call.
func WithDefault(ctx *plugin.BuildContext, routes []Route) []Route {
	for i := range routes {
		if routes[i].CatchAll() {
			return routes
		}
	}
	return append(routes, DefaultRoute(ctx))
}

// DefaultRoute sends every call to the service being built, unsplit.
func DefaultRoute(ctx *plugin.BuildContext) Route {
	return Route{Name: "default", Destinations: []Destination{defaultDestination(ctx)}}
}

// defaultRoute is DefaultRoute with its destination taken from res.dests.
func (res *resolver) defaultRoute() Route {
	d := append(res.take(1), defaultDestination(res.ctx))
	return Route{Name: "default", Destinations: d}
}

// defaultDestination is the destination of the default route.
func defaultDestination(ctx *plugin.BuildContext) Destination {
	d := Destination{Host: ctx.Service.Hostname, Port: ctx.Port.Number}
	d.Cluster = ctx.ClusterName(d.Host, d.Port, "")
	return d
}

// RouterRef is the ObjectRef of a MetaRouter.
func RouterRef(mr *metaprotocolv1alpha1.MetaRouter) model.ObjectRef {
	return model.ObjectRef{Group: metaprotocolv1alpha1.GroupName, Kind: "MetaRouter", Namespace: mr.Namespace, Name: mr.Name}
}

func (res *resolver) fromMetaRoute(mr *metaprotocolv1alpha1.MetaRouter, i int) (Route, error) {
	src := &mr.Spec.Routes[i]
	r := Route{Name: src.Name, Object: RouterRef(mr), Field: routeField(i)}
	if r.Name == "" {
		r.Name = mr.Name + "-" + strconv.Itoa(i)
	}
	if src.Match != nil {
		r.Match = res.attributes(src.Match.Attributes)
	}
	if len(src.Route) > 0 {
		r.Destinations = res.take(len(src.Route))
	}
	for j := range src.Route {
		d := &src.Route[j]
		dest, err := res.resolve(mr.Namespace, &d.Destination)
		if err != nil {
			return r, err
		}
		if d.Weight > 0 {
			dest.Weight = uint32(d.Weight)
		}
		r.Destinations = append(r.Destinations, dest)
	}
	if len(r.Destinations) == 0 {
		return r, fmt.Errorf("route has no destination")
	}
	if src.Mirror != nil {
		dest, err := res.resolve(mr.Namespace, src.Mirror)
		if err != nil {
			return r, fmt.Errorf("mirror: %w", err)
		}
		pct := 100.0
		if src.MirrorPercentage != nil {
			pct = src.MirrorPercentage.Value
		}
		r.Mirror = &Mirror{Destination: dest, Percent: pct}
	}
	r.RequestMutation = keyValues(src.RequestMutation)
	r.ResponseMutation = keyValues(src.ResponseMutation)
	var err error
	if src.Timeout != "" {
		if r.Timeout, err = src.Timeout.Parse(); err != nil {
			return r, fmt.Errorf("timeout: %w", err)
		}
	}
	if rp := src.Retries; rp != nil {
		r.Retries = &Retries{Attempts: uint32(max(rp.Attempts, 0)), RetryOn: rp.RetryOn}
		if rp.PerTryTimeout != "" {
			if r.Retries.PerTryTimeout, err = rp.PerTryTimeout.Parse(); err != nil {
				return r, fmt.Errorf("retries.perTryTimeout: %w", err)
			}
		}
	}
	if f := src.Fault; f != nil {
		r.Fault = &Fault{}
		if f.Delay != nil {
			if r.Fault.Delay, err = f.Delay.FixedDelay.Parse(); err != nil {
				return r, fmt.Errorf("fault.delay.fixedDelay: %w", err)
			}
			r.Fault.DelayPercent = percentOr100(f.Delay.Percentage)
		}
		if f.Abort != nil {
			r.Fault.AbortStatus = string(f.Abort.Status)
			r.Fault.AbortCode, _ = f.Abort.Status.Code()
			r.Fault.AbortPercent = percentOr100(f.Abort.Percentage)
		}
	}
	return r, nil
}

// keyValues converts mutations, nil for none.
func keyValues(kvs []metaprotocolv1alpha1.KeyValue) []KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = KeyValue{kv.Key, kv.Value}
	}
	return out
}

func percentOr100(p *metaprotocolv1alpha1.Percent) float64 {
	if p == nil {
		return 100
	}
	return p.Value
}

// Attributes converts a MetaRouter attribute map into matches sorted by
// name, so generated config does not depend on map order.
func Attributes(attrs map[string]metaprotocolv1alpha1.StringMatch) []AttributeMatch {
	return appendAttributes(make([]AttributeMatch, 0, len(attrs)), attrs)
}

// attributes is Attributes with the matches taken from res.matches while
// it has room (one allocation for the matches of every route of a Build).
func (res *resolver) attributes(attrs map[string]metaprotocolv1alpha1.StringMatch) []AttributeMatch {
	at, n := len(res.matches), len(attrs)
	if n == 0 || cap(res.matches)-at < n {
		return Attributes(attrs)
	}
	res.matches = res.matches[:at+n]
	return appendAttributes(res.matches[at:at:at+n], attrs)
}

// appendAttributes appends the matches of attrs to out (empty), sorted by
// name.
func appendAttributes(out []AttributeMatch, attrs map[string]metaprotocolv1alpha1.StringMatch) []AttributeMatch {
	for name, m := range attrs {
		am := AttributeMatch{Name: name}
		switch {
		case m.Exact != "":
			am.Kind, am.Value = MatchExact, m.Exact
		case m.Prefix != "":
			am.Kind, am.Value = MatchPrefix, m.Prefix
		case m.Regex != "":
			am.Kind, am.Value = MatchRegex, m.Regex
		default:
			am.Kind = MatchPresent
		}
		out = append(out, am)
	}
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b AttributeMatch) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// resolver resolves the destinations of one Build.
type resolver struct {
	ctx *plugin.BuildContext
	lookups
	// dests is room for the destinations of every route of the Build
	// (one allocation rather than one per route); its routes take parts
	// of it that appending past reallocates. matches is the same for
	// their attribute matches.
	dests   []Destination
	matches []AttributeMatch
	// clusters are the last cluster names made, reused by the
	// destinations that name the same one (a router's routes mostly
	// share a few subsets of one host); next is the one replaced next.
	clusters [4]clusterName
	next     int
}

// clusterName is the cluster of a host, port and subset.
type clusterName struct {
	host   string
	port   uint32
	subset string
	name   string
}

// clusterName is res.ctx.ClusterName, remembered.
func (res *resolver) clusterName(host string, port uint32, subset string) string {
	for _, c := range res.clusters {
		if c.name != "" && c.port == port && c.host == host && c.subset == subset {
			return c.name
		}
	}
	name := res.ctx.ClusterName(host, port, subset)
	res.clusters[res.next] = clusterName{host, port, subset, name}
	res.next = (res.next + 1) % len(res.clusters)
	return name
}

// take returns an empty slice with room for n destinations, from
// res.dests while it has room.
func (res *resolver) take(n int) []Destination {
	at := len(res.dests)
	if cap(res.dests)-at < n {
		return make([]Destination, 0, n)
	}
	res.dests = res.dests[:at+n]
	return res.dests[at : at : at+n]
}

// lookups reads services and subsets for one Build or Validate. It
// remembers the last service and DestinationRules it read: a router's
// destinations are mostly subsets of one host, and a repeated lookup
// records nothing new in the View's dependencies, so skipping it changes
// no output.
type lookups struct {
	view *model.View

	host, namespace string
	svc             *model.Service

	drHost string
	drs    []*networkingv1.DestinationRule
	drRead bool
}

// service is view.LookupService, remembered.
func (l *lookups) service(host, namespace string) *model.Service {
	if l.svc != nil && host == l.host && namespace == l.namespace {
		return l.svc
	}
	svc := l.view.LookupService(host, namespace)
	l.host, l.namespace, l.svc = host, namespace, svc
	return svc
}

// hasSubset reports whether a DestinationRule of hostname declares the
// subset, reading what View.Subset reads without building the subset list.
func (l *lookups) hasSubset(hostname, name string) bool {
	if !l.drRead || hostname != l.drHost {
		l.drHost, l.drs, l.drRead = hostname, l.view.DestinationRules(hostname), true
	}
	return subsetDeclared(l.drs, name)
}

// subsetDeclared reports whether one of drs declares the named subset.
func subsetDeclared(drs []*networkingv1.DestinationRule, name string) bool {
	for _, dr := range drs {
		for _, ss := range dr.Spec.Subsets {
			if ss != nil && ss.Name == name {
				return true
			}
		}
	}
	return false
}

// resolve finds the service, port and cluster of a MetaRouter destination.
func (res *resolver) resolve(namespace string, d *metaprotocolv1alpha1.Destination) (Destination, error) {
	ctx := res.ctx
	svc := res.service(d.Host, namespace)
	if svc == nil {
		return Destination{}, fmt.Errorf("destination host %q matches no Service or ServiceEntry", d.Host)
	}
	port, err := destinationPort(svc, d.Port, ctx.Service, ctx.Port)
	if err != nil {
		return Destination{}, err
	}
	if d.Subset != "" && !res.hasSubset(svc.Hostname, d.Subset) {
		return Destination{}, fmt.Errorf("subset %q of %s is not defined by any DestinationRule", d.Subset, svc.Hostname)
	}
	out := Destination{Host: svc.Hostname, Port: port.Number, Subset: d.Subset}
	out.Cluster = res.clusterName(out.Host, out.Port, out.Subset)
	return out, nil
}

// destinationPort picks the port of svc a destination means: the one
// named, else the port being built when svc is that service, else the port
// with the same number, else svc's only port.
func destinationPort(svc *model.Service, sel *metaprotocolv1alpha1.PortSelector, building *model.Service, buildingPort *model.Port) (*model.Port, error) {
	if sel != nil && sel.Number != 0 {
		if p := svc.Port(uint32(sel.Number)); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("destination %s has no port %d", svc.Hostname, sel.Number)
	}
	if buildingPort != nil {
		if p := svc.Port(buildingPort.Number); p != nil {
			return p, nil
		}
	}
	if len(svc.Ports) == 1 {
		return svc.Ports[0], nil
	}
	if building != nil && svc.Hostname == building.Hostname && buildingPort != nil {
		return buildingPort, nil
	}
	return nil, fmt.Errorf("destination %s has %d ports; set destination.port.number", svc.Hostname, len(svc.Ports))
}

// resolve is resolver.resolve for one destination outside Build.
func resolve(ctx *plugin.BuildContext, namespace string, d metaprotocolv1alpha1.Destination) (Destination, error) {
	res := resolver{ctx: ctx, lookups: lookups{view: ctx.Model}}
	return res.resolve(namespace, &d)
}
