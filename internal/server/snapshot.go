package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Versions are content hashes rather than counters so that they are the
// same across restarts and across replicas: a proxy reconnecting to a new
// aeraki process with the version it already has is not sent the same
// config again, and an unchanged type never gets a new version.

// hashBytes is the version of one marshaled resource.
func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// collectionVersion is the version of a set of named resources: a hash of
// their names and versions, independent of order.
func collectionVersion(versions map[string]string) string {
	names := make([]string, 0, len(versions))
	for n := range versions {
		names = append(names, n)
	}
	sort.Strings(names)
	return sortedCollectionVersion(names, versions)
}

// sortedCollectionVersion is collectionVersion for names already sorted.
func sortedCollectionVersion(names []string, versions map[string]string) string {
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(versions[n]))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// emptyVersion is the version of an empty collection. Answering a type the
// server has nothing for with this version, instead of not answering,
// lets clients finish their initial fetch.
var emptyVersion = collectionVersion(nil)

// deterministic marshals maps in key order, so equal messages hash equal.
var deterministic = proto.MarshalOptions{Deterministic: true}

// typeResources is one type's resources in a proxySnapshot.
type typeResources struct {
	version  string
	items    map[string]types.ResourceWithTTL
	versions map[string]string
	// wire and wireResources are items with each resource's encoding
	// (encoded), what the cache is given; the same maps on every request.
	wire          map[string]types.ResourceWithTTL
	wireResources map[string]types.Resource
}

// proxySnapshot is what one proxy is served: an implementation of
// go-control-plane's ResourceSnapshot with the per-resource versions
// computed once, when the snapshot is built, instead of on every delta
// request, and with an empty answer (not silence) for types it lacks.
// It is immutable once built.
type proxySnapshot struct {
	byType map[string]*typeResources
}

var _ cachev3.ResourceSnapshot = (*proxySnapshot)(nil)

// proxyTypes are the xDS types of a plugin.Proxy, in the order Envoy
// wants them updated.
var proxyTypes = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.SecretType}

// versionMemo holds the resources encoded in one publish, with their
// versions, by message.
type versionMemo map[proto.Message]memoEntry

type memoEntry struct {
	version string
	enc     *encoded
}

// newProxySnapshot indexes a proxy's resources by type and name and
// computes their versions. p may be nil: the snapshot is then empty.
//
// The translator never changes a message once built: a proxy it reused
// with a shared piece swapped in keeps its other messages, and every
// proxy including a piece gets the piece's own messages. So a message
// that prev (the proxy's last snapshot, or nil) served under the same
// name, or that memo (this publish's encodings, or nil; added to) has,
// keeps its version instead of being marshalled again.
//
// It also returns the listeners and clusters prev did not serve as they
// are (every one when prev is nil), the ones a credentials check must look at.
func newProxySnapshot(p *plugin.Proxy, prev *proxySnapshot, memo versionMemo) (*proxySnapshot, []proto.Message, error) {
	s := &proxySnapshot{byType: map[string]*typeResources{}}
	if p == nil {
		return s, nil, nil
	}
	var fresh []proto.Message
	add := func(typeURL, name string, m proto.Message) error {
		tr := s.byType[typeURL]
		if tr == nil {
			tr = &typeResources{items: map[string]types.ResourceWithTTL{}, versions: map[string]string{},
				wire: map[string]types.ResourceWithTTL{}, wireResources: map[string]types.Resource{}}
			s.byType[typeURL] = tr
		}
		if _, dup := tr.items[name]; dup {
			return fmt.Errorf("proxy %s: two %s resources are named %q", p.ID, typeURL, name)
		}
		var e memoEntry
		ok := false
		if prev != nil {
			if old := prev.byType[typeURL]; old != nil {
				if it, seen := old.items[name]; seen && it.Resource == m {
					e, ok = memoEntry{version: old.versions[name], enc: old.wire[name].Resource.(*encoded)}, true
				}
			}
		}
		if !ok && (typeURL == resourcev3.ListenerType || typeURL == resourcev3.ClusterType) {
			fresh = append(fresh, m)
		}
		if !ok {
			e, ok = memo[m]
		}
		if !ok {
			b, err := deterministic.Marshal(m)
			if err != nil {
				return fmt.Errorf("proxy %s: %s %q cannot be encoded: %w", p.ID, typeURL, name, err)
			}
			e = memoEntry{version: hashBytes(b), enc: &encoded{Message: m, b: b}}
			if memo != nil {
				memo[m] = e
			}
		}
		tr.items[name] = types.ResourceWithTTL{Resource: m}
		tr.versions[name] = e.version
		tr.wire[name] = types.ResourceWithTTL{Resource: e.enc}
		tr.wireResources[name] = e.enc
		return nil
	}
	for _, r := range p.Clusters {
		if err := add(resourcev3.ClusterType, r.GetName(), r); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range p.Endpoints {
		if err := add(resourcev3.EndpointType, r.GetClusterName(), r); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range p.Listeners {
		if err := add(resourcev3.ListenerType, r.GetName(), r); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range p.Routes {
		if err := add(resourcev3.RouteType, r.GetName(), r); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range p.Secrets {
		if err := add(resourcev3.SecretType, r.GetName(), r); err != nil {
			return nil, nil, err
		}
	}
	for _, tr := range s.byType {
		tr.version = collectionVersion(tr.versions)
	}
	return s, fresh, nil
}

// GetVersion implements cachev3.ResourceSnapshot.
func (s *proxySnapshot) GetVersion(typeURL string) string {
	if tr := s.byType[typeURL]; tr != nil {
		return tr.version
	}
	return emptyVersion
}

// GetResourcesAndTTL implements cachev3.ResourceSnapshot: the resources
// with their encodings, which the cache (reading only) marshals on every
// state-of-the-world answer.
func (s *proxySnapshot) GetResourcesAndTTL(typeURL string) map[string]types.ResourceWithTTL {
	if tr := s.byType[typeURL]; tr != nil {
		return tr.wire
	}
	return nil
}

// GetResources implements cachev3.ResourceSnapshot: as GetResourcesAndTTL,
// for delta answers. The map is the snapshot's own, not a copy per
// request: go-control-plane only reads it (pkg/cache/v3/simple.go
// respondDelta, delta.go createDeltaResponse).
func (s *proxySnapshot) GetResources(typeURL string) map[string]types.Resource {
	if tr := s.byType[typeURL]; tr != nil {
		return tr.wireResources
	}
	return nil
}

// ConstructVersionMap implements cachev3.ResourceSnapshot; the versions
// were computed when the snapshot was built.
func (s *proxySnapshot) ConstructVersionMap() error { return nil }

// GetVersionMap implements cachev3.ResourceSnapshot.
func (s *proxySnapshot) GetVersionMap(typeURL string) map[string]string {
	if tr := s.byType[typeURL]; tr != nil {
		return tr.versions
	}
	return nil
}

// resources returns the resources of one type sorted by name, for dumps.
func (s *proxySnapshot) resources(typeURL string) []proto.Message {
	tr := s.byType[typeURL]
	if tr == nil {
		return nil
	}
	names := make([]string, 0, len(tr.items))
	for n := range tr.items {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]proto.Message, len(names))
	for i, n := range names {
		out[i] = tr.items[n].Resource
	}
	return out
}
