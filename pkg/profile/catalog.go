package profile

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed data/*.yaml
var data embed.FS

// Catalog is a set of profiles by name: the built-in ones plus any a
// user loads for a custom build. It never changes once made, so it is
// safe for concurrent use.
type Catalog struct {
	byName map[string]*Profile
}

// builtin is parsed once from the embedded data files; a malformed file is
// a build defect, caught by this package's tests.
var builtin = mustLoadBuiltin()

func mustLoadBuiltin() *Catalog {
	entries, err := data.ReadDir("data")
	if err != nil {
		panic(fmt.Sprintf("profile: reading embedded data: %v", err))
	}
	var ps []*Profile
	for _, e := range entries {
		b, err := data.ReadFile(path.Join("data", e.Name()))
		if err != nil {
			panic(fmt.Sprintf("profile: %v", err))
		}
		p, err := Parse(b)
		if err != nil {
			panic(fmt.Sprintf("profile: data/%s: %v", e.Name(), err))
		}
		if want := strings.TrimSuffix(e.Name(), ".yaml"); p.Name != want {
			panic(fmt.Sprintf("profile: data/%s holds profile %q; name the file after it", e.Name(), p.Name))
		}
		ps = append(ps, p)
	}
	c, err := newCatalog(nil, ps...)
	if err != nil {
		panic(err)
	}
	return c
}

// Builtin is the catalog of the profiles aeraki ships: istio-proxy,
// envoy, aeraki-meta-protocol-proxy and grpc-go.
func Builtin() *Catalog { return builtin }

// NewCatalog is the built-in catalog plus extra profiles (custom proxy
// builds). A name that is already taken is an error; a profile with a Base
// becomes that profile (built-in, or an earlier extra) plus its own
// extensions.
func NewCatalog(extra ...*Profile) (*Catalog, error) { return newCatalog(builtin, extra...) }

func newCatalog(base *Catalog, ps ...*Profile) (*Catalog, error) {
	c := &Catalog{byName: map[string]*Profile{}}
	if base != nil {
		for k, v := range base.byName {
			c.byName[k] = v
		}
	}
	for _, p := range ps {
		if p == nil || p.byName == nil {
			return nil, fmt.Errorf("profile catalog: profiles must come from Parse")
		}
		if _, dup := c.byName[p.Name]; dup {
			return nil, fmt.Errorf("profile catalog: two profiles are named %q; rename the custom one", p.Name)
		}
		if p.Base != "" {
			base, ok := c.byName[p.Base]
			if !ok {
				return nil, fmt.Errorf("profile %s: base %q is not a known profile (have: %s)", p.Name, p.Base, strings.Join(c.Names(), ", "))
			}
			var src Source
			if len(p.Sources) > 0 {
				src = p.Sources[0]
			}
			ext, err := base.Extend(p.Name, p.Description, src, p.Extensions...)
			if err != nil {
				return nil, err
			}
			ext.Sources = append(append([]Source(nil), base.Sources...), p.Sources...)
			ext.Base, ext.Runs = p.Base, p.Runs
			p = ext
		}
		c.byName[p.Name] = p
	}
	return c, nil
}

// Get returns the profile with the given name, or an error listing the
// names there are.
func (c *Catalog) Get(name string) (*Profile, error) {
	if p, ok := c.byName[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no proxy profile %q (have: %s)", name, strings.Join(c.Names(), ", "))
}

// MustGet is Get for names known to exist (the built-in constants).
func (c *Catalog) MustGet(name string) *Profile {
	p, err := c.Get(name)
	if err != nil {
		panic(err)
	}
	return p
}

// Names lists the profiles, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.byName))
	for n := range c.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All returns the profiles sorted by name.
func (c *Catalog) All() []*Profile {
	out := make([]*Profile, 0, len(c.byName))
	for _, n := range c.Names() {
		out = append(out, c.byName[n])
	}
	return out
}

// Carriers names the profiles that would accept an extension (by name and
// config type, as Supports), for messages that say what would carry a
// config a proxy lacks.
func (c *Catalog) Carriers(name, typeName string) []string {
	var out []string
	for _, p := range c.All() {
		if p.Supports(name, typeName) {
			out = append(out, p.Name)
		}
	}
	return out
}

// Get returns a built-in profile by name.
func Get(name string) (*Profile, error) { return builtin.Get(name) }

// MustGet returns a built-in profile known to exist.
func MustGet(name string) *Profile { return builtin.MustGet(name) }
