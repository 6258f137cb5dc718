package translate

import (
	"fmt"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// The fidelity gate runs after the validation gate, on the same outputs:
// a unit's filters, route table and cluster patches (as merged into the
// cluster they patch), and every resource of a proxy served over ADS. What
// the target build lacks, or what Envoy marks not implemented, is refused
// like invalid config: the unit keeps its last good output or fails
// closed, the proxy keeps its last good config. Deprecated fields are
// warnings on the service.

// fidelityError is a refusal by the fidelity gate.
type fidelityError struct {
	profile  *profile.Profile
	findings []fidelity.Finding
}

func (e *fidelityError) Error() string {
	msgs := make([]string, len(e.findings))
	for i, f := range e.findings {
		msgs[i] = f.Message
	}
	hint := ""
	for _, f := range e.findings {
		if f.Reason == fidelity.ReasonExtensionMissing {
			hint = "; if these proxies run another build, select its profile (aeraki serve --sidecar-proxy / --waypoint-proxy)"
			break
		}
	}
	return fmt.Sprintf("refused by the fidelity gate (%s's extension list: %s): %s%s", e.profile.Name, e.profile.Origin(), strings.Join(msgs, "; "), hint)
}

// fidelityFindings checks what a unit hands a proxy (its filters, and its
// cluster patches merged into the cluster they patch), then the unit's
// route table rc, against p, decoding Any values through unpacked (shared
// with the validation gate); rc is nil for a unit whose filters become
// EnvoyFilter patches (build, unit.go). The built-in plugins carry their
// route table inside their filter, so rc is checked only when the filters
// pass (its findings would repeat theirs), and a finding repeated across
// messages is kept once.
// What it returns depends on p and the messages' content only, so equal
// outputs can share it (verdictCache); fidelityDiagnostics words it for a
// service.
func (t *Translator) fidelityFindings(p *profile.Profile, filters []*listenerv3.Filter, patches []ClusterPatch, rc proto.Message, unpacked *xds.Unpacked) (refused, warned []fidelity.Finding) {
	seen := map[string]bool{}
	checker := t.checker()
	checker.Unpacked = unpacked
	checker.Scratch = t.scratch()
	defer t.scratches.Put(checker.Scratch)
	check := func(m proto.Message) {
		for _, f := range checker.Check(p, m) {
			k := f.Reason + "|" + f.Extension + "|" + f.Type + "|" + f.Field
			if seen[k] {
				continue
			}
			seen[k] = true
			if f.Refuses() {
				refused = append(refused, f)
			} else {
				warned = append(warned, f)
			}
		}
	}
	for _, f := range filters {
		check(f)
	}
	for _, pt := range patches {
		check(MergedCluster(pt.Name, pt.Patch))
	}
	if rc != nil && len(refused) == 0 {
		check(rc)
	}
	return refused, warned
}

// fidelityDiagnostics turns the fidelity gate's findings for a unit of
// svc into the deprecation warnings, as diagnostics on svc, and an error
// when anything is refused.
func fidelityDiagnostics(p *profile.Profile, svc *model.Service, role plugin.Role, objects []model.ObjectRef, refused, warned []fidelity.Finding) ([]model.Diagnostic, error) {
	var warnings []model.Diagnostic
	for _, f := range warned {
		warnings = append(warnings, model.Diagnostic{Severity: model.SeverityWarning, Object: svc.Ref, Reason: f.Reason,
			Message: fmt.Sprintf("%s for %s (proxy build %s)%s: %s", svc.Hostname, role, p.Name, from(objects), f.Message)})
	}
	if len(refused) > 0 {
		return warnings, &fidelityError{profile: p, findings: refused}
	}
	return warnings, nil
}

// from names the routing objects a unit was built from, if any besides
// its service.
func from(objects []model.ObjectRef) string {
	var names []string
	for _, o := range objects {
		if o.Kind != "Service" && o.Kind != "ServiceEntry" {
			names = append(names, o.String())
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ", built from " + strings.Join(names, ", ")
}
