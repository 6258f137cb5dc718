package xdsload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The resource types every stream subscribes to: listeners and clusters,
// what a change to the mesh's services changes for every kind of proxy.
const (
	listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	clusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
)

var subscribed = []string{listenerType, clusterType}

// settle is how long a run waits, after every stream got the change, for
// the other changed types.
const settle = time.Second

// Options configure a run.
type Options struct {
	// Address is aeraki's plaintext xDS address (host:port), served with
	// --insecure-plaintext-proxies.
	Address string
	// DebugAddress is aeraki's debug address; with --pprof the run reads
	// the live heap from it. Empty: no memory figures.
	DebugAddress string
	// Dir is the --config-dir aeraki watches, with a mesh from Generate of
	// Services services; the change is written there (and removed after).
	Dir      string
	Services int
	// Nodes is the number of ztunnel proxies to pose as (node-0..).
	Nodes int
	// Streams is the number of ADS streams, a third each ztunnels,
	// waypoints (replicas of load-0's waypoint) and proxyless clients;
	// every other stream of each kind is delta, the others
	// state-of-the-world.
	Streams int
	// Conns is the number of gRPC connections the streams share
	// (Streams/100, at least 1, when 0).
	Conns int
	// Timeout bounds each phase (config for every stream, the change).
	Timeout time.Duration
	// HeapProfile, when set (with DebugAddress), is where aeraki's heap
	// profile is saved once every stream has its config, for
	// `go tool pprof -sample_index inuse_space`.
	HeapProfile string
}

// Result is what a run measured.
type Result struct {
	Streams int
	// Initial is the time until every stream had its first listeners and
	// clusters and had ACKed them.
	Initial time.Duration
	// HeapBefore and HeapAfter are aeraki's live heap (bytes, after a GC)
	// before the streams opened and once they had their config; 0 without
	// a debug address.
	HeapBefore, HeapAfter uint64
	// Received and Acked are per stream, from the write of the change to
	// the first response carrying it and to its ACK sent, sorted; Last and
	// LastAcked the same for the last of the types that changed (within a
	// settle time of one second after every stream got its first).
	Received, Acked, Last, LastAcked []time.Duration
	// Types counts the streams by how many of the subscribed types
	// (listeners, clusters) changed for them.
	Types map[int]int
	// ByKind has the same, per kind of stream ("ztunnel/sotw", ...): the
	// slowest receipt of each.
	ByKind map[string]time.Duration
	// Unchanged counts the streams that got no change within Timeout, and
	// Missing says which and what they did get.
	Unchanged int
	Missing   []string
	// DeltaResources is the number of resources in the delta responses
	// carrying the change, summed over the delta streams, and DeltaStreams
	// the number of those streams.
	DeltaResources, DeltaStreams int
}

// PerStream is the heap one stream costs, from HeapBefore and HeapAfter.
func (r *Result) PerStream() float64 {
	if r.HeapAfter == 0 || r.Streams == 0 {
		return 0
	}
	return (float64(r.HeapAfter) - float64(r.HeapBefore)) / float64(r.Streams)
}

// Quantile returns q (0..1) of sorted durations.
func Quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// stream is one client stream.
type stream struct {
	kind  string // "ztunnel/sotw", "waypoint/delta", ...
	node  *corev3.Node
	delta bool

	mu        sync.Mutex
	ready     chan struct{} // closed once both types are received and ACKed
	got       map[string]bool
	changeAt  time.Time // set before the change is written
	changed   map[string]bool
	received  time.Time // the first response after the change
	acked     time.Time
	last      time.Time // the last type to change, within the settle time
	lastAcked time.Time
	deltaN    int
	done      chan struct{} // closed once received and acked after changeAt
	err       error
}

func (s *stream) node0(kind string, i, nodes int) {
	switch kind {
	case "ztunnel":
		s.node = &corev3.Node{Id: fmt.Sprintf("ztunnel/node-%d", i%nodes)}
	case "waypoint":
		s.node = &corev3.Node{Id: changedWaypoint}
	default:
		s.node = &corev3.Node{Id: fmt.Sprintf("proxyless~load-%d", i)}
	}
}

// Run opens the streams, waits for their config, makes the change and
// measures its arrival.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Streams <= 0 || o.Nodes <= 0 || o.Address == "" || o.Dir == "" {
		return nil, errors.New("xdsload: Address, Dir, Streams and Nodes are required")
	}
	if o.Conns <= 0 {
		o.Conns = max(1, o.Streams/100)
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	res := &Result{Streams: o.Streams, ByKind: map[string]time.Duration{}, Types: map[int]int{}}
	if o.DebugAddress != "" {
		h, err := liveHeap(ctx, o.DebugAddress)
		if err != nil {
			return nil, err
		}
		res.HeapBefore = h
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*grpc.ClientConn, o.Conns)
	for i := range conns {
		c, err := grpc.NewClient(o.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conns[i] = c
	}
	kinds := []string{"ztunnel", "waypoint", "proxyless"}
	streams := make([]*stream, o.Streams)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range streams {
		kind := kinds[i%3]
		s := &stream{delta: (i/3)%2 == 1, ready: make(chan struct{}), done: make(chan struct{}), got: map[string]bool{}, changed: map[string]bool{}}
		s.node0(kind, i/3, o.Nodes)
		s.kind = kind + "/sotw"
		if s.delta {
			s.kind = kind + "/delta"
		}
		streams[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if s.delta {
				err = s.runDelta(ctx, conns[i%len(conns)])
			} else {
				err = s.runSotW(ctx, conns[i%len(conns)])
			}
			if err != nil && ctx.Err() == nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	deadline := time.After(o.Timeout)
	for _, s := range streams {
		select {
		case <-s.ready:
		case <-deadline:
			return nil, fmt.Errorf("xdsload: not every stream had its config after %s (%s: %v)", o.Timeout, s.kind, s.errOf())
		}
	}
	res.Initial = time.Since(start)
	if o.DebugAddress != "" {
		h, err := liveHeap(ctx, o.DebugAddress)
		if err != nil {
			return nil, err
		}
		res.HeapAfter = h
		if o.HeapProfile != "" {
			if err := saveHeapProfile(ctx, o.DebugAddress, o.HeapProfile); err != nil {
				return nil, err
			}
		}
	}

	at := time.Now()
	for _, s := range streams {
		s.mu.Lock()
		s.changeAt = at
		s.mu.Unlock()
	}
	name, err := writeChange(o.Dir, o.Services, 0)
	if err != nil {
		return nil, err
	}
	defer os.Remove(name)
	deadline = time.After(o.Timeout)
wait:
	for _, s := range streams {
		select {
		case <-s.done:
		case <-deadline:
			break wait
		}
	}
	// Types change in separate responses: let the others arrive.
	time.Sleep(settle)
	for _, s := range streams {
		s.mu.Lock()
		if s.received.IsZero() || s.acked.IsZero() {
			res.Unchanged++
			var got []string
			for typ := range s.changed {
				got = append(got, typ[strings.LastIndex(typ, ".")+1:])
			}
			sort.Strings(got)
			res.Missing = append(res.Missing, fmt.Sprintf("%s %s (changed: %v, error: %v)", s.kind, s.node.GetId(), got, s.err))
		} else {
			r := s.received.Sub(at)
			res.Received = append(res.Received, r)
			res.Acked = append(res.Acked, s.acked.Sub(at))
			res.Last = append(res.Last, s.last.Sub(at))
			res.LastAcked = append(res.LastAcked, s.lastAcked.Sub(at))
			res.Types[len(s.changed)]++
			res.ByKind[s.kind] = max(res.ByKind[s.kind], r)
			if s.delta {
				res.DeltaResources += s.deltaN
				res.DeltaStreams++
			}
		}
		s.mu.Unlock()
	}
	for _, d := range [][]time.Duration{res.Received, res.Acked, res.Last, res.LastAcked} {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	}
	return res, nil
}

func (s *stream) errOf() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// note records a response of typ (with n resources for delta) received
// at now, after its ACK was sent at acked; it closes ready and done.
func (s *stream) note(typ string, n int, now, acked time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changeAt.IsZero() {
		if !s.got[typ] {
			s.got[typ] = true
			if len(s.got) == len(subscribed) {
				close(s.ready)
			}
		}
		return
	}
	if s.changed[typ] {
		return
	}
	s.changed[typ] = true
	s.deltaN += n
	s.last, s.lastAcked = now, acked
	if s.received.IsZero() {
		s.received, s.acked = now, acked
		close(s.done)
	}
}

func (s *stream) runSotW(ctx context.Context, conn *grpc.ClientConn) error {
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	for _, typ := range subscribed {
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: s.node, TypeUrl: typ}); err != nil {
			return err
		}
	}
	for {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		now := time.Now()
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: s.node, TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce}); err != nil {
			return err
		}
		s.note(r.TypeUrl, len(r.Resources), now, time.Now())
	}
}

func (s *stream) runDelta(ctx context.Context, conn *grpc.ClientConn) error {
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	for _, typ := range subscribed {
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: s.node, TypeUrl: typ, ResourceNamesSubscribe: []string{"*"}}); err != nil {
			return err
		}
	}
	for {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		now := time.Now()
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: s.node, TypeUrl: r.TypeUrl, ResponseNonce: r.Nonce}); err != nil {
			return err
		}
		s.note(r.TypeUrl, len(r.Resources)+len(r.RemovedResources), now, time.Now())
	}
}

// liveHeap reads aeraki's live heap after a GC from its pprof endpoint
// (the HeapAlloc line of /debug/pprof/heap?debug=1&gc=1), twice: what
// sync.Pools (gRPC's buffers) dropped survives the first GC in their
// victim caches.
func liveHeap(ctx context.Context, addr string) (uint64, error) {
	if _, err := liveHeapOnce(ctx, addr); err != nil {
		return 0, err
	}
	return liveHeapOnce(ctx, addr)
}

func liveHeapOnce(ctx context.Context, addr string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?debug=1&gc=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("xdsload: reading aeraki's heap: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("xdsload: %s/debug/pprof/heap answered %s: start aeraki serve with --pprof", addr, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			_, _ = io.Copy(io.Discard, resp.Body)
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("xdsload: no HeapAlloc in %s/debug/pprof/heap?debug=1", addr)
}

// saveHeapProfile writes aeraki's heap profile (after a GC) to path.
func saveHeapProfile(ctx context.Context, addr, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("xdsload: reading aeraki's heap profile: %w", err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
