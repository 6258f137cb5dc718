package kubemode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Defaults of the leader election, client-go's usual values: a crashed
// leader is replaced within about LeaseDuration + RetryPeriod.
const (
	DefaultLeaseName     = "aeraki-leader"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaderElection configures the coordination.k8s.io Lease that elects the
// replica that writes status.
type LeaderElection struct {
	// Namespace of the Lease: $POD_NAMESPACE when set, else istio-system.
	// aeraki's Role must allow get, create and update on leases there.
	Namespace string
	// Name of the Lease; DefaultLeaseName when empty.
	Name string
	// Identity of this replica in the Lease: $POD_NAME when set, else the
	// host name; a random suffix keeps two processes on one host apart.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// leader election timings; the defaults above when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// KeepLeaseOnStop leaves the Lease held when the replica stops, so the
	// next leader waits for it to expire, as after a crash. By default a
	// replica that stops releases it and another takes over at once.
	KeepLeaseOnStop bool
}

func (le LeaderElection) withDefaults() (LeaderElection, error) {
	if le.Namespace == "" {
		le.Namespace = os.Getenv("POD_NAMESPACE")
	}
	if le.Namespace == "" {
		le.Namespace = "istio-system"
	}
	if le.Name == "" {
		le.Name = DefaultLeaseName
	}
	if le.Identity == "" {
		le.Identity = os.Getenv("POD_NAME")
	}
	if le.Identity == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "aeraki"
		}
		le.Identity = h
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return le, err
	}
	le.Identity += "_" + hex.EncodeToString(suffix[:])
	if le.LeaseDuration <= 0 {
		le.LeaseDuration = DefaultLeaseDuration
	}
	if le.RenewDeadline <= 0 {
		le.RenewDeadline = DefaultRenewDeadline
	}
	if le.RetryPeriod <= 0 {
		le.RetryPeriod = DefaultRetryPeriod
	}
	if !(le.LeaseDuration > le.RenewDeadline && float64(le.RenewDeadline) > 1.2*float64(le.RetryPeriod)) {
		return le, fmt.Errorf("leader election: want lease duration (%s) > renew deadline (%s) > 1.2 x retry period (%s)", le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
	}
	return le, nil
}

// elect campaigns for the Lease until ctx ends, writing status while it
// holds it. Losing the Lease (the API server unreachable for longer than
// the renew deadline) stops the writes and starts a new campaign; it never
// stops serving.
func (m *Mode) elect(ctx context.Context) error {
	le := m.opts.LeaderElection
	cs, err := kubernetes.NewForConfig(m.opts.Config)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	log := m.opts.Log.WithValues("lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            "aeraki",
			LeaseDuration:   le.LeaseDuration,
			RenewDeadline:   le.RenewDeadline,
			RetryPeriod:     le.RetryPeriod,
			ReleaseOnCancel: !le.KeepLeaseOnStop,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					m.writing.Lock()
					defer m.writing.Unlock()
					m.leading.Store(true)
					log.Info("became leader; writing status")
					var wg sync.WaitGroup
					if m.wp != nil {
						wg.Go(func() {
							if err := m.wp.Run(lctx); err != nil {
								log.Error(err, "waypoint controller stopped")
							}
						})
					}
					if err := m.writer.Run(lctx); err != nil {
						log.Error(err, "status writer stopped")
					}
					wg.Wait()
				},
				OnStoppedLeading: func() {
					m.leading.Store(false)
					if ctx.Err() == nil {
						log.Info("lost the lease; no longer writing status (still serving); campaigning again")
					}
				},
				OnNewLeader: func(id string) {
					if id != le.Identity {
						log.Info("another replica leads and writes status", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		elector.Run(ctx)
	}
	return nil
}
