package plugin

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Registry is the set of plugins compiled into a binary, and which one
// owns each protocol. It is built once at start-up and never changes, so
// it is safe for concurrent use.
type Registry struct {
	plugins    []Plugin
	byName     map[string]Plugin
	byProtocol map[model.Protocol]Plugin
	anyMeta    Plugin
	kinds      []model.Kind
	kindOwner  map[schema.GroupKind]Plugin
}

// NewRegistry registers plugins in order. It fails, naming both plugins,
// when two share a name or claim the same protocol: a binary with an
// ambiguous owner for a port must not start.
func NewRegistry(plugins ...Plugin) (*Registry, error) {
	r := &Registry{byName: map[string]Plugin{}, byProtocol: map[model.Protocol]Plugin{}, kindOwner: map[schema.GroupKind]Plugin{}}
	core := model.NewKindIndex(nil)
	for _, p := range plugins {
		if err := r.register(p, core); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Registry) register(p Plugin, core *model.KindIndex) error {
	if p == nil {
		return fmt.Errorf("plugin registry: nil plugin")
	}
	name := p.Name()
	if name == "" || strings.ToLower(name) != name || strings.ContainsAny(name, " \t/|") {
		return fmt.Errorf("plugin registry: plugin %T has an invalid name %q: use a non-empty lower-case word", p, name)
	}
	if prev, ok := r.byName[name]; ok {
		return fmt.Errorf("plugin registry: two plugins are named %q (%T and %T); each plugin needs a unique name", name, prev, p)
	}
	for _, proto := range p.Protocols() {
		if proto == AnyMetaProtocol {
			if r.anyMeta != nil {
				return fmt.Errorf("plugin registry: plugins %q and %q both claim every meta-protocol; only one may", r.anyMeta.Name(), name)
			}
			r.anyMeta = p
			continue
		}
		if prev, ok := r.byProtocol[proto]; ok {
			return fmt.Errorf("plugin registry: protocol %q is claimed by both %q and %q; remove one of the plugins from the build", proto, prev.Name(), name)
		}
		r.byProtocol[proto] = p
	}
	if err := r.registerKinds(p, core); err != nil {
		return err
	}
	r.byName[name] = p
	r.plugins = append(r.plugins, p)
	return nil
}

// Plugins returns the registered plugins sorted by name.
func (r *Registry) Plugins() []Plugin {
	out := append([]Plugin(nil), r.plugins...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Get returns the plugin with the given name.
func (r *Registry) Get(name string) (Plugin, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// ForPort returns the plugin that owns a port, or nil when none does (the
// port stays plain TCP or HTTP, programmed by istiod).
func (r *Registry) ForPort(p *model.Port) Plugin {
	if p == nil || p.Protocol == model.ProtocolUnknown {
		return nil
	}
	if pl, ok := r.byProtocol[p.Protocol]; ok {
		return pl
	}
	if p.Meta && r.anyMeta != nil {
		return r.anyMeta
	}
	return nil
}

// ClaimsProtocol implements model.ProtocolClaims: whether a registered
// plugin owns ports of p. Build snapshots with the registry as
// model.Options.Protocols so a port's appProtocol or name means the
// protocol a plugin of this binary claims.
func (r *Registry) ClaimsProtocol(p model.ProtocolInfo) bool {
	if _, ok := r.byProtocol[p.Protocol]; ok {
		return true
	}
	return p.Meta && r.anyMeta != nil
}

// Configure hands each Configurable plugin its options. options maps
// "<plugin>.<key>" to a value; a key addressed to an unknown plugin or to
// a plugin that takes no options is an error. A plugin no option is
// addressed to is not called: it keeps what its constructor was given.
func (r *Registry) Configure(options map[string]string) error {
	per := map[string]map[string]string{}
	for k, v := range options {
		name, key, ok := strings.Cut(k, ".")
		if !ok || key == "" {
			return fmt.Errorf("plugin option %q: write it as <plugin>.<key>=<value>", k)
		}
		if _, ok := r.byName[name]; !ok {
			return fmt.Errorf("plugin option %q: no plugin named %q (have: %s)", k, name, strings.Join(r.names(), ", "))
		}
		if per[name] == nil {
			per[name] = map[string]string{}
		}
		per[name][key] = v
	}
	for _, p := range r.plugins {
		opts := per[p.Name()]
		if len(opts) == 0 {
			continue
		}
		c, ok := p.(Configurable)
		if !ok {
			return fmt.Errorf("plugin option for %q: the plugin takes no options", p.Name())
		}
		if err := c.Configure(opts); err != nil {
			return fmt.Errorf("plugin %s: %w", p.Name(), err)
		}
	}
	return nil
}

func (r *Registry) names() []string {
	out := make([]string, 0, len(r.plugins))
	for _, p := range r.Plugins() {
		out = append(out, p.Name())
	}
	return out
}
