package plugin

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// SharedPiece is config that many proxies of a ProxyBuilder have in
// common (every ztunnel's view of the mesh's services, the pods bound to
// a waypoint): built once per translation, from its own reads of the
// mesh, instead of once per proxy. A proxy uses a piece in two ways:
//
//   - it reads the piece's Value during its build (ProxyContext.Shared):
//     the proxy is built again only when the piece's Revision changes,
//     not whenever something the piece read changes;
//   - it includes the piece's resources (ProxyContext.Include): they are
//     served as part of the proxy, and when the piece changes the new
//     resources are swapped in without the proxy's build running again.
//
// Pieces are immutable once built; proxies share their messages.
type SharedPiece struct {
	// Value is what builds read from the piece (nil when it only carries
	// resources).
	Value any
	// Revision identifies Value: two builds of a piece with the same
	// Revision must have equal Values, since a proxy that read one is not
	// built again for the other. Set it from the whole Value (for example
	// model.RevisionOf of a list of addresses) to let a change that does
	// not alter Value stop there; empty means the translator derives one
	// from what the piece read, so every change to those reads counts.
	Revision model.Revision
	// Listeners, Routes, Clusters, Endpoints and Secrets are the xDS
	// resources served with every proxy that includes the piece.
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// SharedBuild builds one piece. The translator keeps the function and
// calls it again in a later translation when what the piece read changes,
// so it must read the mesh only through ctx (and captured constants).
type SharedBuild func(ctx *SharedContext) (*SharedPiece, error)

// SharedSource is where contexts get pieces from: the translator's cache
// of the translation (built at most once each, reused across translations
// while their reads are unchanged) or, for a context made by
// NewProxyContext, a memo local to it. Keys are global to a ProxyBuilder:
// prefix them with the plugin's name.
type SharedSource interface {
	// Piece returns the piece under key, building it with build when the
	// source has no current one, and the findings the caller takes on as
	// its own: what the piece reported, with the findings of the pieces it
	// read. A source that hands findings to proxies itself (the
	// translator, which must do so for proxies it reuses too) returns none.
	Piece(key string, build SharedBuild) (*SharedPiece, []model.Diagnostic, error)
}

// SharedContext is what a SharedBuild gets.
type SharedContext struct {
	// Model is the read-only mesh; lookups are recorded as the piece's
	// own reads.
	Model *model.View

	plugin  string
	source  SharedSource
	reads   map[string]model.Revision
	reports []model.Diagnostic
}

// NewSharedContext is how the translator (and SharedSource
// implementations) create a context for one SharedBuild call.
func NewSharedContext(pluginName string, view *model.View, source SharedSource) *SharedContext {
	return &SharedContext{Model: view, plugin: pluginName, source: source, reads: map[string]model.Revision{}}
}

// Shared returns another piece's Value for this piece's build: this piece
// is rebuilt when that piece's Revision changes. Its findings become this
// piece's.
func (c *SharedContext) Shared(key string, build SharedBuild) (any, error) {
	p, diags, err := c.source.Piece(key, build)
	if err != nil {
		c.reads[key] = "" // this piece's failure lasts as long as that one's
		return nil, fmt.Errorf("shared piece %s: %w", key, err)
	}
	c.reads[key] = p.Revision
	c.reports = append(c.reports, diags...)
	return p.Value, nil
}

// Report records a diagnostic about an object; it is a finding of every
// proxy that uses the piece.
func (c *SharedContext) Report(d model.Diagnostic) {
	d.Plugin = c.plugin
	c.reports = append(c.reports, d)
}

// Reports returns what the build reported, with the findings of the
// pieces it read.
func (c *SharedContext) Reports() []model.Diagnostic { return c.reports }

// SharedReads returns the pieces the build read, with the Revision of
// each it saw.
func (c *SharedContext) SharedReads() map[string]model.Revision { return c.reads }

// WithPieces returns a copy of p with the resources of pieces appended
// after its own, in order: the proxy as served. The translator does this
// for the pieces a build included; callers that run BuildProxy themselves
// pass ctx.Included().
func (p *Proxy) WithPieces(pieces ...*SharedPiece) *Proxy {
	if len(pieces) == 0 {
		return p
	}
	out := *p
	out.Listeners = append([]*listenerv3.Listener(nil), p.Listeners...)
	out.Routes = append([]*routev3.RouteConfiguration(nil), p.Routes...)
	out.Clusters = append([]*clusterv3.Cluster(nil), p.Clusters...)
	out.Endpoints = append([]*endpointv3.ClusterLoadAssignment(nil), p.Endpoints...)
	out.Secrets = append([]*tlsv3.Secret(nil), p.Secrets...)
	for _, s := range pieces {
		out.Listeners = append(out.Listeners, s.Listeners...)
		out.Routes = append(out.Routes, s.Routes...)
		out.Clusters = append(out.Clusters, s.Clusters...)
		out.Endpoints = append(out.Endpoints, s.Endpoints...)
		out.Secrets = append(out.Secrets, s.Secrets...)
	}
	return &out
}

// memoSource is the SharedSource of a context made by NewProxyContext:
// each piece built once, from the context's view, for the context's
// lifetime.
type memoSource struct {
	plugin   string
	view     *model.View
	pieces   map[string]*memoPiece
	building map[string]bool
}

type memoPiece struct {
	piece *SharedPiece
	diags []model.Diagnostic
	err   error
}

func newMemoSource(pluginName string, view *model.View) *memoSource {
	return &memoSource{plugin: pluginName, view: view, pieces: map[string]*memoPiece{}, building: map[string]bool{}}
}

// Piece implements SharedSource.
func (m *memoSource) Piece(key string, build SharedBuild) (*SharedPiece, []model.Diagnostic, error) {
	if p, ok := m.pieces[key]; ok {
		return p.piece, p.diags, p.err
	}
	if m.building[key] {
		return nil, nil, fmt.Errorf("shared piece %q reads itself (pieces being built: %s); a piece must not depend on itself", key, keyList(m.building))
	}
	m.building[key] = true
	defer delete(m.building, key)
	ctx := NewSharedContext(m.plugin, m.view, m)
	p, err := build(ctx)
	if err == nil && p == nil {
		err = fmt.Errorf("shared piece %q: the build returned no piece", key)
	}
	mp := &memoPiece{piece: p, diags: ctx.Reports(), err: err}
	m.pieces[key] = mp
	return mp.piece, mp.diags, mp.err
}

func keyList(set map[string]bool) string {
	var keys []string
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprint(keys)
}
