package server

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
)

// tracker follows every xDS stream through go-control-plane's callbacks:
// who is connected, what each was sent, what it ACKed and what it
// rejected. It feeds /debug/syncz and the xDS metrics, logs NACKs, and
// stops NACK loops (see onRequest).
type tracker struct {
	log     logr.Logger
	metrics *metrics
	nodes   *nodeMapper
	pub     *publisher
	now     func() time.Time

	mu      sync.Mutex
	streams map[streamKey]*stream
}

// streamKey tells streams apart: go-control-plane numbers state-of-the-
// world and delta streams separately.
type streamKey struct {
	delta bool
	id    int64
}

// stream is one client connection (one ADS stream).
type stream struct {
	key         streamKey
	connectedAt time.Time
	node        *corev3.Node
	match       nodeMatch // Envoy cache key and proxy, for Envoy types
	kind        string    // metrics label, set with the first request
	types       map[string]*typeSync
}

// typeSync is the sync state of one type on one stream.
type typeSync struct {
	lastRequestAt time.Time
	lastSent      sent
	outstanding   map[string]sent // by nonce, awaiting ACK or NACK
	lastAcked     string
	lastAckedAt   time.Time
	nacks         int
	lastNack      *nack
}

// sent is one response.
type sent struct {
	version   string
	nonce     string
	at        time.Time
	start     time.Time // when its config became available to this client
	resources int
}

// nack is the last rejection of a type by a client.
type nack struct {
	Version string    `json:"version"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// maxOutstanding bounds the responses remembered per type and stream
// while a client does not answer them.
const maxOutstanding = 16

var _ serverv3.Callbacks = (*tracker)(nil)

func newTracker(log logr.Logger, m *metrics, nodes *nodeMapper, pub *publisher) *tracker {
	return &tracker{log: log, metrics: m, nodes: nodes, pub: pub, now: time.Now, streams: map[streamKey]*stream{}}
}

func (t *tracker) open(k streamKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.streams[k] = &stream{key: k, connectedAt: t.now(), types: map[string]*typeSync{}}
}

func (t *tracker) closed(k streamKey) {
	t.mu.Lock()
	st := t.streams[k]
	delete(t.streams, k)
	t.mu.Unlock()
	if st != nil && st.kind != "" {
		t.metrics.connected.WithLabelValues(st.kind).Dec()
		t.log.V(1).Info("xDS stream closed", "node", st.node.GetId(), "kind", st.kind, "delta", k.delta, "stream", k.id)
	}
}

// identify records who the stream's client is, from its first request
// that carries a node. istiod is told apart by what it asks for (MCP
// collections); everything else by the ProxyBuilders' MatchNode.
func (t *tracker) identify(st *stream, node *corev3.Node, typeURL string) {
	if st.kind != "" || node == nil {
		return
	}
	st.node = node
	st.match = t.nodes.match(node)
	switch {
	case IsMCPType(typeURL):
		st.kind = "istiod"
	case st.match.plugin == "":
		st.kind = "unknown"
		t.log.Info("xDS client matched no plugin; it is served an empty config",
			"node", node.GetId(), "hint", "proxyless gRPC clients need node metadata PROXYLESS=true or a node id starting with proxyless~")
	default:
		st.kind = t.pub.kindOf(st.match.key)
		if st.kind == "" {
			st.kind = st.match.plugin
		}
	}
	t.metrics.connected.WithLabelValues(st.kind).Inc()
	t.log.Info("xDS client connected", "node", node.GetId(), "kind", st.kind, "proxy", st.match.proxyID, "delta", st.key.delta, "stream", st.key.id)
}

// onRequest records a request and returns the version the cache should
// treat the client as having, when that differs from what it says.
//
// That is how NACK loops are stopped: a client that rejects a response
// asks again with the version it last accepted, and go-control-plane's
// caches answer any request whose version differs from the current one
// at once, so the rejected config would be sent straight back, rejected
// again, and so on. Telling the cache the client has the rejected
// version makes it wait until the config changes.
func (t *tracker) onRequest(k streamKey, node *corev3.Node, typeURL, nonce string, errDetail *statuspb.Status) (rewrite string, ok bool) {
	now := t.now()
	t.mu.Lock()
	st := t.streams[k]
	if st == nil {
		t.mu.Unlock()
		return "", false
	}
	t.identify(st, node, typeURL)
	ts := st.typeSync(typeURL)
	ts.lastRequestAt = now
	s, known := ts.outstanding[nonce]
	if nonce == "" || !known {
		// A first request, a resubscription, or an answer to a response
		// the client already got a newer one after: nothing to record.
		envoyKey := st.match.key
		t.mu.Unlock()
		if !IsMCPType(typeURL) && envoyKey != "" {
			t.pub.ensure(envoyKey)
		}
		return "", false
	}
	ts.forget(nonce)
	nodeID, proxy := st.node.GetId(), st.match.proxyID
	latest := nonce == ts.lastSent.nonce
	if errDetail != nil {
		ts.nacks++
		ts.lastNack = &nack{Version: s.version, Error: errDetail.GetMessage(), At: now}
		t.mu.Unlock()
		t.metrics.nacks.WithLabelValues(typeLabel(typeURL)).Inc()
		t.log.Error(errors.New(errDetail.GetMessage()), "xDS client rejected config; it keeps its previous config and is not sent this version again",
			"node", nodeID, "proxy", proxy, "type", typeURL, "version", s.version, "nonce", nonce)
		if latest && !k.delta {
			return s.version, true
		}
		return "", false
	}
	ts.lastAcked, ts.lastAckedAt = s.version, now
	t.mu.Unlock()
	t.metrics.pushLatency.WithLabelValues(typeLabel(typeURL)).Observe(now.Sub(s.start).Seconds())
	t.log.V(2).Info("xDS client ACKed", "node", nodeID, "type", typeURL, "version", s.version)
	return "", false
}

// onResponse records a response about to be sent.
func (t *tracker) onResponse(k streamKey, typeURL, version, nonce string, resources int) {
	now := t.now()
	t.mu.Lock()
	st := t.streams[k]
	if st == nil {
		t.mu.Unlock()
		return
	}
	key := st.match.key
	if IsMCPType(typeURL) {
		key = mcpKey
	}
	ts := st.typeSync(typeURL)
	reqAt := ts.lastRequestAt
	nodeID := st.node.GetId()
	t.mu.Unlock()

	start := t.pub.lastPublished(key)
	if reqAt.After(start) {
		start = reqAt
	}
	s := sent{version: version, nonce: nonce, at: now, start: start, resources: resources}

	t.mu.Lock()
	ts.lastSent = s
	ts.outstanding[nonce] = s
	if len(ts.outstanding) > maxOutstanding {
		ts.forgetOldest()
	}
	t.mu.Unlock()
	t.metrics.pushes.WithLabelValues(typeLabel(typeURL)).Inc()
	t.log.V(1).Info("xDS push", "node", nodeID, "type", typeURL, "version", version, "resources", resources, "nonce", nonce)
}

func (st *stream) typeSync(typeURL string) *typeSync {
	ts := st.types[typeURL]
	if ts == nil {
		ts = &typeSync{outstanding: map[string]sent{}}
		st.types[typeURL] = ts
	}
	return ts
}

// forget drops a nonce once answered, with every older one: a client
// answers responses in order, so older ones will not be answered.
func (ts *typeSync) forget(nonce string) {
	n, err := strconv.ParseInt(nonce, 10, 64)
	for k := range ts.outstanding {
		if k == nonce {
			delete(ts.outstanding, k)
			continue
		}
		if m, e := strconv.ParseInt(k, 10, 64); err == nil && e == nil && m < n {
			delete(ts.outstanding, k)
		}
	}
}

func (ts *typeSync) forgetOldest() {
	var oldest string
	var at time.Time
	for k, s := range ts.outstanding {
		if oldest == "" || s.at.Before(at) {
			oldest, at = k, s.at
		}
	}
	delete(ts.outstanding, oldest)
}

// OnStreamOpen implements serverv3.Callbacks.
func (t *tracker) OnStreamOpen(_ context.Context, id int64, _ string) error {
	t.open(streamKey{id: id})
	return nil
}

// OnStreamClosed implements serverv3.Callbacks.
func (t *tracker) OnStreamClosed(id int64, _ *corev3.Node) { t.closed(streamKey{id: id}) }

// OnStreamRequest implements serverv3.Callbacks. It may rewrite the
// request's version_info to stop a NACK loop; see onRequest.
func (t *tracker) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	if v, ok := t.onRequest(streamKey{id: id}, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail()); ok {
		req.VersionInfo = v
	}
	return nil
}

// OnStreamResponse implements serverv3.Callbacks.
func (t *tracker) OnStreamResponse(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	t.onResponse(streamKey{id: id}, req.GetTypeUrl(), resp.GetVersionInfo(), resp.GetNonce(), len(resp.GetResources()))
}

// OnDeltaStreamOpen implements serverv3.Callbacks.
func (t *tracker) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	t.open(streamKey{delta: true, id: id})
	return nil
}

// OnDeltaStreamClosed implements serverv3.Callbacks.
func (t *tracker) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	t.closed(streamKey{delta: true, id: id})
}

// OnStreamDeltaRequest implements serverv3.Callbacks. Delta needs no
// rewrite against NACK loops: the server records what it sent per
// resource, so the cache sees nothing new to send.
func (t *tracker) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	t.onRequest(streamKey{delta: true, id: id}, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail())
	return nil
}

// OnStreamDeltaResponse implements serverv3.Callbacks.
func (t *tracker) OnStreamDeltaResponse(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	t.onResponse(streamKey{delta: true, id: id}, req.GetTypeUrl(), resp.GetSystemVersionInfo(), resp.GetNonce(), len(resp.GetResources())+len(resp.GetRemovedResources()))
}

// OnFetchRequest implements serverv3.Callbacks (REST; not tracked).
func (t *tracker) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

// OnFetchResponse implements serverv3.Callbacks (REST; not tracked).
func (t *tracker) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

// SyncStatus is one connected client on /debug/syncz.
type SyncStatus struct {
	NodeID      string                `json:"nodeID"`
	Kind        string                `json:"kind"`
	Plugin      string                `json:"plugin,omitempty"`
	ProxyID     string                `json:"proxyID,omitempty"`
	Stream      int64                 `json:"stream"`
	Delta       bool                  `json:"delta"`
	ConnectedAt time.Time             `json:"connectedAt"`
	Types       map[string]TypeStatus `json:"types"`
}

// TypeStatus is one type's sync state on one stream.
type TypeStatus struct {
	LastSentVersion  string     `json:"lastSentVersion,omitempty"`
	LastSentNonce    string     `json:"lastSentNonce,omitempty"`
	LastSentAt       *time.Time `json:"lastSentAt,omitempty"`
	LastSentCount    int        `json:"lastSentResources"`
	LastAckedVersion string     `json:"lastAckedVersion,omitempty"`
	LastAckedAt      *time.Time `json:"lastAckedAt,omitempty"`
	NACKs            int        `json:"nacks"`
	LastNACK         *nack      `json:"lastNack,omitempty"`
	// Synced is true when the client ACKed the last version it was sent.
	Synced bool `json:"synced"`
}

// syncz lists every connected client, by node id then stream.
func (t *tracker) syncz() []SyncStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]SyncStatus, 0, len(t.streams))
	for _, st := range t.streams {
		s := SyncStatus{NodeID: st.node.GetId(), Kind: st.kind, Plugin: st.match.plugin, ProxyID: st.match.proxyID,
			Stream: st.key.id, Delta: st.key.delta, ConnectedAt: st.connectedAt, Types: map[string]TypeStatus{}}
		if st.kind == "istiod" {
			s.Plugin, s.ProxyID = "", ""
		}
		for typeURL, ts := range st.types {
			s.Types[typeURL] = TypeStatus{
				LastSentVersion: ts.lastSent.version, LastSentNonce: ts.lastSent.nonce, LastSentAt: timePtr(ts.lastSent.at),
				LastSentCount: ts.lastSent.resources, LastAckedVersion: ts.lastAcked, LastAckedAt: timePtr(ts.lastAckedAt),
				NACKs: ts.nacks, LastNACK: ts.lastNack,
				Synced: ts.lastSent.nonce != "" && ts.lastAcked == ts.lastSent.version,
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NodeID != out[j].NodeID {
			return out[i].NodeID < out[j].NodeID
		}
		if out[i].Delta != out[j].Delta {
			return !out[i].Delta
		}
		return out[i].Stream < out[j].Stream
	})
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
