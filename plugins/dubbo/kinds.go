package dubbo

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/api/conditions"
	dubbov1alpha1 "github.com/aeraki-ng/aeraki/api/dubbo/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// AuthorizationPolicyKind is dubbo.aeraki.io's DubboAuthorizationPolicy.
var AuthorizationPolicyKind = schema.GroupKind{Group: dubbov1alpha1.GroupName, Kind: "DubboAuthorizationPolicy"}

var _ plugin.KindProvider = (*Plugin)(nil)

// Kinds implements plugin.KindProvider: DubboAuthorizationPolicy, a
// routing kind that applies to its namespace (the root namespace's to
// the whole mesh), with status.
func (*Plugin) Kinds() []model.Kind {
	return []model.Kind{{
		GVK: dubbov1alpha1.SchemeGroupVersion.WithKind(AuthorizationPolicyKind.Kind), Resource: "dubboauthorizationpolicies", Namespaced: true,
		New: func() runtime.Object { return &dubbov1alpha1.DubboAuthorizationPolicy{} }, AddToScheme: dubbov1alpha1.AddToScheme,
		Routing: true,
		Status:  func(o runtime.Object) *conditions.Status { return &o.(*dubbov1alpha1.DubboAuthorizationPolicy).Status },
	}}
}

// AuthorizationPolicies returns the DubboAuthorizationPolicies of a
// namespace, oldest first; the read is tracked like every model lookup.
func AuthorizationPolicies(v *model.View, namespace string) []*dubbov1alpha1.DubboAuthorizationPolicy {
	return model.InNamespace[*dubbov1alpha1.DubboAuthorizationPolicy](v, AuthorizationPolicyKind, namespace)
}
