package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tracker follows every xDS stream through go-control-plane's callbacks:
// who is connected, what each was sent, what it ACKed and what it
// rejected. It feeds /debug/syncz and the xDS metrics, logs NACKs, and
// stops NACK loops (see onRequest).
//
// It also guards the request path: it enforces the stream limits when a
// stream opens, has every stream's first request authorized (see
// authorize), pins a stream to the node it first named, and holds the
// stream's cache key in the publisher while the stream lives.
type tracker struct {
	log       logr.Logger
	metrics   *metrics
	nodes     *nodeMapper
	pub       *publisher
	limits    Limits
	authorize func(l *listener, p peerInfo, node *corev3.Node, m nodeMatch, typeURL string) error
	now       func() time.Time

	mu      sync.Mutex
	streams map[streamKey]*stream
	perPeer map[string]int // open streams by client address
}

// streamKey tells streams apart: go-control-plane numbers state-of-the-
// world and delta streams separately, and each listener's server has its
// own numbers.
type streamKey struct {
	listener string
	delta    bool
	id       int64
}

// stream is one client connection (one ADS stream).
type stream struct {
	key         streamKey
	listener    *listener
	peer        peerInfo
	connectedAt time.Time
	node        *corev3.Node
	match       nodeMatch // Envoy cache key and proxy, for Envoy types
	kind        string    // metrics label, set with the first request
	acquired    string    // the cache key held in the publisher, "" when none
	mcpOK       bool      // authorized for MCP collections
	envoyOK     bool      // authorized for Envoy resources
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

func newTracker(log logr.Logger, m *metrics, nodes *nodeMapper, pub *publisher, limits Limits) *tracker {
	return &tracker{log: log, metrics: m, nodes: nodes, pub: pub, limits: limits, now: time.Now,
		streams: map[streamKey]*stream{}, perPeer: map[string]int{}}
}

// open admits a stream unless a limit is reached: the total, or the
// streams of one client address.
func (t *tracker) open(ctx context.Context, l *listener, k streamKey) error {
	p := peerOf(ctx)
	t.mu.Lock()
	var reason, msg string
	switch {
	case t.limits.MaxStreams > 0 && len(t.streams) >= t.limits.MaxStreams:
		reason, msg = "limit-total", fmt.Sprintf("aeraki serves at most %d xDS streams (--max-streams); try another replica or later", t.limits.MaxStreams)
	case t.limits.MaxStreamsPerClient > 0 && t.perPeer[p.addr] >= t.limits.MaxStreamsPerClient:
		reason, msg = "limit-client", fmt.Sprintf("client %s already has %d xDS streams open, the most one client may (--max-streams-per-client)", p.addr, t.limits.MaxStreamsPerClient)
	}
	if reason != "" {
		t.mu.Unlock()
		return t.refuse(l, nil, p, reason, status.Error(codes.ResourceExhausted, msg))
	}
	t.streams[k] = &stream{key: k, listener: l, peer: p, connectedAt: t.now(), types: map[string]*typeSync{}}
	t.perPeer[p.addr]++
	t.mu.Unlock()
	t.metrics.streams.WithLabelValues(l.name).Inc()
	return nil
}

func (t *tracker) closed(k streamKey) {
	t.mu.Lock()
	st := t.streams[k]
	delete(t.streams, k)
	if st != nil {
		if t.perPeer[st.peer.addr]--; t.perPeer[st.peer.addr] <= 0 {
			delete(t.perPeer, st.peer.addr)
		}
	}
	t.mu.Unlock()
	if st == nil {
		return
	}
	t.metrics.streams.WithLabelValues(st.listener.name).Dec()
	if st.acquired != "" {
		t.pub.release(st.listener.view, st.acquired)
	}
	if st.kind != "" {
		t.metrics.connected.WithLabelValues(st.kind).Dec()
		t.log.V(1).Info("xDS stream closed", "node", st.node.GetId(), "kind", st.kind, "listener", k.listener, "delta", k.delta, "stream", k.id)
	}
}

// refuse counts, logs and returns a refusal. The error is what the client
// sees: it names what was missing, never any config.
func (t *tracker) refuse(l *listener, node *corev3.Node, p peerInfo, reason string, err error) error {
	t.metrics.refused.WithLabelValues(l.name, reason).Inc()
	t.log.Info("xDS stream refused", "reason", reason, "listener", l.name, "node", node.GetId(), "client", p.addr,
		"identities", p.identities, "error", status.Convert(err).Message())
	return err
}

// identify records who the stream's client is, from its first request
// that carries a node, and has the stream authorized for each class of
// types it asks for (MCP collections, Envoy resources) the first time it
// asks. istiod is told apart by what it asks for (MCP collections);
// everything else by the ProxyBuilders' MatchNode. Later requests may not
// name another node: what a stream was authorized as is what it is
// served. Plugins are asked without the tracker's lock held.
func (t *tracker) identify(k streamKey, node *corev3.Node, typeURL string) error {
	mcp := IsMCPType(typeURL)
	t.mu.Lock()
	st := t.streams[k]
	if st == nil {
		t.mu.Unlock()
		return status.Error(codes.Internal, "unknown stream")
	}
	first, match, l, p := st.node, st.match, st.listener, st.peer
	done := (mcp && st.mcpOK) || (!mcp && st.envoyOK)
	t.mu.Unlock()
	if first != nil && node != nil && node != first {
		if m := t.nodes.match(node); node.GetId() != first.GetId() || m.key != match.key {
			return t.refuse(l, node, p, "node-changed", status.Errorf(codes.InvalidArgument,
				"this stream was opened as node %q; a stream cannot change its node, open a new one", first.GetId()))
		}
	}
	if done {
		return nil
	}
	if first == nil {
		if node == nil {
			return t.refuse(l, nil, p, "no-node", status.Error(codes.InvalidArgument, "the first request of a stream must carry the node"))
		}
		first, match = node, t.nodes.match(node)
	}
	if err := t.authorize(l, p, first, match, typeURL); err != nil {
		return err
	}
	kind := "istiod"
	if !mcp {
		if kind = t.pub.kindOf(match.key); kind == "" {
			kind = match.plugin
		}
		// Before the cache sees the request: the key must hold config
		// (or an empty answer) when the watch is created.
		t.pub.acquire(l.view, match.key)
	}
	t.mu.Lock()
	newClient := st.kind == ""
	st.node, st.match = first, match
	if newClient {
		st.kind = kind
	}
	if mcp {
		st.mcpOK = true
	} else {
		st.envoyOK, st.acquired = true, match.key
	}
	t.mu.Unlock()
	if newClient {
		t.metrics.connected.WithLabelValues(kind).Inc()
		t.log.Info("xDS client connected", "node", first.GetId(), "kind", kind, "proxy", match.proxyID, "listener", l.name,
			"client", p.addr, "identities", p.identities, "delta", k.delta, "stream", k.id)
	}
	return nil
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
func (t *tracker) onRequest(k streamKey, node *corev3.Node, typeURL, nonce string, errDetail *statuspb.Status) (rewrite string, ok bool, err error) {
	if err := t.identify(k, node, typeURL); err != nil {
		return "", false, err
	}
	now := t.now()
	t.mu.Lock()
	st := t.streams[k]
	if st == nil {
		t.mu.Unlock()
		return "", false, status.Error(codes.Internal, "unknown stream")
	}
	ts := st.typeSync(typeURL)
	ts.lastRequestAt = now
	s, known := ts.outstanding[nonce]
	if nonce == "" || !known {
		// A first request, a resubscription, or an answer to a response
		// the client already got a newer one after: nothing to record.
		t.mu.Unlock()
		return "", false, nil
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
			return s.version, true, nil
		}
		return "", false, nil
	}
	ts.lastAcked, ts.lastAckedAt = s.version, now
	t.mu.Unlock()
	t.metrics.pushLatency.WithLabelValues(typeLabel(typeURL)).Observe(now.Sub(s.start).Seconds())
	t.log.V(2).Info("xDS client ACKed", "node", nodeID, "type", typeURL, "version", s.version)
	return "", false, nil
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

// callbacks are go-control-plane's callbacks for one listener's server:
// its streams are told apart from the other listener's by the listener.
type callbacks struct {
	t *tracker
	l *listener
}

var _ serverv3.Callbacks = callbacks{}

func (c callbacks) key(delta bool, id int64) streamKey {
	return streamKey{listener: c.l.name, delta: delta, id: id}
}

// OnStreamOpen implements serverv3.Callbacks: a stream over a limit is
// refused here.
func (c callbacks) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.t.open(ctx, c.l, c.key(false, id))
}

// OnStreamClosed implements serverv3.Callbacks.
func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) { c.t.closed(c.key(false, id)) }

// OnStreamRequest implements serverv3.Callbacks. It may rewrite the
// request's version_info to stop a NACK loop; see onRequest.
func (c callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	v, ok, err := c.t.onRequest(c.key(false, id), req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail())
	if ok {
		req.VersionInfo = v
	}
	return err
}

// OnStreamResponse implements serverv3.Callbacks.
func (c callbacks) OnStreamResponse(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.t.onResponse(c.key(false, id), req.GetTypeUrl(), resp.GetVersionInfo(), resp.GetNonce(), len(resp.GetResources()))
}

// OnDeltaStreamOpen implements serverv3.Callbacks.
func (c callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.t.open(ctx, c.l, c.key(true, id))
}

// OnDeltaStreamClosed implements serverv3.Callbacks.
func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) { c.t.closed(c.key(true, id)) }

// OnStreamDeltaRequest implements serverv3.Callbacks. Delta needs no
// rewrite against NACK loops: the server records what it sent per
// resource, so the cache sees nothing new to send.
func (c callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	_, _, err := c.t.onRequest(c.key(true, id), req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail())
	return err
}

// OnStreamDeltaResponse implements serverv3.Callbacks.
func (c callbacks) OnStreamDeltaResponse(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	c.t.onResponse(c.key(true, id), req.GetTypeUrl(), resp.GetSystemVersionInfo(), resp.GetNonce(), len(resp.GetResources())+len(resp.GetRemovedResources()))
}

// OnFetchRequest implements serverv3.Callbacks. REST is not served: a
// fetch carries no stream to authorize, so it is refused.
func (c callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "aeraki serves xDS over gRPC streams only")
}

// OnFetchResponse implements serverv3.Callbacks (REST; not served).
func (c callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

// SyncStatus is one connected client on /debug/syncz.
type SyncStatus struct {
	NodeID  string `json:"nodeID"`
	Kind    string `json:"kind"`
	Plugin  string `json:"plugin,omitempty"`
	ProxyID string `json:"proxyID,omitempty"`
	// Listener is "tls" or "plaintext".
	Listener string `json:"listener"`
	// Client is the client's address; Identities the SPIFFE ids of its
	// verified certificate, empty without one.
	Client      string                `json:"client"`
	Identities  []string              `json:"identities,omitempty"`
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
		if st.kind == "" {
			continue // not (yet) authorized for anything
		}
		s := SyncStatus{NodeID: st.node.GetId(), Kind: st.kind, Plugin: st.match.plugin, ProxyID: st.match.proxyID,
			Listener: st.key.listener, Client: st.peer.addr, Identities: st.peer.identities,
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
		if out[i].Listener != out[j].Listener {
			return out[i].Listener < out[j].Listener
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
