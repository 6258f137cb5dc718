package kubemode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cluster"

	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/source/kube"
	"github.com/aeraki-ng/aeraki/internal/status"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/internal/waypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Options configure Kubernetes mode.
type Options struct {
	// Config reaches the API server. Required.
	Config *rest.Config
	// Model carries the mesh settings snapshots are built with.
	Model model.Options
	// Debounce is the source's quiet period after a change (the serve
	// command's --debounce).
	Debounce time.Duration
	// BurstStarted is passed to the source (kube.Options.BurstStarted):
	// the serve command's collection pacer.
	BurstStarted func()
	// RecheckInterval is how often kinds whose CRD is missing are looked
	// for again; kube.DefaultRecheckInterval when zero.
	RecheckInterval time.Duration
	// LeaderElection configures the Lease that elects the status writer.
	LeaderElection LeaderElection
	// Waypoints, when set, runs the waypoint controller for aeraki's own
	// GatewayClass on the leader, beside the status writer (its Client is
	// filled in here).
	Waypoints *waypoint.Options
	// Log receives structured logs; logr.Discard() when unset.
	Log logr.Logger
}

// Mode runs Kubernetes mode. It is the source.Source the server runs;
// pass Published as the server's OnPublish.
type Mode struct {
	opts    Options
	cluster cluster.Cluster
	source  *kube.Source
	writer  *status.Writer
	wp      *waypoint.Controller // nil without Options.Waypoints
	leading atomic.Bool
	writing sync.Mutex // one status writer at a time, across re-elections
}

var _ source.Source = (*Mode)(nil)

// New builds the cache, the source and the status writer. Nothing talks
// to the API server until Run.
func New(opts Options) (*Mode, error) {
	if opts.Config == nil {
		return nil, errors.New("kubernetes mode: no API server configuration")
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	le, err := opts.LeaderElection.withDefaults()
	if err != nil {
		return nil, err
	}
	opts.LeaderElection = le
	scheme, err := kube.NewScheme(opts.Model.Kinds)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.New(opts.Config, func(o *cluster.Options) {
		o.Scheme = scheme
		o.Cache = kube.CacheOptions(scheme, opts.Model.Kinds)
		o.Logger = opts.Log.WithName("cache")
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes mode: %w", err)
	}
	src, err := kube.New(kube.Options{Cache: cl.GetCache(), Client: cl.GetClient(), Mapper: cl.GetRESTMapper(),
		Model: opts.Model, Debounce: opts.Debounce, BurstStarted: opts.BurstStarted, RecheckInterval: opts.RecheckInterval, Log: opts.Log.WithName("source")})
	if err != nil {
		return nil, err
	}
	w, err := status.NewWriter(status.Options{Client: cl.GetClient(), Kinds: opts.Model.Kinds, Log: opts.Log.WithName("status")})
	if err != nil {
		return nil, err
	}
	m := &Mode{opts: opts, cluster: cl, source: src, writer: w}
	if opts.Waypoints != nil {
		wo := *opts.Waypoints
		wo.Client = cl.GetClient()
		if wo.Log.GetSink() == nil {
			wo.Log = opts.Log.WithName("waypoints")
		}
		if m.wp, err = waypoint.New(wo); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Run implements source.Source: it starts the informer cache, the leader
// election and the source, and returns when ctx ends (nil) or one of them
// fails (its error). Everything it started has stopped when it returns.
func (m *Mode) Run(ctx context.Context, updates chan<- source.Update) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.cluster.Start(ctx); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("informer cache: %w", err)
		}
	})
	wg.Go(func() {
		if err := m.elect(ctx); err != nil && ctx.Err() == nil {
			errc <- err
		}
	})
	wg.Go(func() {
		if err := m.source.Run(ctx, updates); err != nil {
			errc <- err
		}
	})
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	return err
}

// Published is the server's OnPublish: every replica computes the status
// a published generation implies, and the leader writes it.
func (m *Mode) Published(u source.Update, out *translate.Output) {
	m.writer.Observe(u, out)
	if m.wp != nil {
		m.wp.Wake() // a Gateway or its Service may have changed
	}
}

// HasSynced reports whether the caches have synced and the first snapshot
// was built.
func (m *Mode) HasSynced() bool { return m.source.HasSynced() }

// IsLeader reports whether this replica holds the Lease and writes status.
func (m *Mode) IsLeader() bool { return m.leading.Load() }
