package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// DefaultShutdownTimeout bounds how long a stopping server waits for
// streams to drain before it closes them.
const DefaultShutdownTimeout = 10 * time.Second

// Defaults of Limits.
const (
	// DefaultMaxStreams bounds the xDS streams open at once.
	DefaultMaxStreams = 10000
	// DefaultMaxStreamsPerClient bounds the streams of one client
	// address. A proxy opens one ADS stream, istiod one per config source.
	DefaultMaxStreamsPerClient = 100
	// DefaultIdleGrace is how long a node's cache entry outlives its last
	// stream, so that a reconnecting proxy finds its config in place.
	DefaultIdleGrace = 30 * time.Second
)

// Limits bound what clients can make the server hold.
type Limits struct {
	// MaxStreams bounds the streams open at once on all addresses;
	// DefaultMaxStreams when zero, no bound when negative.
	MaxStreams int
	// MaxStreamsPerClient bounds the streams of one client IP address;
	// DefaultMaxStreamsPerClient when zero, no bound when negative.
	MaxStreamsPerClient int
	// IdleGrace is how long a node's cache entry outlives its last
	// stream; DefaultIdleGrace when zero.
	IdleGrace time.Duration
}

// Options configure a Server.
type Options struct {
	// Registry holds the plugins. Required.
	Registry *plugin.Registry
	// Source delivers snapshots (a directory watcher, later Kubernetes). Required.
	Source source.Source
	// XDSAddress is where the plaintext xDS/MCP gRPC server listens, such
	// as "127.0.0.1:15010"; port 0 picks a free port, empty serves no
	// plaintext. What it serves is limited by Authorization.
	XDSAddress string
	// SecureXDSAddress is where the same server listens over TLS, such as
	// ":15012"; empty serves no TLS. TLS is required with it.
	SecureXDSAddress string
	// TLS is the TLS configuration of SecureXDSAddress: aeraki's
	// certificate and the roots client certificates are verified against
	// (identity.ServerConfig).
	TLS *tls.Config
	// Authorization says who may read what.
	Authorization Authorization
	// Limits bound the streams and the per-node state clients can cause.
	Limits Limits
	// MonitoringAddress serves /metrics; empty disables it.
	MonitoringAddress string
	// DebugAddress serves /ready and /debug/*; empty disables it.
	DebugAddress string
	// EnablePprof adds /debug/pprof/ to the debug address.
	EnablePprof bool
	// ShutdownTimeout bounds the drain on shutdown; DefaultShutdownTimeout when zero.
	ShutdownTimeout time.Duration
	// Workers bounds parallel plugin builds; GOMAXPROCS when zero.
	Workers int
	// Targets are the builds of the proxies configured (sidecars through
	// istiod, the proxies served over ADS); plugin.DefaultTargets() fills
	// what is unset.
	Targets plugin.Targets
	// Profiles names, in messages, the builds that would carry what a
	// target lacks; profile.Builtin() when nil.
	Profiles *profile.Catalog
	// Log receives structured logs; logr.Discard() when unset.
	Log logr.Logger
	// OnPublish, when set, is called after each generation has been
	// published to the xDS and MCP caches, with the source's update and the
	// translation: what clients are now served. Kubernetes mode reports
	// object status (Programmed) from it. It runs on the generation loop,
	// so it must return quickly.
	OnPublish func(source.Update, *translate.Output)
}

// Server is a running aeraki control plane: source -> translator -> xDS.
type Server struct {
	opts       Options
	log        logr.Logger
	metrics    *metrics
	translator *translate.Translator
	nodes      *nodeMapper
	pub        *publisher
	tracker    *tracker
	plaintext  *listener // nil when XDSAddress is empty
	secure     *listener // nil when SecureXDSAddress is empty

	xdsCtx    context.Context
	xdsCancel context.CancelFunc
	grpcs     []*grpc.Server

	listenOnce sync.Once
	listenErr  error
	xdsLis     net.Listener
	tlsLis     net.Listener
	monLis     net.Listener
	dbgLis     net.Listener

	mu    sync.Mutex
	state state
}

// state is the current generation, for the debug endpoints.
type state struct {
	generation  int
	at          time.Time
	diagnostics []model.Diagnostic
	rejected    []model.ObjectRef
	problems    map[string]bool // error and warning texts already logged
}

// New wires a Server. Nothing listens until Listen or Run.
func New(opts Options) (*Server, error) {
	if opts.Registry == nil {
		return nil, errors.New("server: a plugin registry is required")
	}
	if opts.Source == nil {
		return nil, errors.New("server: a source is required")
	}
	if opts.XDSAddress == "" && opts.SecureXDSAddress == "" {
		return nil, errors.New("server: an xDS address is required (plaintext, TLS or both)")
	}
	if opts.SecureXDSAddress != "" && opts.TLS == nil {
		return nil, errors.New("server: the TLS address needs a TLS configuration (a serving certificate)")
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	switch {
	case opts.Limits.MaxStreams == 0:
		opts.Limits.MaxStreams = DefaultMaxStreams
	case opts.Limits.MaxStreams < 0:
		opts.Limits.MaxStreams = 0
	}
	switch {
	case opts.Limits.MaxStreamsPerClient == 0:
		opts.Limits.MaxStreamsPerClient = DefaultMaxStreamsPerClient
	case opts.Limits.MaxStreamsPerClient < 0:
		opts.Limits.MaxStreamsPerClient = 0
	}
	if opts.Limits.IdleGrace <= 0 {
		opts.Limits.IdleGrace = DefaultIdleGrace
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	tr, err := translate.New(translate.Options{Registry: opts.Registry, Log: opts.Log.WithName("translate"), Workers: opts.Workers, Targets: opts.Targets, Profiles: opts.Profiles})
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Log, metrics: newMetrics(), translator: tr}
	s.nodes = newNodeMapper(opts.Registry, opts.Log)
	newView := func(name string, credentials bool) *view {
		return &view{name: name, credentials: credentials, mcp: newMCPCache(),
			envoy: cachev3.NewSnapshotCache(false, s.nodes, cacheLogger{opts.Log.WithName("xds-cache")})}
	}
	var views []*view
	if opts.SecureXDSAddress != "" {
		s.secure = &listener{name: "tls", secure: true, view: newView("tls", true)}
		views = append(views, s.secure.view)
	}
	if opts.XDSAddress != "" {
		s.plaintext = &listener{name: "plaintext", view: newView("plaintext", opts.Authorization.InsecurePlaintextCredentials)}
		views = append(views, s.plaintext.view)
	}
	s.pub = newPublisher(opts.Log, opts.Limits.IdleGrace, views...)
	s.tracker = newTracker(opts.Log.WithName("xds"), s.metrics, s.nodes, s.pub, opts.Limits)
	s.tracker.authorize = s.authorize
	return s, nil
}

// listeners are the configured listeners, TLS first.
func (s *Server) listeners() []*listener {
	var out []*listener
	for _, l := range []*listener{s.secure, s.plaintext} {
		if l != nil {
			out = append(out, l)
		}
	}
	return out
}

// cache routes each request to the cache for its kind of type URL: Istio
// collections to the MCP cache, Envoy resources to the per-proxy cache.
func (v *view) cache() cachev3.Cache {
	classify := func(typeURL string) string {
		if IsMCPType(typeURL) {
			return mcpKey
		}
		return "envoy"
	}
	return &cachev3.MuxCache{
		Classify:      func(r *cachev3.Request) string { return classify(r.GetTypeUrl()) },
		ClassifyDelta: func(r *cachev3.DeltaRequest) string { return classify(r.GetTypeUrl()) },
		Caches:        map[string]cachev3.Cache{mcpKey: v.mcp, "envoy": v.envoy},
	}
}

// Listen binds every configured address. Run calls it; tests call it
// first to learn the ports picked for ":0".
func (s *Server) Listen() error {
	s.listenOnce.Do(func() { s.listenErr = s.listen() })
	return s.listenErr
}

func (s *Server) listen() error {
	var err error
	closeAll := func() {
		for _, l := range []net.Listener{s.xdsLis, s.tlsLis, s.monLis, s.dbgLis} {
			if l != nil {
				l.Close()
			}
		}
	}
	if s.opts.XDSAddress != "" {
		if s.xdsLis, err = net.Listen("tcp", s.opts.XDSAddress); err != nil {
			return fmt.Errorf("xDS address %s: %w", s.opts.XDSAddress, err)
		}
	}
	if s.opts.SecureXDSAddress != "" {
		if s.tlsLis, err = net.Listen("tcp", s.opts.SecureXDSAddress); err != nil {
			closeAll()
			return fmt.Errorf("TLS xDS address %s: %w", s.opts.SecureXDSAddress, err)
		}
	}
	if s.opts.MonitoringAddress != "" {
		if s.monLis, err = net.Listen("tcp", s.opts.MonitoringAddress); err != nil {
			closeAll()
			return fmt.Errorf("monitoring address %s: %w", s.opts.MonitoringAddress, err)
		}
	}
	if s.opts.DebugAddress != "" {
		if s.dbgLis, err = net.Listen("tcp", s.opts.DebugAddress); err != nil {
			closeAll()
			return fmt.Errorf("debug address %s: %w", s.opts.DebugAddress, err)
		}
	}
	return nil
}

// XDSAddr is the address the plaintext xDS server listens on, once
// Listen succeeded, or "".
func (s *Server) XDSAddr() string { return addrOf(s.xdsLis) }

// SecureXDSAddr is the address the TLS xDS server listens on, or "".
func (s *Server) SecureXDSAddr() string { return addrOf(s.tlsLis) }

// MonitoringAddr is the address /metrics is served on, or "".
func (s *Server) MonitoringAddr() string { return addrOf(s.monLis) }

// DebugAddr is the address /ready and /debug/* are served on, or "".
func (s *Server) DebugAddr() string { return addrOf(s.dbgLis) }

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Run serves until ctx ends, then shuts down gracefully: it stops
// accepting connections, ends every xDS stream (clients reconnect to
// another replica), waits for them to drain for at most ShutdownTimeout,
// and returns nil. It returns an error when an address cannot be bound or
// the source fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.xdsCtx, s.xdsCancel = context.WithCancel(context.Background())
	defer s.xdsCancel()

	var wg sync.WaitGroup
	serveErr := make(chan error, 4)
	for _, l := range s.listeners() {
		gs := s.grpcServer(l)
		s.grpcs = append(s.grpcs, gs)
		lis := s.xdsLis
		if l.secure {
			lis = s.tlsLis
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				serveErr <- fmt.Errorf("xDS server (%s): %w", l.name, err)
			}
		}()
	}
	var httpServers []*http.Server
	for _, hs := range []struct {
		lis     net.Listener
		handler http.Handler
		what    string
	}{{s.monLis, s.monitoringHandler(), "monitoring"}, {s.dbgLis, s.debugHandler(), "debug"}} {
		if hs.lis == nil {
			continue
		}
		srv := &http.Server{Handler: hs.handler, ReadHeaderTimeout: 10 * time.Second}
		httpServers = append(httpServers, srv)
		wg.Add(1)
		go func(lis net.Listener, what string) {
			defer wg.Done()
			if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("%s server: %w", what, err)
			}
		}(hs.lis, hs.what)
	}
	tg := s.translator.Targets()
	s.log.Info("serving", "xds", s.XDSAddr(), "xdsTLS", s.SecureXDSAddr(), "monitoring", s.MonitoringAddr(), "debug", s.DebugAddr(), "pprof", s.opts.EnablePprof,
		"plaintextProxies", s.opts.Authorization.InsecurePlaintextProxies, "plaintextCredentials", s.opts.Authorization.InsecurePlaintextCredentials,
		"sidecarBuild", tg.Sidecar.Name, "waypointBuild", tg.ForKind(plugin.ProxyKindWaypoint).Name,
		"ztunnelBuild", tg.ForKind(plugin.ProxyKindZtunnel).Name, "istioWaypointBuild", tg.ForIstioWaypoint().Name, "proxylessBuild", tg.ForKind(plugin.ProxyKindProxyless).Name)

	srcCtx, stopSource := context.WithCancel(ctx)
	defer stopSource()
	updates := make(chan source.Update, 1)
	srcDone := make(chan error, 1)
	go func() { srcDone <- s.opts.Source.Run(srcCtx, updates) }()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			runErr = err
			break loop
		case err := <-srcDone:
			srcDone = nil
			switch {
			case err != nil:
				runErr = fmt.Errorf("source: %w", err)
			case ctx.Err() == nil:
				runErr = errors.New("source: stopped delivering snapshots; aeraki cannot serve changes any more")
			}
			break loop
		case u := <-updates:
			// Take the newest snapshot when several queued up.
			for drained := false; !drained; {
				select {
				case newer := <-updates:
					u = newer
				default:
					drained = true
				}
			}
			s.apply(ctx, u)
		}
	}

	s.log.Info("shutting down", "timeout", s.opts.ShutdownTimeout)
	stopSource()
	s.shutdown(httpServers)
	wg.Wait()
	if srcDone != nil {
		select {
		case <-srcDone:
		case <-time.After(s.opts.ShutdownTimeout):
			s.log.Info("source did not stop in time; leaving it")
		}
	}
	s.log.Info("stopped")
	return runErr
}

// grpcServer is one listener's gRPC server: the xDS services over that
// listener's view, with its own callbacks.
func (s *Server) grpcServer(l *listener) *grpc.Server {
	perConn := uint32(1 << 20)
	if n := s.opts.Limits.MaxStreamsPerClient; n > 0 {
		perConn = uint32(n) // a connection cannot hold more than its client may
	}
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(perConn),
		// istiod's MCP client pings every 30s; allow it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.ForceServerCodecV2(newResponseCodec(EnvoyFilterType)),
	}
	if l.secure {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
	}
	gs := grpc.NewServer(opts...)
	xs := serverv3.NewServer(s.xdsCtx, l.view.cache(), callbacks{t: s.tracker, l: l}, serverv3Logger(s.opts.Log))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, xs)
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, xs)
	routeservice.RegisterRouteDiscoveryServiceServer(gs, xs)
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, xs)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, xs)
	secretservice.RegisterSecretDiscoveryServiceServer(gs, xs)
	return gs
}

// shutdown stops accepting connections, ends every stream and waits for
// them within the timeout, then closes what is left.
func (s *Server) shutdown(httpServers []*http.Server) {
	stopped := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, gs := range s.grpcs {
			wg.Go(gs.GracefulStop) // closes the listener, waits for handlers
		}
		wg.Wait()
		close(stopped)
	}()
	// Streams never end on their own: ending the xDS server's context
	// makes every stream handler return, which lets GracefulStop finish.
	s.xdsCancel()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Info("xDS streams did not drain in time; closing them")
		for _, gs := range s.grpcs {
			gs.Stop()
		}
		<-stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	for _, hs := range httpServers {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
		}
	}
}

// apply translates one snapshot and publishes the result.
func (s *Server) apply(ctx context.Context, u source.Update) {
	start := time.Now()
	out, err := s.translator.TranslateContext(ctx, u.Snapshot)
	if err != nil {
		return // shutting down: the last good config stays until then
	}
	stats, pubDiags := s.pub.publish(out)
	elapsed := time.Since(start)

	diags := make([]model.Diagnostic, 0, len(u.Diagnostics)+len(out.Diagnostics)+len(pubDiags))
	diags = append(append(append(diags, u.Diagnostics...), out.Diagnostics...), pubDiags...)
	counts := map[model.Severity]int{}
	for _, d := range diags {
		counts[d.Severity]++
	}
	s.metrics.generation.Observe(elapsed.Seconds())
	s.metrics.generations.Inc()
	s.metrics.units.WithLabelValues("built").Add(float64(out.Stats.UnitsBuilt))
	s.metrics.units.WithLabelValues("reused").Add(float64(out.Stats.UnitsReused))
	s.metrics.rejected.Set(float64(len(out.Rejected)))
	for _, sev := range []model.Severity{model.SeverityInfo, model.SeverityWarning, model.SeverityError} {
		s.metrics.diagnostics.WithLabelValues(sev.String()).Set(float64(counts[sev]))
	}

	s.mu.Lock()
	s.state.generation++
	gen := s.state.generation
	s.state.at, s.state.diagnostics, s.state.rejected = time.Now(), diags, out.Rejected
	logged := s.state.problems
	s.state.problems = map[string]bool{}
	for _, d := range diags {
		if d.Severity == model.SeverityInfo {
			continue
		}
		text := d.String()
		s.state.problems[text] = true
		if !logged[text] {
			// Logged once when it appears, not on every generation.
			kv := []any{"severity", d.Severity.String(), "problem", text}
			if d.Object.Kind != "" {
				kv = append(kv, "object", d.Object.String())
			}
			if d.Origin.File != "" {
				kv = append(kv, "file", d.Origin.String())
			}
			s.log.Info("config problem", kv...)
		}
	}
	s.mu.Unlock()

	if s.opts.OnPublish != nil {
		s.opts.OnPublish(u, out)
	}

	s.log.Info("config generated", "generation", gen, "duration", elapsed, "translate", out.Stats.Duration,
		"unitsBuilt", out.Stats.UnitsBuilt, "unitsReused", out.Stats.UnitsReused,
		"proxiesBuilt", out.Stats.ProxiesBuilt, "proxiesReused", out.Stats.ProxiesReused,
		"proxiesReassembled", out.Stats.ProxiesReassembled, "sharedBuilt", out.Stats.SharedBuilt, "sharedReused", out.Stats.SharedReused,
		"envoyFilters", len(out.EnvoyFilters), "envoyFiltersChanged", stats.EnvoyFiltersChanged,
		"proxiesChanged", stats.ProxiesChanged, "rejected", len(out.Rejected), "errors", counts[model.SeverityError])
}

// current returns the state of the current generation.
func (s *Server) current() state {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}
