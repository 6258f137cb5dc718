package translate_test

import (
	"errors"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

var _ plugin.ProxyBuilder = sharingProxies{}

// sharingProxies builds two proxies, "a" and "b", that each include the
// piece "sharing/clusters" (one cluster, named by the mode) and read the
// piece "sharing/value".
type sharingProxies struct{ mode *string }

func (sharingProxies) Name() string                          { return "sharing" }
func (sharingProxies) Protocols() []model.Protocol           { return nil }
func (sharingProxies) ProxyIDs(*model.View) []string         { return []string{"a", "b"} }
func (sharingProxies) MatchNode(*corev3.Node) (string, bool) { return "", false }
func (s sharingProxies) BuildProxy(ctx *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	// The pieces read the services and the plugin's mode when they run
	// (the translator runs a piece's build again when what it read
	// changes); the proxies read nothing else.
	if _, err := ctx.Shared("sharing/value", func(c *plugin.SharedContext) (*plugin.SharedPiece, error) {
		c.Model.Services()
		if *s.mode == "cycle" {
			_, err := c.Shared("sharing/value", nil)
			return nil, err
		}
		return &plugin.SharedPiece{Value: "v", Revision: "v"}, nil
	}); err != nil {
		return nil, err
	}
	if err := ctx.Include("sharing/clusters", func(c *plugin.SharedContext) (*plugin.SharedPiece, error) {
		c.Model.Services()
		switch *s.mode {
		case "fail":
			return nil, errors.New("no clusters today")
		case "clash":
			return &plugin.SharedPiece{Clusters: []*clusterv3.Cluster{staticCluster("own-a"), staticCluster("own-b")}}, nil
		}
		return &plugin.SharedPiece{Clusters: []*clusterv3.Cluster{staticCluster("shared-" + *s.mode)}}, nil
	}); err != nil {
		return nil, err
	}
	return &plugin.Proxy{ID: id, Kind: plugin.ProxyKindWaypoint, Clusters: []*clusterv3.Cluster{staticCluster("own-" + id)}}, nil
}

func staticCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}
}

func clusterNames(p *plugin.Proxy) string {
	var out []string
	for _, c := range p.Clusters {
		out = append(out, c.GetName())
	}
	return strings.Join(out, " ")
}

// TestSharedPieces: a piece is built once for both proxies and its
// resources are served after each proxy's own; a piece that fails (or
// reads itself, or clashes with a proxy's names) leaves each proxy its
// last good config with an error naming the piece, until the piece
// builds again: the proxies, which read nothing else, then recover.
func TestSharedPieces(t *testing.T) {
	mode := "one"
	tr := newTranslator(t, sharingProxies{mode: &mode})
	snap := snapshot(t, mesh)
	out := tr.Translate(snap)
	if out.Stats.SharedBuilt != 2 || out.Stats.ProxiesBuilt != 2 {
		t.Fatalf("stats %+v: want 2 pieces built once each, 2 proxies", out.Stats)
	}
	for _, p := range out.Proxies {
		if got := clusterNames(p.Proxy); got != "own-"+p.ID+" shared-one" {
			t.Errorf("proxy %s clusters %q, want its own then the piece's", p.ID, got)
		}
	}
	if again := tr.Translate(snap); again.Stats.SharedReused != 2 || again.Stats.ProxiesReused != 2 || again.Stats.SharedBuilt != 0 {
		t.Errorf("the same snapshot again: stats %+v, want everything reused", again.Stats)
	}
	changed := snapshot(t, mesh, "apiVersion: v1\nkind: Service\nmetadata: {name: c, namespace: ns}\nspec: {clusterIP: 10.0.0.3, ports: [{name: tcp, port: 1}]}\n")
	for _, m := range []struct{ mode, want string }{
		{"fail", "shared piece sharing/clusters: no clusters today; the last good config is kept"},
		{"cycle", `shared piece sharing/value: shared piece "sharing/value" reads itself`},
		{"clash", `cluster "own-`},
	} {
		mode = "one"
		tr := newTranslator(t, sharingProxies{mode: &mode})
		tr.Translate(snap)
		mode = m.mode
		out := tr.Translate(changed)
		for _, p := range out.Proxies {
			if !p.Stale || clusterNames(p.Proxy) != "own-"+p.ID+" shared-one" {
				t.Errorf("%s: proxy %s stale=%v clusters %q, want the last good config", m.mode, p.ID, p.Stale, clusterNames(p.Proxy))
			}
			if len(p.Diagnostics) == 0 || !strings.Contains(p.Diagnostics[len(p.Diagnostics)-1].Message, m.want) {
				t.Errorf("%s: proxy %s diagnostics %v, want %q", m.mode, p.ID, p.Diagnostics, m.want)
			}
		}
		mode = "two"
		for _, p := range tr.Translate(snap).Proxies {
			if p.Stale || len(p.Diagnostics) != 0 || clusterNames(p.Proxy) != "own-"+p.ID+" shared-two" {
				t.Errorf("%s, then fixed: proxy %s stale=%v clusters %q %v, want the new config", m.mode, p.ID, p.Stale, clusterNames(p.Proxy), p.Diagnostics)
			}
		}
	}
}
