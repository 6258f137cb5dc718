package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"sort"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// mcpCollection is the full state of one MCP collection. It is owned by
// one mcpCache and changed in place, under that cache's lock, one
// resource at a time: an edit costs the resources it changes, not the
// size of the mesh.
type mcpCollection struct {
	version string
	names   []string // sorted
	items   map[string]mcpItem
	digest  setDigest
}

// mcpItem is one resource of a collection and its version.
type mcpItem struct {
	res     *anypb.Any
	version string
}

func newMCPCollection() *mcpCollection {
	c := &mcpCollection{items: map[string]mcpItem{}}
	c.version = c.digest.version()
	return c
}

// apply adds or replaces the resources of puts, then drops those named
// in removes, and computes the version.
func (c *mcpCollection) apply(puts []mcpUpdate, removes []string) {
	if len(c.items) == 0 && len(puts) > 16 {
		c.items = make(map[string]mcpItem, len(puts))
	}
	var added []string
	if len(c.items) == 0 {
		added = make([]string, 0, len(puts)) // all of them
	}
	for _, u := range puts {
		if old, ok := c.items[u.name]; ok {
			c.digest.remove(u.name, old.version)
		} else {
			added = append(added, u.name)
		}
		c.items[u.name] = mcpItem{res: u.res, version: u.version}
		c.digest.add(u.name, u.version)
	}
	if len(added) > 16 {
		// Many (a first publish): one sort rather than an insertion each.
		c.names = append(c.names, added...)
		sort.Strings(c.names)
	} else {
		for _, n := range added {
			i, _ := slices.BinarySearch(c.names, n)
			c.names = slices.Insert(c.names, i, n)
		}
	}
	for _, n := range removes {
		old, ok := c.items[n]
		if !ok {
			continue
		}
		c.digest.remove(n, old.version)
		if i, found := slices.BinarySearch(c.names, n); found {
			c.names = slices.Delete(c.names, i, i+1)
		}
		delete(c.items, n)
	}
	c.version = c.digest.version()
}

// emptyCollection answers every collection aeraki does not produce.
func emptyCollection() *mcpCollection { return newMCPCollection() }

// setDigest is the version of a set of (name, version) pairs, kept as
// the sum of a SHA-256 hash per pair (four 64-bit lanes, with the count),
// so adding, replacing or removing one pair updates it in constant time.
// It depends only on the set, not on the order of updates: a server that
// publishes the same EnvoyFilters from scratch gives the same version.
type setDigest struct {
	lanes [4]uint64
	n     uint64
}

func pairHash(name, version string) [4]uint64 {
	var buf [320]byte // on the stack for the usual names
	sum := sha256.Sum256(append(append(append(buf[:0], name...), 0), version...))
	var out [4]uint64
	for i := range out {
		out[i] = binary.BigEndian.Uint64(sum[8*i:])
	}
	return out
}

func (d *setDigest) add(name, version string) {
	h := pairHash(name, version)
	for i := range d.lanes {
		d.lanes[i] += h[i]
	}
	d.n++
}

func (d *setDigest) remove(name, version string) {
	h := pairHash(name, version)
	for i := range d.lanes {
		d.lanes[i] -= h[i]
	}
	d.n--
}

// version renders the digest as a collection version (24 hex digits).
func (d *setDigest) version() string {
	var b [40]byte
	for i, l := range d.lanes {
		binary.BigEndian.PutUint64(b[8*i:], l)
	}
	binary.BigEndian.PutUint64(b[32:], d.n)
	sum := sha256.Sum256(b[:])
	return hex.EncodeToString(sum[:12])
}

// mcpUpdate is one resource put into a collection.
type mcpUpdate struct {
	name, version string
	res           *anypb.Any
}

// mcpCache serves Istio config collections to istiod. It is a
// go-control-plane cache.Cache for arbitrary type URLs, written here
// because none of go-control-plane v0.14's caches can serve MCP:
//
//   - SnapshotCache only knows Envoy type URLs, and like every
//     go-control-plane response type it labels each resource's Any with
//     the request's type URL, while istiod's MCP client unpacks
//     istio.mcp.v1alpha1.Resource with Any.UnmarshalTo, which checks it;
//   - LinearCache sends only the changed resources in state-of-the-world
//     responses for every type but listeners and clusters, while istiod
//     treats each MCP response as the whole collection and deletes what
//     it leaves out.
//
// mcpCache therefore answers every state-of-the-world request with the
// whole collection (a resource left out is deleted), with resources
// already encoded as istiod expects, and delta requests with the changed
// and removed resources. Every collection istiod asks for and aeraki does
// not produce is answered empty, so istiod counts the source as synced.
// Nothing is answered before the first Apply: an empty answer would make
// a restarting aeraki delete every EnvoyFilter from istiod for a moment.
type mcpCache struct {
	mu     sync.Mutex
	ready  bool
	colls  map[string]*mcpCollection
	empty  *mcpCollection
	sotw   map[int64]*mcpWatch
	delta  map[int64]*mcpDeltaWatch
	lastID int64
}

type mcpWatch struct {
	req *discoveryv3.DiscoveryRequest
	sub cachev3.Subscription
	out chan cachev3.Response
}

type mcpDeltaWatch struct {
	req *discoveryv3.DeltaDiscoveryRequest
	sub cachev3.Subscription
	out chan cachev3.DeltaResponse
}

var _ cachev3.Cache = (*mcpCache)(nil)

func newMCPCache() *mcpCache {
	return &mcpCache{colls: map[string]*mcpCollection{}, empty: emptyCollection(),
		sotw: map[int64]*mcpWatch{}, delta: map[int64]*mcpDeltaWatch{}}
}

func (c *mcpCache) collection(typeURL string) *mcpCollection {
	if coll := c.colls[typeURL]; coll != nil {
		return coll
	}
	return c.empty
}

// Apply changes a collection in place (puts, then removes), marks the
// cache ready and answers every open watch whose client is now out of
// date.
func (c *mcpCache) Apply(typeURL string, puts []mcpUpdate, removes []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	coll := c.colls[typeURL]
	if coll == nil {
		coll = newMCPCollection()
		c.colls[typeURL] = coll
	}
	coll.apply(puts, removes)
	c.ready = true
	for id, w := range c.sotw {
		coll := c.collection(w.req.GetTypeUrl())
		if needsSotwResponse(w.req, w.sub, coll) {
			w.out <- sotwResponse(w.req, w.sub, coll)
			delete(c.sotw, id)
		}
	}
	for id, w := range c.delta {
		if resp := deltaResponse(w.req, w.sub, c.collection(w.req.GetTypeUrl())); resp != nil {
			select {
			case w.out <- resp:
				delete(c.delta, id)
			default:
				// The stream's queue is full: the watch stays and is
				// answered on the next Apply.
			}
		}
	}
}

// Version returns the current version of a collection ("" before the
// first Apply).
func (c *mcpCache) Version(typeURL string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return ""
	}
	return c.collection(typeURL).version
}

// CreateWatch implements cachev3.ConfigWatcher for state-of-the-world
// streams. Each watch is answered at most once, into the channel the
// server made for it, so the send never blocks.
func (c *mcpCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		coll := c.collection(req.GetTypeUrl())
		if needsSotwResponse(req, sub, coll) {
			out <- sotwResponse(req, sub, coll)
			return func() {}, nil
		}
	}
	c.lastID++
	id := c.lastID
	c.sotw[id] = &mcpWatch{req: req, sub: sub, out: out}
	return func() {
		c.mu.Lock()
		delete(c.sotw, id)
		c.mu.Unlock()
	}, nil
}

// CreateDeltaWatch implements cachev3.ConfigWatcher for delta streams.
func (c *mcpCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		if resp := deltaResponse(req, sub, c.collection(req.GetTypeUrl())); resp != nil {
			select {
			case out <- resp:
				return func() {}, nil
			default:
				// The stream's queue is full: keep it as a watch,
				// answered on the next Apply.
			}
		}
	}
	c.lastID++
	id := c.lastID
	c.delta[id] = &mcpDeltaWatch{req: req, sub: sub, out: out}
	return func() {
		c.mu.Lock()
		delete(c.delta, id)
		c.mu.Unlock()
	}, nil
}

// Fetch implements cachev3.ConfigFetcher (REST polling).
func (c *mcpCache) Fetch(_ context.Context, req *cachev3.Request) (cachev3.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	coll := c.collection(req.GetTypeUrl())
	if !c.ready || req.GetVersionInfo() == coll.version {
		return nil, &types.SkipFetchError{}
	}
	return sotwResponse(req, nil, coll), nil
}

// needsSotwResponse reports whether a state-of-the-world client is behind:
// it has another version, or lacks a resource (a new stream, or a newly
// subscribed name).
func needsSotwResponse(req *discoveryv3.DiscoveryRequest, sub cachev3.Subscription, coll *mcpCollection) bool {
	if req.GetVersionInfo() != coll.version {
		return true
	}
	known := sub.ReturnedResources()
	if sub.IsWildcard() && known[wholeCollection] == coll.version {
		return false // it was sent the whole collection at this version
	}
	for _, n := range subscribedNames(sub, coll) {
		if _, ok := known[n]; !ok {
			return true
		}
	}
	return false
}

// wholeCollection is the one entry of what a wildcard subscription was
// returned (Response.GetReturnedResources, which go-control-plane keeps
// per stream for the cache to read back): the version of the collection
// it was sent whole. It stands for a version per resource name, which
// every answer to istiod (a wildcard client) built again, 20,000 entries
// at 10,000 services, only for needsSotwResponse to find them all
// present. It cannot be a resource's name (those are namespace/name),
// and when the client narrows its subscription go-control-plane drops
// it (Subscription.SetResourceSubscription keeps only the names still
// subscribed), so the next request is answered as from a new client.
const wholeCollection = "\x00whole collection"

// subscribedNames lists the collection's resources the subscription wants.
func subscribedNames(sub cachev3.Subscription, coll *mcpCollection) []string {
	if sub == nil || sub.IsWildcard() {
		return coll.names
	}
	var out []string
	for n := range sub.SubscribedResources() {
		if _, ok := coll.items[n]; ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// sotwResponse is the whole (subscribed part of the) collection. A new
// DiscoveryResponse is built each time: the server writes the nonce into it.
func sotwResponse(req *discoveryv3.DiscoveryRequest, sub cachev3.Subscription, coll *mcpCollection) cachev3.Response {
	names := subscribedNames(sub, coll)
	res := make([]*anypb.Any, len(names))
	for i, n := range names {
		res[i] = coll.items[n].res
	}
	var returned map[string]string
	if sub == nil || sub.IsWildcard() {
		returned = map[string]string{wholeCollection: coll.version}
	} else {
		returned = make(map[string]string, len(names))
		for _, n := range names {
			returned[n] = coll.version
		}
	}
	return &cachev3.PassthroughResponse{
		Request:           req,
		DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: coll.version, TypeUrl: req.GetTypeUrl(), Resources: res},
		ReturnedResources: returned,
	}
}

// deltaResponse lists what changed for a delta subscription since what it
// was last sent, or returns nil when nothing did (except on the first
// request of a wildcard subscription, which is always answered so the
// client finishes its initial fetch).
func deltaResponse(req *discoveryv3.DeltaDiscoveryRequest, sub cachev3.Subscription, coll *mcpCollection) cachev3.DeltaResponse {
	known := sub.ReturnedResources()
	next := map[string]string{}
	var changed []*discoveryv3.Resource
	var removed []string
	if sub.IsWildcard() {
		for _, n := range coll.names {
			it := coll.items[n]
			next[n] = it.version
			if known[n] != it.version {
				changed = append(changed, &discoveryv3.Resource{Name: n, Version: it.version, Resource: it.res})
			}
		}
		for n := range known {
			if _, ok := coll.items[n]; !ok {
				removed = append(removed, n)
			}
		}
	} else {
		for n := range sub.SubscribedResources() {
			if it, ok := coll.items[n]; ok {
				next[n] = it.version
				if known[n] != it.version {
					changed = append(changed, &discoveryv3.Resource{Name: n, Version: it.version, Resource: it.res})
				}
			} else if _, was := known[n]; was {
				removed = append(removed, n)
			}
		}
	}
	initial := sub.IsWildcard() && req.GetResponseNonce() == ""
	if len(changed) == 0 && len(removed) == 0 && !initial {
		return nil
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].Name < changed[j].Name })
	sort.Strings(removed)
	return &cachev3.DeltaPassthroughResponse{
		DeltaRequest:   req,
		NextVersionMap: next,
		DeltaDiscoveryResponse: &discoveryv3.DeltaDiscoveryResponse{
			SystemVersionInfo: coll.version,
			TypeUrl:           req.GetTypeUrl(),
			Resources:         changed,
			RemovedResources:  removed,
		},
	}
}
