package awesomerpc

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"example.com/awesomerpc/api/v1alpha1"
	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// PolicyKind is the kind of the plugin's own CRD, AwesomeRPCPolicy
// (crd/awesomerpc.example.com_awesomerpcpolicies.yaml).
var PolicyKind = schema.GroupKind{Group: v1alpha1.GroupName, Kind: "AwesomeRPCPolicy"}

var _ plugin.KindProvider = (*Plugin)(nil)

// Kinds implements plugin.KindProvider. This descriptor is all aeraki
// needs to read AwesomeRPCPolicies from files and from the API server
// (AddToScheme, Resource), find them by the hosts they name (Routing,
// Hosts), hand them to ValidateObject and write their status (Status).
func (*Plugin) Kinds() []model.Kind {
	return []model.Kind{{
		GVK:         v1alpha1.SchemeGroupVersion.WithKind(PolicyKind.Kind),
		Resource:    "awesomerpcpolicies",
		Namespaced:  true,
		New:         func() runtime.Object { return &v1alpha1.AwesomeRPCPolicy{} },
		AddToScheme: v1alpha1.AddToScheme,
		Routing:     true,
		Hosts:       func(o runtime.Object) []string { return o.(*v1alpha1.AwesomeRPCPolicy).Spec.Hosts },
		Status:      func(o runtime.Object) *conditions.Status { return &o.(*v1alpha1.AwesomeRPCPolicy).Status },
	}}
}

// Policies returns the accepted AwesomeRPCPolicies that name a hostname,
// oldest first. The read is tracked like every model lookup, so a change
// to one of them rebuilds exactly the services it names.
func Policies(v *model.View, hostname string) []*v1alpha1.AwesomeRPCPolicy {
	return model.ForHost[*v1alpha1.AwesomeRPCPolicy](v, PolicyKind, hostname)
}

// policyTimeout is the timeout the oldest policy for the service sets
// (false when none does). Invalid policies never get here: validation
// leaves them out of the build.
func policyTimeout(ctx *plugin.BuildContext) (time.Duration, bool) {
	for _, p := range Policies(ctx.Model, ctx.Service.Hostname) {
		if d, err := p.Spec.Timeout.Parse(); err == nil {
			return d, true
		}
	}
	return 0, false
}

// validatePolicy reports what makes a policy unusable, on the policy:
// a host that is not a service, a service without an AwesomeRPC port, a
// timeout that does not parse (the CRD's pattern catches most, files are
// not checked by an API server).
func validatePolicy(ctx *plugin.ValidateContext, ref model.ObjectRef, p *v1alpha1.AwesomeRPCPolicy) []model.Diagnostic {
	var out []model.Diagnostic
	errorf := func(field, reason, format string, args ...any) {
		out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: ref, Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	if len(p.Spec.Hosts) == 0 {
		errorf("spec.hosts", conditions.ReasonInvalid, "names no host; list the AwesomeRPC services the policy applies to")
	}
	for i, h := range p.Spec.Hosts {
		field := fmt.Sprintf("spec.hosts[%d]", i)
		svc := ctx.Model.LookupService(h, p.Namespace)
		if svc == nil {
			errorf(field, conditions.ReasonHostNotFound, "host %q matches no Service or ServiceEntry; create the service or fix the host", h)
			continue
		}
		if len(ctx.ClaimedPorts([]string{h}, p.Namespace)) == 0 {
			errorf(field, conditions.ReasonUnsupportedProtocol, "%s has no AwesomeRPC port; name a port tcp-awesomerpc or set its appProtocol to awesomerpc", svc.Hostname)
		}
	}
	if _, err := p.Spec.Timeout.Parse(); err != nil {
		errorf("spec.timeout", conditions.ReasonInvalid, "timeout: %v; write a duration such as 1.5s or 250ms", err)
	}
	return out
}
