package kube

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// NewScheme returns a scheme with every type Kubernetes mode reads or
// writes: the Kubernetes built-ins (including Leases and access reviews),
// Istio networking v1, Gateway API v1 and the API groups of every kind the
// model reads, the core's and those of extra (the plugins' kinds,
// model.Options.Kinds). Callers build their controller-runtime cluster
// with it so the cache, the source and the status writer agree on types.
func NewScheme(extra []model.Kind) (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	adds := []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, networkingv1.AddToScheme, gatewayv1.AddToScheme}
	for _, k := range model.NewKindIndex(extra).All() {
		adds = append(adds, k.AddToScheme)
	}
	for _, add := range adds {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}
