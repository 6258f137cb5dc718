package kube

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// lastApplied is the annotation `kubectl apply` keeps a copy of the whole
// object in; the model never reads it.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Secret types that are never cached: they are numerous (a token per
// service account on older clusters, a release per Helm upgrade), large,
// sensitive, and never what a Redis auth reference names.
var uncachedSecretTypes = []corev1.SecretType{corev1.SecretTypeServiceAccountToken, "helm.sh/release.v1"}

// CacheOptions returns the controller-runtime cache settings the source
// needs; build the cluster the source reads from with them:
//
//   - every cached object gets its GroupVersionKind set (typed objects
//     decoded from the API server have none, and the model keys objects by
//     kind) and loses managedFields and the last-applied-configuration
//     annotation, which the model never reads;
//   - objects of a kind with a model.Kind.Trim (Pods, EndpointSlices and Services,
//     of the core's; extra holds the plugins' kinds) keep only the fields
//     the model reads: the cache and the snapshots hold every object for
//     as long as the process runs;
//   - objects share the maps whose content repeats (labels, subsets'
//     labels, routes' attribute matches; see interner);
//   - Secrets of the types in uncachedSecretTypes are not cached;
//   - reads of a kind with no informer fail instead of silently starting
//     one, so nothing is watched that RBAC was not checked for.
func CacheOptions(scheme *runtime.Scheme, extra []model.Kind) cache.Options {
	var notTypes []fields.Selector
	for _, t := range uncachedSecretTypes {
		notTypes = append(notTypes, fields.OneTermNotEqualSelector("type", string(t)))
	}
	return cache.Options{
		Scheme:                      scheme,
		DefaultTransform:            transform(scheme, model.NewKindIndex(extra)),
		ReaderFailOnMissingInformer: true,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Field: fields.AndSelectors(notTypes...)},
		},
	}
}

// transform prepares an object for the cache. It is idempotent, as
// client-go requires, and leaves anything that is not an object (a
// deletion tombstone) alone. client-go hands it each object as decoded,
// before anything else sees it, so it may modify the object in place
// (TransformFunc in k8s.io/client-go/tools/cache/delta_fifo.go).
func transform(scheme *runtime.Scheme, kinds *model.KindIndex) toolscache.TransformFunc {
	maps := newInterner()
	return func(in any) (any, error) {
		obj, ok := in.(client.Object)
		if !ok {
			return in, nil
		}
		if gvk, err := apiutil.GVKForObject(obj, scheme); err == nil {
			obj.GetObjectKind().SetGroupVersionKind(gvk)
		}
		if a, err := meta.Accessor(obj); err == nil {
			a.SetManagedFields(nil)
			if ann := a.GetAnnotations(); ann[lastApplied] != "" {
				trimmed := make(map[string]string, len(ann)-1)
				for k, v := range ann {
					if k != lastApplied {
						trimmed[k] = v
					}
				}
				a.SetAnnotations(trimmed)
			}
		}
		kinds.Trim(obj)
		maps.intern(obj)
		return obj, nil
	}
}
