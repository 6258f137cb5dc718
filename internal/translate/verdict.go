package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Many units build the same output: every Dubbo service's inbound chain
// on port 20880 is the same dubbo_proxy filter ("inbound|20880||"), and
// what the validation gate, the fidelity gate and the secret check find
// depends on that output (and the proxy build) only. So their verdicts
// are kept by a digest of the output's deterministic encoding and reused
// for the next unit whose output encodes to the same bytes; only the
// wording (which service, which role) is per unit. A unit whose output
// does not encode (invalid UTF-8 in a string) has no digest and is
// always checked.

// digest is a SHA-256 of a unit's output, encoded deterministically.
type digest [sha256.Size]byte

// filtersDigest digests what the validation gate reads: the route table
// where it goes out on its own (nil for a unit whose route table goes out
// only inside its filter: encoding it again here was most of a sidecar
// unit's digest) and the filters. Whether there was a route table to
// check is part of the digest, so a verdict found with one is not reused
// for an output checked without. ok is false when one of them does not
// encode.
func (c *verdictCache) filtersDigest(rc proto.Message, filters []*listenerv3.Filter) (d digest, ok bool) {
	w := c.digester()
	defer c.digesters.Put(w)
	w.n[0] = 0
	if rc != nil {
		w.n[0] = 1
	}
	w.h.Write(w.n[:1])
	if rc != nil && !w.message(rc) {
		return d, false
	}
	for _, f := range filters {
		if !w.message(f) {
			return d, false
		}
	}
	copy(d[:], w.h.Sum(w.n[:0]))
	return d, true
}

// outputDigest digests the unit's whole output: what filtersDigest
// covers, and the cluster patches (what the fidelity gate and the secret
// check read besides). The unit's revision is taken from it.
func (c *verdictCache) outputDigest(filters digest, patches []ClusterPatch) (d digest, ok bool) {
	w := c.digester()
	defer c.digesters.Put(w)
	copy(w.n[:], filters[:]) // (filters[:] itself would move filters to the heap)
	w.h.Write(w.n[:len(filters)])
	for _, p := range patches {
		w.bytes([]byte(p.Name))
		if !w.message(p.Patch) {
			return d, false
		}
	}
	copy(d[:], w.h.Sum(w.n[:0]))
	return d, true
}

// digester is the working memory of a digest: the hash, the encoding
// buffer and room for a length prefix or the sum, reused
// (verdictCache.digesters) rather than made for each unit.
type digester struct {
	h   hash.Hash
	buf []byte
	n   [sha256.Size]byte // >= binary.MaxVarintLen64
}

// digester returns an idle digester, reset.
func (c *verdictCache) digester() *digester {
	w, ok := c.digesters.Get().(*digester)
	if !ok {
		return &digester{h: sha256.New()}
	}
	w.h.Reset()
	return w
}

// message writes m's deterministic encoding, prefixed by its length;
// false when it does not encode.
func (w *digester) message(m proto.Message) bool {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(w.buf[:0], m)
	if err != nil {
		return false
	}
	w.buf = b
	w.bytes(b)
	return true
}

// bytes writes b prefixed by its length.
func (w *digester) bytes(b []byte) {
	w.h.Write(binary.AppendUvarint(w.n[:0], uint64(len(b))))
	w.h.Write(b)
}

// revision is the digest in the form of model.RevisionOf.
func (d digest) revision() model.Revision { return model.Revision(hex.EncodeToString(d[:8])) }

// unitVerdict is what the fidelity gate and the secret check found for an
// output on a proxy build.
type unitVerdict struct {
	refused, warned []fidelity.Finding
	secret          bool // only worked out when nothing is refused
	// structs are the filters' Structs, once a second unit has the output
	// (guarded by the cache's mutex).
	structs []sharedStruct
}

type unitVerdictKey struct {
	output  digest
	profile *profile.Profile
}

// verdictCache holds the gates' verdicts by output digest, for the
// translator's life: verdicts depend on content, the proxy build and the
// translator's profile catalog only, never on the snapshot. It is
// bounded: past maxVerdicts entries it starts again empty.
type verdictCache struct {
	mu    sync.Mutex
	gate  map[digest]gateVerdict
	units map[unitVerdictKey]*unitVerdict
	// digesters are idle *digester, for the build workers' digests.
	digesters sync.Pool
}

// maxVerdicts bounds each map of a verdictCache: a few times the units of
// a large mesh's distinct outputs, a few MB.
const maxVerdicts = 1 << 16

func newVerdictCache() *verdictCache {
	return &verdictCache{gate: map[digest]gateVerdict{}, units: map[unitVerdictKey]*unitVerdict{}}
}

// gateVerdict is what the validation gate found: err (nil for a pass),
// and whether the filters hold a credential.
type gateVerdict struct {
	err    error
	secret bool
}

func (c *verdictCache) gateVerdict(d digest) (secret bool, err error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.gate[d]
	return v.secret, v.err, ok
}

func (c *verdictCache) putGate(d digest, secret bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.gate) >= maxVerdicts {
		clear(c.gate)
	}
	c.gate[d] = gateVerdict{err: err, secret: secret}
}

func (c *verdictCache) unitVerdict(k unitVerdictKey) *unitVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.units[k]
}

func (c *verdictCache) putUnit(k unitVerdictKey, v *unitVerdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.units) >= maxVerdicts {
		clear(c.units)
	}
	c.units[k] = v
}

// sharedStructs returns the Structs of v's output for filters (equal to
// the filters v was found for), making them on first use.
func (c *verdictCache) sharedStructs(k unitVerdictKey, v *unitVerdict, filters []*listenerv3.Filter, unpacked *xds.Unpacked, wires *sync.Pool) []filterStruct {
	c.mu.Lock()
	shared := v.structs
	c.mu.Unlock()
	if shared != nil {
		return structsOf(filters, shared, unpacked, wires)
	}
	out := structsOf(filters, nil, unpacked, wires)
	shared = make([]sharedStruct, len(out))
	for i := range out {
		shared[i] = out[i].sharedStruct
	}
	c.mu.Lock()
	if v.structs == nil {
		v.structs = shared
	}
	c.mu.Unlock()
	return out
}
