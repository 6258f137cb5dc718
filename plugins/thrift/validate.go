package thrift

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// ValidateObject implements plugin.ObjectValidator. It refuses MetaRouters
// for Thrift ports that match the method or service in a way thrift_proxy
// cannot (it compares them exactly), so a router is never half applied,
// and checks the thrift ApplicationProtocol's codec words.
func (p *Plugin) ValidateObject(ctx *plugin.ValidateContext, obj model.ObjectInfo) []model.Diagnostic {
	switch o := obj.Object.(type) {
	case *metaprotocolv1alpha1.MetaRouter:
		if len(ctx.ClaimedPorts(o.Spec.Hosts, o.Namespace)) == 0 {
			return nil
		}
		return validateRouter(obj.Ref, o)
	case *metaprotocolv1alpha1.ApplicationProtocol:
		if !strings.EqualFold(o.Spec.Protocol, string(model.ProtocolThrift)) {
			return nil
		}
		return validateProtocol(obj.Ref, o)
	}
	return nil
}

func validateRouter(ref model.ObjectRef, mr *metaprotocolv1alpha1.MetaRouter) []model.Diagnostic {
	var out []model.Diagnostic
	check := func(field string, attrs map[string]metaprotocolv1alpha1.StringMatch) {
		for _, name := range []string{AttrMethod, AttrService} {
			m, ok := attrs[name]
			if !ok || m.Exact != "" || m.IsPresenceMatch() {
				continue
			}
			kind := "prefix"
			if m.Regex != "" {
				kind = "regex"
			}
			out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field + "." + name, Reason: conditions.ReasonUnsupportedValue,
				Message: fmt.Sprintf("Thrift routes match %q exactly (Envoy's thrift_proxy has no %s match on it); use exact, one route per value, or match a header instead", name, kind)})
		}
	}
	for i, r := range mr.Spec.Routes {
		if r.Match != nil {
			check(fmt.Sprintf("spec.routes[%d].match.attributes", i), r.Match.Attributes)
		}
	}
	if g := mr.Spec.GlobalRateLimit; g != nil && g.Match != nil {
		check("spec.globalRateLimit.match.attributes", g.Match.Attributes)
	}
	return out
}

func validateProtocol(ref model.ObjectRef, ap *metaprotocolv1alpha1.ApplicationProtocol) []model.Diagnostic {
	if strings.TrimSpace(ap.Spec.Codec) == "" {
		return []model.Diagnostic{{Severity: model.SeverityError, Object: ref, Field: "spec.codec", Reason: "InvalidCodec",
			Message: "the codec is empty; for Thrift write aeraki.meta_protocol.codec.thrift (auto-detect), or thrift-<transport>-<protocol> such as thrift-framed-binary"}}
	}
	f := parseFraming(ap.Spec.Codec)
	if len(f.conflicts) == 0 {
		return nil
	}
	sort.Strings(f.conflicts)
	return []model.Diagnostic{{Severity: model.SeverityWarning, Object: ref, Field: "spec.codec", Reason: conditions.ReasonUnsupportedValue,
		Message: fmt.Sprintf("codec %q names %s; thrift_proxy auto-detects that part instead", ap.Spec.Codec, strings.Join(f.conflicts, " and "))}}
}
