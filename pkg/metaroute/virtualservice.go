package metaroute

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// VirtualServiceRef is the ObjectRef of a VirtualService.
func VirtualServiceRef(vs *networkingv1.VirtualService) model.ObjectRef {
	return model.ObjectRef{Group: "networking.istio.io", Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name}
}

// FromVirtualServices converts the http routes of the VirtualServices that
// apply to sidecars ("mesh" gateway) for ctx.Service into routes, the way
// Aeraki routed tcp-dubbo and tcp-thrift ports: match.method becomes the
// "method" attribute, match.headers become attributes of the same name,
// and each match block becomes its own route (Istio ORs them). A route
// using a match field the protocol has no equivalent for (uri, scheme,
// authority, query parameters, ...) is reported and skipped rather than
// widened; redirects, rewrites and header policies are reported and left out.
func FromVirtualServices(ctx *plugin.BuildContext, list []*networkingv1.VirtualService) []Route {
	var out []Route
	for _, vs := range list {
		if !appliesToMesh(vs.Spec.Gateways) {
			continue
		}
		ref := VirtualServiceRef(vs)
		for i, h := range vs.Spec.Http {
			field := fmt.Sprintf("spec.http[%d]", i)
			base, err := vsRoute(ctx, vs, h, ref, field)
			if err != nil {
				ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field, Reason: conditions.ReasonInvalidRoute, Message: err.Error() + "; the route is skipped"})
				continue
			}
			if base.Name == "" {
				base.Name = fmt.Sprintf("%s-%d", vs.Name, i)
			}
			if len(h.Match) == 0 {
				out = append(out, base)
				continue
			}
			for j, m := range h.Match {
				if m == nil {
					continue
				}
				mfield := fmt.Sprintf("%s.match[%d]", field, j)
				if len(m.Gateways) > 0 && !appliesToMesh(m.Gateways) {
					continue
				}
				attrs, err := vsMatch(m, ctx.Model.Options().RegexMaxProgramSize)
				if err != nil {
					ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: mfield, Reason: conditions.ReasonUnsupportedValue, Message: err.Error() + "; this match is skipped rather than widened"})
					continue
				}
				r := base
				r.Match = attrs
				if len(h.Match) > 1 {
					r.Name = fmt.Sprintf("%s-%d", base.Name, j)
				}
				out = append(out, r)
			}
		}
	}
	return out
}

func appliesToMesh(gateways []string) bool {
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if g == "mesh" {
			return true
		}
	}
	return false
}

func vsMatch(m *networkingv1alpha3.HTTPMatchRequest, maxProgramSize int) ([]AttributeMatch, error) {
	var unsupported []string
	if m.Uri != nil {
		unsupported = append(unsupported, "uri")
	}
	if m.Scheme != nil {
		unsupported = append(unsupported, "scheme")
	}
	if m.Authority != nil {
		unsupported = append(unsupported, "authority")
	}
	if len(m.QueryParams) > 0 {
		unsupported = append(unsupported, "queryParams")
	}
	if len(m.WithoutHeaders) > 0 {
		unsupported = append(unsupported, "withoutHeaders")
	}
	if len(m.SourceLabels) > 0 {
		unsupported = append(unsupported, "sourceLabels")
	}
	if m.SourceNamespace != "" {
		unsupported = append(unsupported, "sourceNamespace")
	}
	if m.Port != 0 {
		unsupported = append(unsupported, "port")
	}
	if len(unsupported) > 0 {
		return nil, fmt.Errorf("match fields %v have no equivalent for this protocol (use method and headers)", unsupported)
	}
	attrs := map[string]metaprotocolv1alpha1.StringMatch{}
	if m.Method != nil {
		attrs["method"] = fromIstioMatch(m.Method)
	}
	for k, v := range m.Headers {
		attrs[k] = fromIstioMatch(v)
	}
	for _, name := range sortedKeys(attrs) {
		if re := attrs[name].Regex; re != "" {
			if err := re2.Check(re, maxProgramSize); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return Attributes(attrs), nil
}

func fromIstioMatch(s *networkingv1alpha3.StringMatch) metaprotocolv1alpha1.StringMatch {
	switch {
	case s.GetExact() != "":
		return metaprotocolv1alpha1.StringMatch{Exact: s.GetExact()}
	case s.GetPrefix() != "":
		return metaprotocolv1alpha1.StringMatch{Prefix: s.GetPrefix()}
	case s.GetRegex() != "":
		return metaprotocolv1alpha1.StringMatch{Regex: s.GetRegex()}
	}
	return metaprotocolv1alpha1.StringMatch{}
}

func vsRoute(ctx *plugin.BuildContext, vs *networkingv1.VirtualService, h *networkingv1alpha3.HTTPRoute, ref model.ObjectRef, field string) (Route, error) {
	r := Route{Name: h.Name, Object: ref, Field: field}
	if h.Redirect != nil || h.DirectResponse != nil || h.Delegate != nil {
		return r, fmt.Errorf("redirect, directResponse and delegate have no equivalent for this protocol")
	}
	if len(h.Route) == 0 {
		return r, fmt.Errorf("route has no destination")
	}
	var sum int64 // the sum of int32 weights cannot overflow an int64
	for i, d := range h.Route {
		if d.Destination == nil {
			return r, fmt.Errorf("route[%d] has no destination", i)
		}
		if d.Weight < 0 || d.Weight > 100 {
			return r, fmt.Errorf("route[%d].weight %d is outside 0..100", i, d.Weight)
		}
		if p := d.Destination.GetPort().GetNumber(); p != 0 && !model.ValidPort(int64(p)) {
			return r, fmt.Errorf("route[%d].destination.port.number %d is outside 1..65535", i, p)
		}
		dest, err := resolve(ctx, vs.Namespace, toDestination(d.Destination))
		if err != nil {
			return r, fmt.Errorf("route[%d]: %w", i, err)
		}
		dest.Weight = uint32(d.Weight)
		sum += int64(d.Weight)
		r.Destinations = append(r.Destinations, dest)
	}
	if len(r.Destinations) > 1 && sum != 100 {
		return r, fmt.Errorf("weights of a split route must sum to 100, these sum to %d", sum)
	}
	var err error
	if r.Timeout, err = vsDuration("timeout", h.Timeout, false); err != nil {
		return r, err
	}
	if h.Retries != nil && h.Retries.Attempts > 0 {
		r.Retries = &Retries{Attempts: uint32(h.Retries.Attempts)}
		if r.Retries.PerTryTimeout, err = vsDuration("retries.perTryTimeout", h.Retries.PerTryTimeout, false); err != nil {
			return r, err
		}
		if h.Retries.RetryOn != "" {
			r.Retries.RetryOn = []string{h.Retries.RetryOn}
		}
	}
	if h.Mirror != nil {
		if p := h.Mirror.GetPort().GetNumber(); p != 0 && !model.ValidPort(int64(p)) {
			return r, fmt.Errorf("mirror.port.number %d is outside 1..65535", p)
		}
		dest, err := resolve(ctx, vs.Namespace, toDestination(h.Mirror))
		if err != nil {
			return r, fmt.Errorf("mirror: %w", err)
		}
		pct, err := vsPercent("mirrorPercentage", h.MirrorPercentage)
		if err != nil {
			return r, err
		}
		r.Mirror = &Mirror{Destination: dest, Percent: pct}
	}
	if f := h.Fault; f != nil {
		r.Fault = &Fault{}
		if d := f.Delay; d != nil && d.GetFixedDelay() != nil {
			if r.Fault.Delay, err = vsDuration("fault.delay.fixedDelay", d.GetFixedDelay(), true); err != nil {
				return r, err
			}
			if r.Fault.DelayPercent, err = vsPercent("fault.delay.percentage", d.Percentage); err != nil {
				return r, err
			}
		}
		if a := f.Abort; a != nil {
			r.Fault.AbortStatus = a.GetGrpcStatus()
			if r.Fault.AbortStatus == "" && a.GetHttpStatus() != 0 {
				r.Fault.AbortStatus = fmt.Sprint(a.GetHttpStatus())
			}
			r.Fault.AbortCode, _ = metaprotocolv1alpha1.FaultStatus(a.GetGrpcStatus()).Code()
			if r.Fault.AbortPercent, err = vsPercent("fault.abort.percentage", a.Percentage); err != nil {
				return r, err
			}
		}
	}
	if h.Rewrite != nil || h.Headers != nil || h.CorsPolicy != nil || len(h.Mirrors) > 0 {
		ctx.Warnf(ref, field, conditions.ReasonUnsupportedValue, "rewrite, headers, corsPolicy and mirrors have no equivalent for this protocol and are left out")
	}
	return r, nil
}

// vsDuration reads an optional Istio duration the way Envoy bounds it: a
// valid protobuf Duration (Istio's API server check, which files never
// went through), not negative, and more than zero when positive is set.
func vsDuration(field string, d *durationpb.Duration, positive bool) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("%s: %v", field, err)
	}
	switch v := d.AsDuration(); {
	case v < 0:
		return 0, fmt.Errorf("%s %s must not be negative", field, v)
	case positive && v == 0:
		return 0, fmt.Errorf("%s must be more than zero", field)
	default:
		return v, nil
	}
}

// vsPercent reads an optional Istio percentage: 100 when unset, else
// 0..100 (Envoy's FractionalPercent cannot carry more).
func vsPercent(field string, p *networkingv1alpha3.Percent) (float64, error) {
	if p == nil {
		return 100, nil
	}
	if math.IsNaN(p.Value) || p.Value < 0 || p.Value > 100 {
		return 0, fmt.Errorf("%s %g is outside 0..100", field, p.Value)
	}
	return p.Value, nil
}

func toDestination(d *networkingv1alpha3.Destination) metaprotocolv1alpha1.Destination {
	out := metaprotocolv1alpha1.Destination{Host: d.Host, Subset: d.Subset}
	if d.Port != nil && d.Port.Number != 0 {
		out.Port = &metaprotocolv1alpha1.PortSelector{Number: int32(d.Port.Number)}
	}
	return out
}
