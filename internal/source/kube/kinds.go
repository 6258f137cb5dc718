package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// candidates are the kinds the source knows how to watch, at the version
// it reads. Only those the model reads (model.Reads) are watched, so a kind
// the model drops stops being watched, and a kind it adds needs one line
// here (and the RBAC rule in charts/aeraki/templates/rbac.yaml, then
// `make install-manifests` for examples/install).
var candidates = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "Pod"},
	{Version: "v1", Kind: "Secret"},
	{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"},
	{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntry"},
	{Group: "networking.istio.io", Version: "v1", Kind: "WorkloadEntry"},
	{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"},
	{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GatewayClass"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"},
	{Group: "metaprotocol.aeraki.io", Version: "v1alpha1", Kind: "MetaRouter"},
	{Group: "metaprotocol.aeraki.io", Version: "v1alpha1", Kind: "ApplicationProtocol"},
	{Group: "redis.aeraki.io", Version: "v1alpha1", Kind: "RedisService"},
	{Group: "redis.aeraki.io", Version: "v1alpha1", Kind: "RedisDestination"},
	{Group: "dubbo.aeraki.io", Version: "v1alpha1", Kind: "DubboAuthorizationPolicy"},
}

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

// modelKinds returns the candidates the model reads.
func modelKinds() []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for _, gvk := range candidates {
		if model.Reads(gvk.Group, gvk.Kind) {
			out = append(out, gvk)
		}
	}
	return out
}
