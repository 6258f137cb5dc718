package kube

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	dubbov1alpha1 "github.com/aeraki-ng/aeraki/api/dubbo/v1alpha1"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
)

// NewScheme returns a scheme with every type Kubernetes mode reads or
// writes: the Kubernetes built-ins (including Leases and access reviews),
// Istio networking v1, Gateway API v1 and aeraki's own groups. Callers build
// their controller-runtime cluster with it so the cache and the source agree
// on types.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		networkingv1.AddToScheme,
		gatewayv1.AddToScheme,
		metaprotocolv1alpha1.AddToScheme,
		redisv1alpha1.AddToScheme,
		dubbov1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}
