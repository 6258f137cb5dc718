package metaroute

import (
	"fmt"
	"time"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/api/duration"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// Validate checks a MetaRouter against the mesh: every host and
// destination names a service, subsets exist in a DestinationRule, ports
// exist, weights are 0..100 and sum to 100 when a route splits, string
// matches hold one operand and regexes compile, durations parse. It
// repeats the CRD schema's checks because files given to `aeraki render`
// or `--config-dir` never went through an API server.
//
// Every finding is an error: an invalid router is left out as a whole,
// so a half-applied routing table never reaches a proxy.
func Validate(view *model.View, mr *metaprotocolv1alpha1.MetaRouter) []model.Diagnostic {
	v := validator{view: view, mr: mr, ref: RouterRef(mr)}
	v.run()
	return v.diags
}

type validator struct {
	view  *model.View
	mr    *metaprotocolv1alpha1.MetaRouter
	ref   model.ObjectRef
	diags []model.Diagnostic
}

func (v *validator) errorf(field, reason, format string, args ...any) {
	v.diags = append(v.diags, model.Diagnostic{Severity: model.SeverityError, Object: v.ref, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) run() {
	spec := &v.mr.Spec
	if len(spec.Hosts) == 0 {
		v.errorf("spec.hosts", conditions.ReasonInvalidRoute, "a MetaRouter needs at least one host")
	}
	var first *model.Service
	for i, h := range spec.Hosts {
		svc := v.view.LookupService(h, v.mr.Namespace)
		if svc == nil {
			v.errorf(fmt.Sprintf("spec.hosts[%d]", i), conditions.ReasonHostNotFound, "host %q matches no Service or ServiceEntry; create the service or fix the host", h)
			continue
		}
		if first == nil {
			first = svc
		}
	}
	for i := range spec.Routes {
		v.route(fmt.Sprintf("spec.routes[%d]", i), &spec.Routes[i], first)
	}
	if lr := spec.LocalRateLimit; lr != nil {
		if lr.TokenBucket != nil {
			v.bucket("spec.localRateLimit.tokenBucket", lr.TokenBucket)
		}
		for i := range lr.Conditions {
			f := fmt.Sprintf("spec.localRateLimit.conditions[%d]", i)
			v.matches(f+".match.attributes", lr.Conditions[i].Match.Attributes)
			v.bucket(f+".tokenBucket", &lr.Conditions[i].TokenBucket)
		}
	}
	if gr := spec.GlobalRateLimit; gr != nil {
		if gr.Match != nil {
			v.matches("spec.globalRateLimit.match.attributes", gr.Match.Attributes)
		}
		v.duration("spec.globalRateLimit.requestTimeout", gr.RequestTimeout)
		if gr.Domain == "" {
			v.errorf("spec.globalRateLimit.domain", conditions.ReasonInvalidRoute, "domain is required")
		}
		if gr.RateLimitService == "" {
			v.errorf("spec.globalRateLimit.rateLimitService", conditions.ReasonInvalidRoute, "rateLimitService (the rate limit service's cluster name) is required")
		}
	}
}

func (v *validator) route(field string, r *metaprotocolv1alpha1.MetaRoute, host *model.Service) {
	if r.Match != nil {
		v.matches(field+".match.attributes", r.Match.Attributes)
	}
	if len(r.Route) == 0 {
		v.errorf(field+".route", conditions.ReasonInvalidRoute, "a route needs at least one destination")
	}
	var sum int64 // int32 weights cannot overflow it
	for i, d := range r.Route {
		f := fmt.Sprintf("%s.route[%d]", field, i)
		if d.Weight < 0 || d.Weight > 100 {
			v.errorf(f+".weight", conditions.ReasonInvalidRoute, "weight %d is outside 0..100", d.Weight)
		}
		sum += int64(d.Weight)
		v.destination(f+".destination", d.Destination, host)
	}
	if len(r.Route) > 1 && sum != 100 {
		v.errorf(field+".route", conditions.ReasonInvalidRoute, "weights of a split route must sum to 100, these sum to %d", sum)
	}
	if r.Mirror != nil {
		v.destination(field+".mirror", *r.Mirror, host)
	}
	if r.MirrorPercentage != nil {
		v.percent(field+".mirrorPercentage.value", r.MirrorPercentage.Value)
	}
	v.duration(field+".timeout", r.Timeout)
	if rp := r.Retries; rp != nil {
		if rp.Attempts < 0 || rp.Attempts > 100 {
			v.errorf(field+".retries.attempts", conditions.ReasonInvalidRoute, "attempts %d is outside 0..100", rp.Attempts)
		}
		v.duration(field+".retries.perTryTimeout", rp.PerTryTimeout)
	}
	if f := r.Fault; f != nil {
		if f.Delay == nil && f.Abort == nil {
			v.errorf(field+".fault", conditions.ReasonInvalidRoute, "a fault needs a delay or an abort")
		}
		if f.Delay != nil {
			v.positiveDuration(field+".fault.delay.fixedDelay", f.Delay.FixedDelay, 0)
			if f.Delay.Percentage != nil {
				v.percent(field+".fault.delay.percentage.value", f.Delay.Percentage.Value)
			}
		}
		if f.Abort != nil {
			if _, ok := f.Abort.Status.Code(); !ok {
				v.errorf(field+".fault.abort.status", conditions.ReasonInvalidRoute, "unknown status %q; use a gRPC status name such as UNAVAILABLE", f.Abort.Status)
			}
			if f.Abort.Percentage != nil {
				v.percent(field+".fault.abort.percentage.value", f.Abort.Percentage.Value)
			}
		}
	}
}

func (v *validator) destination(field string, d metaprotocolv1alpha1.Destination, building *model.Service) {
	if d.Host == "" {
		v.errorf(field+".host", conditions.ReasonInvalidRoute, "host is required")
		return
	}
	svc := v.view.LookupService(d.Host, v.mr.Namespace)
	if svc == nil {
		v.errorf(field+".host", conditions.ReasonHostNotFound, "destination host %q matches no Service or ServiceEntry", d.Host)
		return
	}
	if d.Port != nil && d.Port.Number != 0 && !model.ValidPort(int64(d.Port.Number)) {
		v.errorf(field+".port.number", conditions.ReasonInvalidRoute, "port %d is outside 1..65535", d.Port.Number)
	} else if d.Port != nil && d.Port.Number != 0 && svc.Port(uint32(d.Port.Number)) == nil {
		v.errorf(field+".port.number", conditions.ReasonInvalidRoute, "%s has no port %d", svc.Hostname, d.Port.Number)
	}
	if (d.Port == nil || d.Port.Number == 0) && len(svc.Ports) > 1 && (building == nil || svc.Hostname != building.Hostname) {
		// The port being built is unknown here; a same-numbered port is
		// picked at build time, so only flag services sharing no port.
		if building != nil {
			shared := false
			for _, p := range building.Ports {
				if svc.Port(p.Number) != nil {
					shared = true
				}
			}
			if !shared {
				v.errorf(field+".port", conditions.ReasonInvalidRoute, "%s has %d ports and none matches the routed service's; set port.number", svc.Hostname, len(svc.Ports))
			}
		}
	}
	if d.Subset != "" {
		if _, ok := v.view.Subset(svc.Hostname, d.Subset); !ok {
			v.errorf(field+".subset", conditions.ReasonSubsetNotFound, "subset %q of %s is not defined by any DestinationRule; add it to the DestinationRule's subsets or remove it", d.Subset, svc.Hostname)
		}
	}
}

func (v *validator) matches(field string, attrs map[string]metaprotocolv1alpha1.StringMatch) {
	for _, name := range sortedKeys(attrs) {
		m := attrs[name]
		f := field + "." + name
		n := 0
		for _, s := range []string{m.Exact, m.Prefix, m.Regex} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			v.errorf(f, conditions.ReasonInvalidRoute, "set only one of exact, prefix and regex")
		}
		if m.Regex != "" {
			if err := re2.Check(m.Regex, v.view.Options().RegexMaxProgramSize); err != nil {
				v.errorf(f+".regex", conditions.ReasonInvalidRoute, "%v", err)
			}
		}
	}
}

func (v *validator) bucket(field string, b *metaprotocolv1alpha1.TokenBucket) {
	if b.MaxTokens <= 0 {
		v.errorf(field+".maxTokens", conditions.ReasonInvalidRoute, "maxTokens must be positive")
	}
	if b.TokensPerFill != nil && *b.TokensPerFill <= 0 {
		v.errorf(field+".tokensPerFill", conditions.ReasonInvalidRoute, "tokensPerFill must be positive")
	}
	// Envoy refuses a local rate limit whose token bucket fills more often
	// than every 50ms (source/extensions/filters/common/local_ratelimit/
	// local_ratelimit_impl.cc: "fill timer must be >= 50ms").
	v.positiveDuration(field+".fillInterval", b.FillInterval, MinFillInterval)
}

// MinFillInterval is the shortest token bucket fill interval Envoy's
// local rate limit accepts.
const MinFillInterval = 50 * time.Millisecond

// positiveDuration checks a required duration that must be more than zero
// and at least the given minimum.
func (v *validator) positiveDuration(field string, d duration.Duration, least time.Duration) {
	if d == "" {
		v.errorf(field, conditions.ReasonInvalidRoute, "a duration is required, such as 100ms or 5s")
		return
	}
	got, err := d.Parse()
	switch {
	case err != nil:
		v.errorf(field, conditions.ReasonInvalidRoute, "%v; write durations like 100ms or 5s", err)
	case got == 0:
		v.errorf(field, conditions.ReasonInvalidRoute, "must be more than zero")
	case got < least:
		v.errorf(field, conditions.ReasonInvalidRoute, "%s is shorter than %s, which Envoy refuses", got, least)
	}
}

// duration checks an optional duration.
func (v *validator) duration(field string, d duration.Duration) {
	if d == "" {
		return
	}
	if _, err := d.Parse(); err != nil {
		v.errorf(field, conditions.ReasonInvalidRoute, "%v; write durations like 100ms or 5s", err)
	}
}

func (v *validator) percent(field string, p float64) {
	if p < 0 || p > 100 {
		v.errorf(field, conditions.ReasonInvalidRoute, "percentage %g is outside 0..100", p)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
