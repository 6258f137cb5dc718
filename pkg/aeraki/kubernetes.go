package aeraki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aeraki-ng/aeraki/internal/kubemode"
	"github.com/aeraki-ng/aeraki/internal/waypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// kubeFlags are the flags of aeraki serve in Kubernetes mode.
type kubeFlags struct {
	kubeconfig    string
	context       string
	leaseNS       string
	leaseName     string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
}

func (k *kubeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to watch (default $KUBECONFIG, else the in-cluster config when running in a pod)")
	fl.StringVar(&k.context, "context", "", "kubeconfig context to use (default its current context)")
	fl.StringVar(&k.leaseNS, "leader-election-namespace", "", "namespace of the Lease that elects the replica writing status (default $POD_NAMESPACE, else istio-system)")
	fl.StringVar(&k.leaseName, "leader-election-id", kubemode.DefaultLeaseName, "name of that Lease (aeraki's Role must allow get and update on it)")
	fl.DurationVar(&k.leaseDuration, "leader-election-lease-duration", kubemode.DefaultLeaseDuration, "how long a leader's Lease lasts without renewal: a crashed leader is replaced after about this long")
	fl.DurationVar(&k.renewDeadline, "leader-election-renew-deadline", kubemode.DefaultRenewDeadline, "how long the leader retries renewing before it stops writing status")
	fl.DurationVar(&k.retryPeriod, "leader-election-retry-period", kubemode.DefaultRetryPeriod, "how often replicas try to acquire or renew the Lease")
}

// clusterConfig finds the API server to watch, in this order: --kubeconfig,
// $KUBECONFIG (a list of files, as kubectl reads it), then the in-cluster
// service account. It does not fall back to ~/.kube/config: a control plane
// that writes status should not pick a cluster because of a file left in a
// home directory. found is false when there is no cluster to talk to.
func clusterConfig(k kubeFlags) (cfg *rest.Config, where string, found bool, err error) {
	var rules *clientcmd.ClientConfigLoadingRules
	switch {
	case k.kubeconfig != "":
		rules, where = &clientcmd.ClientConfigLoadingRules{ExplicitPath: k.kubeconfig}, "kubeconfig "+k.kubeconfig
	case os.Getenv("KUBECONFIG") != "":
		rules, where = &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(os.Getenv("KUBECONFIG"))}, "$KUBECONFIG "+os.Getenv("KUBECONFIG")
	}
	if rules != nil {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context}).ClientConfig()
		if err != nil {
			return nil, where, true, fmt.Errorf("%s: %w", where, err)
		}
		return cfg, where, true, nil
	}
	cfg, err = rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "in-cluster config", true, fmt.Errorf("in-cluster config: %w", err)
	}
	return cfg, "in-cluster config", true, nil
}

// kubernetesMode builds Kubernetes mode for aeraki serve.
func kubernetesMode(cfg *rest.Config, k kubeFlags, mesh model.Options, debounce time.Duration, burst func(), waypoints *waypoint.Options, log logr.Logger) (*kubemode.Mode, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "aeraki/" + Version()
	if cfg.QPS == 0 {
		// client-go's default (5/s) would make the first status pass over
		// a large mesh take minutes.
		cfg.QPS, cfg.Burst = 20, 40
	}
	// controller-runtime and client-go log through process-wide loggers;
	// send them to aeraki's.
	ctrllog.SetLogger(log.WithName("controller-runtime"))
	klog.SetLogger(log.WithName("client-go"))
	return kubemode.New(kubemode.Options{
		Config:       cfg,
		Model:        mesh,
		Debounce:     debounce,
		BurstStarted: burst,
		LeaderElection: kubemode.LeaderElection{
			Namespace:     k.leaseNS,
			Name:          k.leaseName,
			LeaseDuration: k.leaseDuration,
			RenewDeadline: k.renewDeadline,
			RetryPeriod:   k.retryPeriod,
		},
		Waypoints: waypoints,
		Log:       log,
	})
}
