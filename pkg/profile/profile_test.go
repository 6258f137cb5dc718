package profile_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// TestBuiltinProfilesAreWellFormed loads every embedded data file (a
// malformed one panics at package init, an empty one fails Parse) and
// checks that each says where its list came from.
func TestBuiltinProfilesAreWellFormed(t *testing.T) {
	want := []string{profile.AerakiMetaProtocolProxy, profile.Envoy, profile.GRPCGo, profile.IstioProxy}
	if got := profile.Builtin().Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("built-in profiles %v, want %v", got, want)
	}
	for _, p := range profile.Builtin().All() {
		if len(p.Extensions) < 15 {
			t.Errorf("%s: only %d extensions; is the data file truncated?", p.Name, len(p.Extensions))
		}
		src, ok := p.Source("extension list")
		if !ok || src.Repository == "" || src.Commit == "" {
			t.Errorf("%s: no extension list source with repository and commit: %+v", p.Name, p.Sources)
		}
		if !strings.Contains(p.Origin(), src.Repository) {
			t.Errorf("%s: Origin %q does not name %s", p.Name, p.Origin(), src.Repository)
		}
	}
}

// TestWhatEachBuildHas pins the facts aeraki's defaults rely on, read in
// each build's extension list.
func TestWhatEachBuildHas(t *testing.T) {
	has := map[string][]string{
		profile.IstioProxy: {"envoy.filters.network.dubbo_proxy", "envoy.filters.network.thrift_proxy", "envoy.filters.network.redis_proxy",
			"envoy.filters.network.rbac", "envoy.filters.network.local_ratelimit", "envoy.filters.network.ratelimit", "envoy.filters.network.set_filter_state",
			"envoy.filters.listener.original_dst", "envoy.bootstrap.internal_listener", "envoy.transport_sockets.internal_upstream", "envoy.filters.thrift.rate_limit"},
		profile.Envoy: {"envoy.filters.network.generic_proxy", "envoy.generic_proxy.codecs.dubbo", "envoy.filters.generic.router",
			"envoy.filters.network.dubbo_proxy", "envoy.filters.network.thrift_proxy", "envoy.bootstrap.internal_listener"},
		profile.AerakiMetaProtocolProxy: {"aeraki.meta_protocol_proxy", "aeraki.meta_protocol.codec.dubbo", "aeraki.meta_protocol.codec.trpc",
			"envoy.filters.network.dubbo_proxy"},
		profile.GRPCGo: {"envoy.filters.http.router", "envoy.filters.network.http_connection_manager", "envoy.clusters.eds"},
	}
	lacks := map[string][]string{
		profile.IstioProxy:              {"envoy.filters.network.generic_proxy", "envoy.generic_proxy.codecs.dubbo", "envoy.filters.generic.router", "aeraki.meta_protocol_proxy"},
		profile.Envoy:                   {"aeraki.meta_protocol_proxy", "envoy.filters.network.metadata_exchange", "envoy.filters.http.kill_request"},
		profile.AerakiMetaProtocolProxy: {"envoy.filters.network.generic_proxy", "aeraki.meta_protocol.codec.qza"},
		profile.GRPCGo:                  {"envoy.filters.network.tcp_proxy", "envoy.filters.network.dubbo_proxy"},
	}
	for name, exts := range has {
		p := profile.MustGet(name)
		for _, e := range exts {
			if !p.Has(e) {
				t.Errorf("%s lacks %s", name, e)
			}
		}
		for _, e := range lacks[name] {
			if p.Has(e) {
				t.Errorf("%s has %s", name, e)
			}
		}
	}
	ip := profile.MustGet(profile.IstioProxy)
	if ip.HasType("type.googleapis.com/envoy.extensions.filters.network.generic_proxy.matcher.v3.MethodMatchInput") {
		t.Error("istio-proxy knows generic_proxy's method input, which only generic_proxy registers")
	}
	if e, ok := ip.ExtensionOf("envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy"); !ok || e.Name != "envoy.filters.network.dubbo_proxy" {
		t.Errorf("DubboProxy belongs to %+v", e)
	}
	if !ip.HasType("google.protobuf.StringValue") || !ip.HasType("envoy.extensions.upstreams.http.v3.HttpProtocolOptions") {
		t.Error("istio-proxy lacks what every Envoy links in (filter chain name action, HTTP protocol options)")
	}
}

// TestSupportsLooksUpByTypeThenName follows Envoy's getAndCheckFactory:
// a known type is enough whatever the name, and a known name is enough
// when the type is unknown or absent.
func TestSupportsLooksUpByTypeThenName(t *testing.T) {
	p := profile.MustGet(profile.Envoy)
	gp := "envoy.extensions.filters.network.generic_proxy.v3.GenericProxy"
	for _, c := range []struct {
		name, typ string
		want      bool
	}{
		{"whatever", gp, true},
		{"envoy.filters.network.generic_proxy", "", true},
		{"envoy.filters.network.generic_proxy", "some.unknown.Type", true},
		{"unknown", "some.unknown.Type", false},
		{"", "", false},
	} {
		if got := p.Supports(c.name, c.typ); got != c.want {
			t.Errorf("Supports(%q, %q) = %v, want %v", c.name, c.typ, got, c.want)
		}
	}
	if got := profile.Builtin().Carriers("envoy.filters.network.generic_proxy", gp); strings.Join(got, ",") != "envoy" {
		t.Errorf("generic_proxy is carried by %v, want [envoy]", got)
	}
}

func TestParseRefusesMalformedProfiles(t *testing.T) {
	ok := "name: custom\ndescription: a custom build\nsources: [{what: extension list, repository: example.com/x, commit: abc}]\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"empty", "", "no extensions"},
		{"no extensions", ok, "no extensions"},
		{"no extensions list", ok + "extensions: []\n", "no extensions"},
		{"bad name", strings.Replace(ok, "custom", "Custom Build", 1) + "extensions: [{name: a.b}]\n", "lower-case"},
		{"no sources", "name: x\ndescription: d\nextensions: [{name: a.b}]\n", "no sources"},
		{"source without commit", "name: x\ndescription: d\nsources: [{what: w, repository: r}]\nextensions: [{name: a.b}]\n", "repository and commit"},
		{"duplicate", ok + "extensions: [{name: a.b}, {name: a.b}]\n", "listed twice"},
		{"bad type", ok + "extensions: [{name: a.b, types: [\"not a type\"]}]\n", "not a full protobuf message name"},
		{"unknown field", ok + "extensions: [{name: a.b}]\ncolour: blue\n", "colour"},
		{"not yaml", "{", "profile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := profile.Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse: %v, want an error containing %q", err, c.want)
			}
		})
	}
	p, err := profile.Parse([]byte(ok + "extensions: [{name: envoy.filters.network.tcp_proxy, types: [type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasType("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy") {
		t.Error("a type given as a type URL is not found by its full name")
	}
	if _, err := profile.NewCatalog(p); err != nil {
		t.Errorf("a custom profile with a new name: %v", err)
	}
	dup, _ := profile.Parse([]byte(strings.Replace(ok, "custom", "envoy", 1) + "extensions: [{name: a.b}]\n"))
	if _, err := profile.NewCatalog(dup); err == nil || !strings.Contains(err.Error(), `"envoy"`) {
		t.Errorf("a custom profile named like a built-in one: %v", err)
	}
	if _, err := profile.Get("nginx"); err == nil || !strings.Contains(err.Error(), "istio-proxy") {
		t.Errorf("Get of an unknown profile: %v, want the list of names", err)
	}
}

// TestExtendMakesACustomBuild: a user's Envoy with a codec of its own.
func TestExtendMakesACustomBuild(t *testing.T) {
	base := profile.MustGet(profile.Envoy)
	p, err := base.Extend("acme-envoy", "upstream Envoy plus the acme codec", profile.Source{What: "acme codec", Repository: "example.com/acme", Commit: "v1"},
		profile.Extension{Name: "acme.codec", Types: []string{"acme.codec.v1.Config"}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has("acme.codec") || !p.HasType("acme.codec.v1.Config") || !p.Has("envoy.filters.network.generic_proxy") || base.Has("acme.codec") {
		t.Errorf("extended profile: has acme %v, has generic_proxy %v; base changed %v", p.Has("acme.codec"), p.Has("envoy.filters.network.generic_proxy"), base.Has("acme.codec"))
	}
	if _, err := base.Extend("dup", "d", profile.Source{What: "x", Repository: "r", Commit: "c"}, profile.Extension{Name: "envoy.filters.network.tcp_proxy"}); err == nil {
		t.Error("an extension the base already has is not an error")
	}
}

// TestCustomProfileFileExtendsABase: a --proxy-profile file names a base
// and lists only what the custom build adds.
func TestCustomProfileFileExtendsABase(t *testing.T) {
	p, err := profile.Parse([]byte(`name: envoy-acme
base: envoy
description: upstream Envoy with the acme codec
sources: [{what: acme codec, repository: example.com/acme, commit: v1}]
extensions: [{name: acme.codec, types: [acme.codec.v1.Config]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := profile.NewCatalog(p)
	if err != nil {
		t.Fatal(err)
	}
	got := cat.MustGet("envoy-acme")
	if !got.Has("acme.codec") || !got.Has("envoy.filters.network.generic_proxy") || len(got.Sources) < 3 {
		t.Errorf("resolved profile: acme %v, generic_proxy %v, sources %v", got.Has("acme.codec"), got.Has("envoy.filters.network.generic_proxy"), got.Sources)
	}
	bad, _ := profile.Parse([]byte("name: x\nbase: nginx\ndescription: d\nsources: [{what: w, repository: r, commit: c}]\n"))
	if _, err := profile.NewCatalog(bad); err == nil || !strings.Contains(err.Error(), `base "nginx" is not a known profile`) {
		t.Errorf("unknown base: %v", err)
	}
}
