package metaroute

import (
	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Features are the optional parts of a route, which data planes carry
// unevenly; a plugin says which its data plane carries.
type Features uint

const (
	// FeatureMirror is Route.Mirror.
	FeatureMirror Features = 1 << iota
	// FeatureRequestMutation is Route.RequestMutation.
	FeatureRequestMutation
	// FeatureResponseMutation is Route.ResponseMutation.
	FeatureResponseMutation
	// FeatureFault is Route.Fault.
	FeatureFault
	// FeatureTimeout is Route.Timeout.
	FeatureTimeout
	// FeatureRetries is Route.Retries (the number of attempts).
	FeatureRetries
	// FeaturePerTryTimeout is Retries.PerTryTimeout.
	FeaturePerTryTimeout
	// FeatureRetryOn is Retries.RetryOn.
	FeatureRetryOn
)

// feature describes one optional part: how to see it set, its field and
// what a data plane without it cannot do.
var features = []struct {
	f     Features
	set   func(*Route) bool
	field string
	what  string
}{
	{FeatureMirror, func(r *Route) bool { return r.Mirror != nil }, "mirror", "mirror calls"},
	{FeatureRequestMutation, func(r *Route) bool { return len(r.RequestMutation) > 0 }, "requestMutation", "mutate requests"},
	{FeatureResponseMutation, func(r *Route) bool { return len(r.ResponseMutation) > 0 }, "responseMutation", "mutate responses"},
	{FeatureFault, func(r *Route) bool { return r.Fault != nil }, "fault", "inject faults"},
	{FeatureTimeout, func(r *Route) bool { return r.Timeout > 0 }, "timeout", "time out calls per route"},
	{FeatureRetries, func(r *Route) bool { return r.Retries != nil }, "retries", "retry calls"},
	{FeaturePerTryTimeout, func(r *Route) bool { return r.Retries != nil && r.Retries.PerTryTimeout > 0 }, "retries.perTryTimeout", "bound each retry separately"},
	{FeatureRetryOn, func(r *Route) bool { return r.Retries != nil && len(r.Retries.RetryOn) > 0 }, "retries.retryOn", "choose retry conditions"},
}

// WarnUnsupported reports on the route's object, as a warning naming the
// field, each optional part of r that dataPlane (for example "Envoy's
// thrift_proxy") cannot carry: the route is programmed without it, and the
// user is told rather than left to find out. The default route (no
// object) is never reported.
func WarnUnsupported(ctx *plugin.BuildContext, r *Route, dataPlane string, supported Features) {
	if r.Object.Kind == "" {
		return
	}
	for _, f := range features {
		if supported&f.f != 0 || !f.set(r) {
			continue
		}
		// Retry details only matter when retries themselves are carried.
		if (f.f == FeaturePerTryTimeout || f.f == FeatureRetryOn) && supported&FeatureRetries == 0 {
			continue
		}
		ctx.Warnf(r.Object, r.Field+"."+f.field, conditions.ReasonUnsupportedValue,
			"%s cannot %s; route %q is programmed without it", dataPlane, f.what, r.Name)
	}
}
