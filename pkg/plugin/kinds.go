package plugin

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// KindProvider is implemented by a plugin that reads kinds of its own (a
// policy CRD, say). aeraki then decodes them from files, watches them in
// Kubernetes, indexes them so the plugin finds them through the model's
// tracked lookups (model.View.ObjectsForHost and the typed ForHost),
// hands them to the plugin's ObjectValidator when they are Routing kinds,
// and writes their status when they have one: the plugin needs nothing
// from the core but the descriptor.
type KindProvider interface {
	Plugin
	// Kinds returns the descriptors of the plugin's kinds. It is called
	// once, when the registry is built.
	Kinds() []model.Kind
}

// Kinds returns the kinds the registered plugins bring, in registration
// order: pass them as model.Options.Kinds.
func (r *Registry) Kinds() []model.Kind { return append([]model.Kind(nil), r.kinds...) }

// KindOwner returns the plugin that brings a kind, or nil for a core kind
// or a kind no plugin brings.
func (r *Registry) KindOwner(gk schema.GroupKind) Plugin { return r.kindOwner[gk] }

// registerKinds records the kinds of p, refusing incomplete descriptors
// and kinds another plugin or the core (core, the core's kinds) already
// reads: two owners of a kind would each validate and index it their own
// way.
func (r *Registry) registerKinds(p Plugin, core *model.KindIndex) error {
	kp, ok := p.(KindProvider)
	if !ok {
		return nil
	}
	for _, k := range kp.Kinds() {
		if err := k.Validate(); err != nil {
			return fmt.Errorf("plugin registry: plugin %q: %w", p.Name(), err)
		}
		gk := k.GroupKind()
		if _, ok := core.Lookup(gk.Group, gk.Kind); ok {
			return fmt.Errorf("plugin registry: plugin %q brings kind %s, which the core reads already; choose another group", p.Name(), k)
		}
		if prev, ok := r.kindOwner[gk]; ok {
			return fmt.Errorf("plugin registry: kind %s is brought by both %q and %q; remove one of the plugins from the build", k, prev.Name(), p.Name())
		}
		r.kindOwner[gk] = p
		r.kinds = append(r.kinds, k)
	}
	return nil
}

// Bind returns o with the registry's say in the model: its plugins decide
// which protocol a port means (Options.Protocols) and bring their kinds
// (Options.Kinds). Every snapshot a binary builds should come from bound
// options, or the plugins' objects are skipped as unknown kinds.
func (r *Registry) Bind(o model.Options) model.Options {
	o.Protocols = r
	o.Kinds = r.Kinds()
	return o
}
