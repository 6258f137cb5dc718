package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// optionalKind reports whether the source runs on without a kind it may
// not read (see the package documentation on least privilege).
func optionalKind(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// kind is one watched kind with the objects the scheme makes for it.
type kind struct {
	gvk      schema.GroupVersionKind
	resource string // plural, from the REST mapping
	scheme   *runtime.Scheme
}

func (k kind) String() string {
	if k.gvk.Group == "" {
		return k.gvk.Kind
	}
	return k.gvk.Kind + "." + k.gvk.Group
}

// newObject returns an empty object of the kind.
func (k kind) newObject() (client.Object, error) {
	o, err := k.scheme.New(k.gvk)
	if err != nil {
		return nil, fmt.Errorf("kube source: %s is not in the scheme: %w", k, err)
	}
	co, ok := o.(client.Object)
	if !ok {
		return nil, fmt.Errorf("kube source: %T is not a Kubernetes object", o)
	}
	return co, nil
}

// newList returns an empty list of the kind.
func (k kind) newList() (client.ObjectList, error) {
	o, err := k.scheme.New(k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List"))
	if err != nil {
		return nil, fmt.Errorf("kube source: %sList is not in the scheme: %w", k, err)
	}
	l, ok := o.(client.ObjectList)
	if !ok {
		return nil, fmt.Errorf("kube source: %T is not a Kubernetes list", o)
	}
	return l, nil
}

// modelKinds returns the kinds the model reads, the core's and the
// plugins' (model.Options.Kinds), at the version each is watched at.
// Each needs its RBAC rule (charts/aeraki/templates/rbac.yaml for the
// builtins, rendered by `make install-manifests`; a plugin's own kinds in
// the ClusterRole its users add).
func (s *Source) modelKinds() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, k := range s.kindIdx.All() {
		out = append(out, k.GVK)
	}
	return out
}
