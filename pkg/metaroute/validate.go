package metaroute

import (
	"fmt"
	"slices"
	"strconv"
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
	v := validator{view: view, mr: mr, ref: RouterRef(mr), lookups: lookups{view: view}}
	v.run()
	return v.diags
}

// validator walks one MetaRouter. path is the field being checked, such
// as "spec.routes[0].route[1]", as the steps to it; it grows and shrinks
// as the walk goes (enter and leave), and is joined into a string only in
// a finding, so a valid router costs no field names. The steps are an
// array in the validator, on Validate's stack: the walk allocates no path
// either (a buffer for it was an allocation per router validated).
type validator struct {
	view  *model.View
	mr    *metaprotocolv1alpha1.MetaRouter
	ref   model.ObjectRef
	diags []model.Diagnostic
	path  [maxPathDepth]pathStep
	depth int // steps of path taken
	lookups
}

// maxPathDepth bounds the steps of a field path; the walk takes at most
// four (spec.localRateLimit.conditions[i], .match.attributes, ".", name).
const maxPathDepth = 8

// pathStep is one step of a field path: name, then "[index]" when index
// is not negative.
type pathStep struct {
	name  string
	index int
}

// errorf records a finding on the field path+sub.
func (v *validator) errorf(sub, reason, format string, args ...any) {
	v.diags = append(v.diags, model.Diagnostic{Severity: model.SeverityError, Object: v.ref, Field: v.field(sub), Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// field is the path joined, then sub.
func (v *validator) field(sub string) string {
	var buf [96]byte
	b := buf[:0]
	for _, st := range v.path[:v.depth] {
		b = append(b, st.name...)
		if st.index >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(st.index), 10)
			b = append(b, ']')
		}
	}
	return string(append(b, sub...))
}

// enter appends s to the path and returns the mark leave restores.
func (v *validator) enter(s string) int { return v.step(pathStep{s, -1}) }

// enterIndex appends s, "[i]" to the path.
func (v *validator) enterIndex(s string, i int) int { return v.step(pathStep{s, i}) }

func (v *validator) step(st pathStep) int {
	n := v.depth
	if n == len(v.path) {
		panic("metaroute: a field path deeper than maxPathDepth")
	}
	v.path[n] = st
	v.depth++
	return n
}

// leave restores the path enter or enterIndex extended.
func (v *validator) leave(mark int) { v.depth = mark }

func (v *validator) run() {
	spec := &v.mr.Spec
	if len(spec.Hosts) == 0 {
		v.errorf("spec.hosts", conditions.ReasonInvalidRoute, "a MetaRouter needs at least one host")
	}
	var first *model.Service
	for i, h := range spec.Hosts {
		svc := v.service(h, v.mr.Namespace)
		if svc == nil {
			m := v.enterIndex("spec.hosts", i)
			v.errorf("", conditions.ReasonHostNotFound, "host %q matches no Service or ServiceEntry; create the service or fix the host", h)
			v.leave(m)
			continue
		}
		if first == nil {
			first = svc
		}
	}
	for i := range spec.Routes {
		m := v.enterIndex("spec.routes", i)
		v.route(&spec.Routes[i], first)
		v.leave(m)
	}
	if lr := spec.LocalRateLimit; lr != nil {
		if lr.TokenBucket != nil {
			m := v.enter("spec.localRateLimit.tokenBucket")
			v.bucket(lr.TokenBucket)
			v.leave(m)
		}
		for i := range lr.Conditions {
			m := v.enterIndex("spec.localRateLimit.conditions", i)
			v.matches(".match.attributes", lr.Conditions[i].Match.Attributes)
			m2 := v.enter(".tokenBucket")
			v.bucket(&lr.Conditions[i].TokenBucket)
			v.leave(m2)
			v.leave(m)
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

// route checks the route at the path.
func (v *validator) route(r *metaprotocolv1alpha1.MetaRoute, host *model.Service) {
	if r.Match != nil {
		v.matches(".match.attributes", r.Match.Attributes)
	}
	if len(r.Route) == 0 {
		v.errorf(".route", conditions.ReasonInvalidRoute, "a route needs at least one destination")
	}
	var sum int64 // int32 weights cannot overflow it
	for i := range r.Route {
		d := &r.Route[i]
		m := v.enterIndex(".route", i)
		if d.Weight < 0 || d.Weight > 100 {
			v.errorf(".weight", conditions.ReasonInvalidRoute, "weight %d is outside 0..100", d.Weight)
		}
		sum += int64(d.Weight)
		m2 := v.enter(".destination")
		v.destination(&d.Destination, host)
		v.leave(m2)
		v.leave(m)
	}
	if len(r.Route) > 1 && sum != 100 {
		v.errorf(".route", conditions.ReasonInvalidRoute, "weights of a split route must sum to 100, these sum to %d", sum)
	}
	if r.Mirror != nil {
		m := v.enter(".mirror")
		v.destination(r.Mirror, host)
		v.leave(m)
	}
	if r.MirrorPercentage != nil {
		v.percent(".mirrorPercentage.value", r.MirrorPercentage.Value)
	}
	v.duration(".timeout", r.Timeout)
	if rp := r.Retries; rp != nil {
		if rp.Attempts < 0 || rp.Attempts > 100 {
			v.errorf(".retries.attempts", conditions.ReasonInvalidRoute, "attempts %d is outside 0..100", rp.Attempts)
		}
		v.duration(".retries.perTryTimeout", rp.PerTryTimeout)
	}
	if f := r.Fault; f != nil {
		if f.Delay == nil && f.Abort == nil {
			v.errorf(".fault", conditions.ReasonInvalidRoute, "a fault needs a delay or an abort")
		}
		if f.Delay != nil {
			v.positiveDuration(".fault.delay.fixedDelay", f.Delay.FixedDelay, 0)
			if f.Delay.Percentage != nil {
				v.percent(".fault.delay.percentage.value", f.Delay.Percentage.Value)
			}
		}
		if f.Abort != nil {
			if _, ok := f.Abort.Status.Code(); !ok {
				v.errorf(".fault.abort.status", conditions.ReasonInvalidRoute, "unknown status %q; use a gRPC status name such as UNAVAILABLE", f.Abort.Status)
			}
			if f.Abort.Percentage != nil {
				v.percent(".fault.abort.percentage.value", f.Abort.Percentage.Value)
			}
		}
	}
}

// destination checks the destination at the path.
func (v *validator) destination(d *metaprotocolv1alpha1.Destination, building *model.Service) {
	if d.Host == "" {
		v.errorf(".host", conditions.ReasonInvalidRoute, "host is required")
		return
	}
	svc := v.service(d.Host, v.mr.Namespace)
	if svc == nil {
		v.errorf(".host", conditions.ReasonHostNotFound, "destination host %q matches no Service or ServiceEntry", d.Host)
		return
	}
	if d.Port != nil && d.Port.Number != 0 && !model.ValidPort(int64(d.Port.Number)) {
		v.errorf(".port.number", conditions.ReasonInvalidRoute, "port %d is outside 1..65535", d.Port.Number)
	} else if d.Port != nil && d.Port.Number != 0 && svc.Port(uint32(d.Port.Number)) == nil {
		v.errorf(".port.number", conditions.ReasonInvalidRoute, "%s has no port %d", svc.Hostname, d.Port.Number)
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
				v.errorf(".port", conditions.ReasonInvalidRoute, "%s has %d ports and none matches the routed service's; set port.number", svc.Hostname, len(svc.Ports))
			}
		}
	}
	if d.Subset != "" {
		if !v.hasSubset(svc.Hostname, d.Subset) {
			v.errorf(".subset", conditions.ReasonSubsetNotFound, "subset %q of %s is not defined by any DestinationRule; add it to the DestinationRule's subsets or remove it", d.Subset, svc.Hostname)
		}
	}
}

// matches checks the attribute matches at path+sub, in name order.
func (v *validator) matches(sub string, attrs map[string]metaprotocolv1alpha1.StringMatch) {
	if len(attrs) == 0 {
		return
	}
	m := v.enter(sub)
	defer v.leave(m)
	var keys [8]string
	for _, name := range sortedKeysInto(keys[:0], attrs) {
		sm := attrs[name]
		m2 := v.enter(".")
		v.enter(name)
		n := 0
		for _, s := range [...]string{sm.Exact, sm.Prefix, sm.Regex} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			v.errorf("", conditions.ReasonInvalidRoute, "set only one of exact, prefix and regex")
		}
		if sm.Regex != "" {
			if err := re2.Check(sm.Regex, v.view.Options().RegexMaxProgramSize); err != nil {
				v.errorf(".regex", conditions.ReasonInvalidRoute, "%v", err)
			}
		}
		v.leave(m2)
	}
}

// bucket checks the token bucket at the path.
func (v *validator) bucket(b *metaprotocolv1alpha1.TokenBucket) {
	if b.MaxTokens <= 0 {
		v.errorf(".maxTokens", conditions.ReasonInvalidRoute, "maxTokens must be positive")
	}
	if b.TokensPerFill != nil && *b.TokensPerFill <= 0 {
		v.errorf(".tokensPerFill", conditions.ReasonInvalidRoute, "tokensPerFill must be positive")
	}
	// Envoy refuses a local rate limit whose token bucket fills more often
	// than every 50ms (source/extensions/filters/common/local_ratelimit/
	// local_ratelimit_impl.cc: "fill timer must be >= 50ms").
	v.positiveDuration(".fillInterval", b.FillInterval, MinFillInterval)
}

// MinFillInterval is the shortest token bucket fill interval Envoy's
// local rate limit accepts.
const MinFillInterval = 50 * time.Millisecond

// positiveDuration checks a required duration at path+sub that must be
// more than zero and at least the given minimum.
func (v *validator) positiveDuration(sub string, d duration.Duration, least time.Duration) {
	if d == "" {
		v.errorf(sub, conditions.ReasonInvalidRoute, "a duration is required, such as 100ms or 5s")
		return
	}
	got, err := d.Parse()
	switch {
	case err != nil:
		v.errorf(sub, conditions.ReasonInvalidRoute, "%v; write durations like 100ms or 5s", err)
	case got == 0:
		v.errorf(sub, conditions.ReasonInvalidRoute, "must be more than zero")
	case got < least:
		v.errorf(sub, conditions.ReasonInvalidRoute, "%s is shorter than %s, which Envoy refuses", got, least)
	}
}

// duration checks an optional duration at path+sub.
func (v *validator) duration(sub string, d duration.Duration) {
	if d == "" {
		return
	}
	if _, err := d.Parse(); err != nil {
		v.errorf(sub, conditions.ReasonInvalidRoute, "%v; write durations like 100ms or 5s", err)
	}
}

func (v *validator) percent(sub string, p float64) {
	if p < 0 || p > 100 {
		v.errorf(sub, conditions.ReasonInvalidRoute, "percentage %g is outside 0..100", p)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return sortedKeysInto(make([]string, 0, len(m)), m)
}

// sortedKeysInto appends m's keys to out, sorted; with room in out it
// allocates nothing.
func sortedKeysInto[V any](out []string, m map[string]V) []string {
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
