package kube

import (
	"context"
	"fmt"
	"sync/atomic"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// watch starts watching one kind, or records why not: a kind that is not
// installed is looked for again later, an optional kind RBAC does not
// grant is skipped, and a required one RBAC does not grant is an error.
//
// A kind found at start is active at once (Run waits for every informer
// before the first snapshot); one found later by recheckAbsent becomes
// active only once its informer has synced, so no snapshot holds half of
// it.
func (s *Source) watch(ctx context.Context, gvk schema.GroupVersionKind, later bool) error {
	k := kind{gvk: gvk, scheme: s.scheme}
	mapping, err := s.opts.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		s.mu.Lock()
		first := !s.absent[gvk.String()]
		s.absent[gvk.String()] = true
		s.mu.Unlock()
		if first {
			s.opts.Log.Info("kind not installed in the cluster; running without it and looking for it again later (install its CRD to use it)",
				"kind", k.String(), "apiVersion", gvk.GroupVersion().String(), "recheck", s.opts.RecheckInterval.String())
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("kube source: cannot tell whether the API server serves %s: %w", k, err)
	}
	k.resource = mapping.Resource.Resource
	allowed, err := s.allowed(ctx, gvk.Group, k.resource)
	if err != nil {
		return fmt.Errorf("kube source: asking the API server whether aeraki may read %s: %w", k, err)
	}
	if !allowed {
		if optionalKind(gvk) {
			s.mu.Lock()
			first := !s.denied[gvk.String()]
			s.denied[gvk.String()] = true
			s.mu.Unlock()
			if first {
				s.opts.Log.Info("not allowed to list and watch this kind cluster-wide; running without it (if plugins need them, e.g. for Redis auth: the chart's rbac.redisSecrets=true, or examples/install/optional/secrets-reader.yaml)",
					"kind", k.String())
			}
			return nil
		}
		return fmt.Errorf("kube source: aeraki may not list and watch %s (resource %q of group %q) in all namespaces; "+
			"grant get, list and watch on it in aeraki's ClusterRole (see charts/aeraki/templates/rbac.yaml, rendered in examples/install/rbac.yaml)", k, k.resource, gvk.Group)
	}
	obj, err := k.newObject()
	if err != nil {
		return err
	}
	inf, err := s.opts.Cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("kube source: cannot watch %s: %w", k, err)
	}
	active := new(atomic.Bool)
	active.Store(!later)
	reg, err := inf.AddEventHandler(s.handler(gvk, active))
	if err != nil {
		return fmt.Errorf("kube source: cannot watch %s: %w", k, err)
	}
	if !later {
		s.mu.Lock()
		s.registrations = append(s.registrations, reg)
		s.mu.Unlock()
	}
	s.mu.Lock()
	delete(s.absent, gvk.String())
	s.mu.Unlock()
	if !later {
		s.activate(k)
		return nil
	}
	s.opts.Log.Info("kind now installed; watching it", "kind", k.String(), "apiVersion", gvk.GroupVersion().String())
	go func() {
		if toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			s.activate(k)
			active.Store(true)
			s.relistAll()
		}
	}()
	return nil
}

// activate adds k to the kinds snapshots are built from.
func (s *Source) activate(k kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = append(s.active, k)
}

// allowed asks the API server whether aeraki may list and watch a resource
// in every namespace (a SelfSubjectAccessReview needs no permission).
func (s *Source) allowed(ctx context.Context, group, resource string) (bool, error) {
	for _, verb := range []string{"list", "watch"} {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource},
		}}
		if err := s.opts.Client.Create(ctx, r); err != nil {
			return false, err
		}
		if !r.Status.Allowed {
			return false, nil
		}
	}
	return true, nil
}

// recheckAbsent looks again for kinds that were not installed, and watches
// the ones that now are. Their objects reach the model with the next
// snapshot, once their informer has synced.
func (s *Source) recheckAbsent(ctx context.Context) {
	s.mu.Lock()
	var todo []schema.GroupVersionKind
	for _, gvk := range s.modelKinds() {
		if s.absent[gvk.String()] {
			todo = append(todo, gvk)
		}
	}
	s.mu.Unlock()
	for _, gvk := range todo {
		if err := s.watch(ctx, gvk, true); err != nil {
			s.opts.Log.Error(err, "kind was installed but cannot be watched; running without it", "kind", gvk.String())
		}
	}
}
