package profile

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Names of the built-in profiles.
const (
	// IstioProxy is Istio's proxy: sidecars, gateways and istiod-managed
	// waypoints. It has dubbo_proxy, thrift_proxy and redis_proxy but no
	// generic_proxy.
	IstioProxy = "istio-proxy"
	// Envoy is upstream Envoy's default build (no contrib extensions): the
	// waypoints and ztunnels aeraki serves itself.
	Envoy = "envoy"
	// AerakiMetaProtocolProxy is Aeraki Mesh's meta-protocol proxy image:
	// istio-proxy 1.21 plus Aeraki's MetaProtocolProxy and its codecs.
	AerakiMetaProtocolProxy = "aeraki-meta-protocol-proxy"
	// GRPCGo is grpc-go's xDS client (proxyless gRPC).
	GRPCGo = "grpc-go"
)

// typeURLPrefix is how Any type URLs start; profiles store bare names.
const typeURLPrefix = "type.googleapis.com/"

// Profile is one proxy build and the extensions it has. Build one with
// Parse; the zero value has no extensions.
type Profile struct {
	// Name is how flags and messages name the profile ("istio-proxy").
	Name string `json:"name"`
	// Base names a profile this one extends (a custom build of upstream
	// Envoy: base envoy, plus the extensions listed here). A catalog
	// resolves it (NewCatalog); Extensions then holds both.
	Base string `json:"base,omitempty"`
	// Description says what the build is, in a sentence.
	Description string `json:"description"`
	// Runs says where aeraki expects this build to run.
	Runs []string `json:"runs,omitempty"`
	// Sources are where the list came from, so it can be refreshed.
	Sources []Source `json:"sources"`
	// Extensions are the extensions of the build, sorted by name.
	Extensions []Extension `json:"extensions"`

	byName map[string]*Extension
	byType map[string]*Extension
}

// Source is one input a profile was generated from: a file of a
// repository at a commit.
type Source struct {
	// What the source provided ("extension list", "config types", "Envoy").
	What string `json:"what"`
	// Repository is where it lives ("github.com/istio/proxy").
	Repository string `json:"repository"`
	// Path is the file or directory read, if any.
	Path string `json:"path,omitempty"`
	// Commit is the commit (or module version) read.
	Commit string `json:"commit"`
	// Date is the commit's date, for people.
	Date string `json:"date,omitempty"`
	// Note says anything else worth knowing about the source.
	Note string `json:"note,omitempty"`
}

// Extension is one extension of a build: the name it registers and the
// config message types (full protobuf names) it is found by.
type Extension struct {
	// Name is the extension's registered name ("envoy.filters.network.dubbo_proxy").
	Name string `json:"name"`
	// Types are the full names of its config messages, without
	// "type.googleapis.com/". Empty for extensions chosen by name or enum
	// only (cluster types such as envoy.clusters.eds).
	Types []string `json:"types,omitempty"`
	// Builtin is true for extensions linked into every build of the
	// proxy rather than listed in its extension config (Envoy's HTTP
	// protocol options, the filter chain name action).
	Builtin bool `json:"builtin,omitempty"`
}

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	extPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	typePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`)
)

// Parse reads a profile from YAML (or JSON) and checks it: a lower-case
// name, a description, at least one source with a repository and commit,
// and at least one extension; extension names unique and well formed;
// types full protobuf names. A profile that fails any of these is an
// error, never an empty profile that would refuse everything.
func Parse(data []byte) (*Profile, error) {
	p := &Profile{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := p.init(); err != nil {
		if p.Name != "" {
			return nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		return nil, fmt.Errorf("profile: %w", err)
	}
	return p, nil
}

func (p *Profile) init() error {
	var errs []error
	if !namePattern.MatchString(p.Name) {
		errs = append(errs, fmt.Errorf("name %q: use a lower-case word such as istio-proxy", p.Name))
	}
	if strings.TrimSpace(p.Description) == "" {
		errs = append(errs, errors.New("description is empty"))
	}
	if len(p.Sources) == 0 {
		errs = append(errs, errors.New("no sources: say where the extension list came from (repository, path, commit)"))
	}
	for i, s := range p.Sources {
		if s.Repository == "" || s.Commit == "" {
			errs = append(errs, fmt.Errorf("sources[%d]: repository and commit are required", i))
		}
	}
	if len(p.Extensions) == 0 && p.Base == "" {
		errs = append(errs, errors.New("no extensions: a profile with no extensions would refuse every config"))
	}
	p.byName = make(map[string]*Extension, len(p.Extensions))
	p.byType = map[string]*Extension{}
	sort.SliceStable(p.Extensions, func(i, j int) bool { return p.Extensions[i].Name < p.Extensions[j].Name })
	for i := range p.Extensions {
		e := &p.Extensions[i]
		if !extPattern.MatchString(e.Name) {
			errs = append(errs, fmt.Errorf("extensions[%d]: name %q is not an extension name", i, e.Name))
			continue
		}
		if _, dup := p.byName[e.Name]; dup {
			errs = append(errs, fmt.Errorf("extension %s is listed twice", e.Name))
			continue
		}
		p.byName[e.Name] = e
		for _, t := range e.Types {
			t = strings.TrimPrefix(t, typeURLPrefix)
			if !typePattern.MatchString(t) {
				errs = append(errs, fmt.Errorf("extension %s: type %q is not a full protobuf message name", e.Name, t))
				continue
			}
			if _, dup := p.byType[t]; !dup {
				p.byType[t] = e
			}
		}
	}
	return errors.Join(errs...)
}

// String is the profile's name.
func (p *Profile) String() string {
	if p == nil {
		return "<no profile>"
	}
	return p.Name
}

// Has reports whether the build has the extension registered under name.
func (p *Profile) Has(name string) bool {
	if p == nil {
		return false
	}
	_, ok := p.byName[name]
	return ok
}

// HasType reports whether some extension of the build takes config of
// the given type (a full message name or a type URL).
func (p *Profile) HasType(typeName string) bool {
	if p == nil {
		return false
	}
	_, ok := p.byType[strings.TrimPrefix(typeName, typeURLPrefix)]
	return ok
}

// Supports reports whether the build would find an implementation for a
// config naming extension name with a typed_config of typeName, the way
// Envoy's registry looks it up: by type first, then by name. Either may
// be empty.
func (p *Profile) Supports(name, typeName string) bool {
	return (typeName != "" && p.HasType(typeName)) || (name != "" && p.Has(name))
}

// ExtensionOf returns the extension that takes config of typeName.
func (p *Profile) ExtensionOf(typeName string) (Extension, bool) {
	if p == nil {
		return Extension{}, false
	}
	e, ok := p.byType[strings.TrimPrefix(typeName, typeURLPrefix)]
	if !ok {
		return Extension{}, false
	}
	return *e, true
}

// Source returns the first source that provided what ("extension list").
func (p *Profile) Source(what string) (Source, bool) {
	for _, s := range p.Sources {
		if s.What == what {
			return s, true
		}
	}
	return Source{}, false
}

// Origin says in one phrase where the profile's extension list comes
// from ("github.com/istio/proxy bazel/extension_config/extensions_build_config.bzl
// at 86a72d03a426"), for messages that must let a reader check it.
func (p *Profile) Origin() string {
	s, ok := p.Source("extension list")
	if !ok && len(p.Sources) > 0 {
		s = p.Sources[0]
	}
	c := s.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	return strings.TrimSpace(s.Repository + " " + s.Path + " at " + c)
}

// Extend is a custom build of p: its extensions plus exts (a codec or a
// filter compiled into a user's own Envoy), named name, with the source
// of the additions. Build one for each proxy build of your own, so plugins
// may use what it adds and the fidelity gate accepts it.
func (p *Profile) Extend(name, description string, source Source, exts ...Extension) (*Profile, error) {
	n := &Profile{Name: name, Description: description, Runs: p.Runs,
		Sources:    append(append([]Source(nil), p.Sources...), source),
		Extensions: append(append([]Extension(nil), p.Extensions...), exts...)}
	if err := n.init(); err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	return n, nil
}
