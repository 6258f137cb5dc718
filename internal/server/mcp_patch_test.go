package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/go-logr/logr"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/anypb"
	mcp "istio.io/api/mcp/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/redis"
)

// mcpState is what a view's MCP cache serves as EnvoyFilters.
type mcpState struct {
	version  string
	names    []string
	versions map[string]string
	bodies   map[string]string
}

// decodedMCP is an MCP resource as istiod reads it, in text: the bytes
// themselves differ between encodings (map order in the patches' Structs).
func decodedMCP(t *testing.T, a *anypb.Any) string {
	t.Helper()
	res := &mcp.Resource{}
	spec := &networkingv1alpha3.EnvoyFilter{}
	if err := a.UnmarshalTo(res); err != nil {
		t.Fatal(err)
	}
	if err := res.Body.UnmarshalTo(spec); err != nil {
		t.Fatal(err)
	}
	res.Body = nil
	return prototext.Format(res) + prototext.Format(spec)
}

func servedMCP(t *testing.T, s *Server) []mcpState {
	t.Helper()
	var out []mcpState
	for _, v := range s.pub.views {
		v.mcp.mu.Lock()
		coll := v.mcp.collection(EnvoyFilterType)
		st := mcpState{version: coll.version, names: slices.Clone(coll.names), versions: map[string]string{}, bodies: map[string]string{}}
		for n, it := range coll.items {
			st.versions[n], st.bodies[n] = it.version, decodedMCP(t, it.res)
		}
		v.mcp.mu.Unlock()
		if len(st.names) != len(st.bodies) {
			t.Fatalf("view %s lists %d names for %d resources", v.name, len(st.names), len(st.bodies))
		}
		out = append(out, st)
	}
	return out
}

// sameMCP fails unless a running server serves istiod what a fresh server
// serves for the same snapshot: names, per-resource versions, bytes, and
// the collection's version.
func sameMCP(t *testing.T, step string, running, fresh *Server) {
	t.Helper()
	got, want := servedMCP(t, running), servedMCP(t, fresh)
	if len(got) != len(want) {
		t.Fatalf("%s: %d views, want %d", step, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !slices.Equal(g.names, w.names) {
			t.Fatalf("%s: view %d serves %d EnvoyFilters, a fresh server %d", step, i, len(g.names), len(w.names))
		}
		for _, n := range w.names {
			if g.versions[n] != w.versions[n] || g.bodies[n] != w.bodies[n] {
				t.Fatalf("%s: view %d serves %s at version %s, a fresh server at %s (or other bytes)", step, i, n, g.versions[n], w.versions[n])
			}
		}
		if g.version != w.version {
			t.Fatalf("%s: view %d collection version %s, a fresh server's %s", step, i, g.version, w.version)
		}
	}
	_, gv := running.pub.envoyFilters()
	if _, wv := fresh.pub.envoyFilters(); gv != wv {
		t.Fatalf("%s: publisher version %s, a fresh server's %s", step, gv, wv)
	}
}

// TestMCPAfterEditsEqualsAFreshServer: a running server patches its MCP
// collection in place (one EnvoyFilter looked up, encoded and hashed per
// router edit), and what it serves, version included, is what a server
// started on the same snapshot serves; also when services come and go.
func TestMCPAfterEditsEqualsAFreshServer(t *testing.T) {
	running := benchServer(t)
	_, first := running.generate(meshSnapshot(t, 300, ""))
	if first.EnvoyFiltersChanged != 600 || first.EnvoyFiltersLookedUp != 600 {
		t.Fatalf("first publish: %+v, want 600 EnvoyFilters", first)
	}
	steps := []struct {
		name            string
		n               int
		changed         string
		lookedUp, delta int
	}{
		{"router edited", 300, "svc-00042", 1, 1},
		{"router edited back", 300, "", 1, 1},
		{"services removed", 250, "svc-00007", 100 + 1, 100 + 1},
		{"services added", 310, "svc-00007", 120, 120},
	}
	for _, st := range steps {
		snap := meshSnapshot(t, st.n, st.changed)
		_, stats := running.generate(snap)
		if stats.EnvoyFiltersLookedUp != st.lookedUp || stats.EnvoyFiltersChanged != st.delta {
			t.Errorf("%s: %+v, want %d looked up, %d changed", st.name, stats, st.lookedUp, st.delta)
		}
		fresh := benchServer(t)
		fresh.generate(snap)
		sameMCP(t, st.name, running, fresh)
	}
}

// TestSetDigestIsTheSets: the collection version depends on the set of
// (name, version) pairs only, whatever the order of updates.
func TestSetDigestIsTheSets(t *testing.T) {
	var a, b setDigest
	a.add("x", "1")
	a.add("y", "1")
	a.add("z", "1")
	a.remove("y", "1")
	a.remove("x", "1")
	a.add("x", "2")
	b.add("z", "1")
	b.add("x", "2")
	if a.version() != b.version() {
		t.Errorf("versions %s and %s for the same set", a.version(), b.version())
	}
	var c setDigest
	c.add("x", "1")
	c.add("z", "1")
	if c.version() == b.version() {
		t.Errorf("x at another version gives the same collection version")
	}
	if (&setDigest{}).version() == b.version() {
		t.Errorf("empty and non-empty sets share a version")
	}
}

// credentialsMesh is redisWithAuth, with the password on the service
// cache or not.
func credentialsMesh(t *testing.T, reg *plugin.Registry, auth bool) *model.Snapshot {
	t.Helper()
	mesh := redisWithAuth
	if !auth {
		mesh = strings.Replace(mesh, "  settings:\n    auth: {plain: {password: client-s3cret}}\n", "", 1)
	}
	b := model.NewBuilder(reg.Bind(model.Options{}))
	for _, d := range file.LoadBytes("redis.yaml", []byte(mesh), b, file.Options{}) {
		if d.Severity == model.SeverityError {
			t.Fatalf("test input: %s", d)
		}
	}
	return b.Build()
}

// testViews are a TLS view (credentials) and a plaintext one, not listening.
func testViews() []*view {
	return []*view{
		{name: "tls", credentials: true, mcp: newMCPCache(), envoy: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)},
		{name: "plaintext", mcp: newMCPCache(), envoy: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)},
	}
}

// TestPatchedMCPKeepsCredentialsOffPlaintext: an EnvoyFilter that gains
// a password leaves the plaintext view (and gets its warning) and comes
// back when it loses it, the views patched in place equal to views a
// fresh publisher fills.
func TestPatchedMCPKeepsCredentialsOffPlaintext(t *testing.T) {
	reg, err := plugin.NewRegistry(redis.New())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	running := &Server{pub: newPublisher(logr.Discard(), time.Minute, testViews()...)}
	for i, auth := range []bool{false, true, false, true} {
		out := tr.Translate(credentialsMesh(t, reg, auth))
		_, diags := running.pub.publish(out)
		warned := slices.ContainsFunc(diags, func(d model.Diagnostic) bool { return d.Reason == "CredentialsOverPlaintext" })
		if warned != auth {
			t.Errorf("step %d (password %v): CredentialsOverPlaintext warning %v", i, auth, warned)
		}
		st := servedMCP(t, running)
		held := slices.ContainsFunc(st[1].names, func(n string) bool { return strings.Contains(n, "cache") })
		if held == auth || (auth && len(st[0].names) <= len(st[1].names)) {
			t.Errorf("step %d (password %v): plaintext serves %v, TLS %v", i, auth, st[1].names, st[0].names)
		}
		fresh := &Server{pub: newPublisher(logr.Discard(), time.Minute, testViews()...)}
		fresh.pub.publish(builtinFreshTranslate(t, reg, credentialsMesh(t, reg, auth)))
		sameMCP(t, fmt.Sprintf("step %d", i), running, fresh)
	}
}

func builtinFreshTranslate(t *testing.T, reg *plugin.Registry, snap *model.Snapshot) *translate.Output {
	t.Helper()
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Translate(snap)
}
