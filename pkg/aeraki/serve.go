package aeraki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/aeraki-ng/aeraki/internal/gcpace"
	"github.com/aeraki-ng/aeraki/internal/server"
	"github.com/aeraki-ng/aeraki/internal/source"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Ports of aeraki serve, the ones istiod users expect (istiod's own: 15010
// plaintext xDS, 15014 monitoring; docs/architecture.md).
const (
	xdsPort        = "15010"
	monitoringPort = "15014"
	debugPort      = "8080"
)

// serveFlags are the flags of aeraki serve.
type serveFlags struct {
	mesh              meshFlags
	configDir         string
	security          securityFlags
	monitoringAddress string
	debugAddress      string
	debounce          time.Duration
	idleGC            bool
	pprof             bool
	shutdownTimeout   time.Duration
	logFormat         string
	logLevel          string
	kube              kubeFlags
	waypoints         waypointFlags
}

func serveCommand(e *env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--config-dir DIR | --kubeconfig FILE]",
		Short: "Run the control plane: serve EnvoyFilters to istiod over MCP and proxy config over ADS",
		Long: `serve watches its source, translates every change and serves the result over gRPC
(xDS state-of-the-world and delta) on two addresses:

  - TLS (--tls-address, 15012), once a certificate is configured: a mounted Secret
    (--tls-cert-dir, for istiod, which checks a DNS name) and/or aeraki's identity from
    Istio's CA (--ca-address); clients' certificates from the mesh CA decide what they
    may read: a waypoint's config goes to its ServiceAccount, a ztunnel's to the ztunnel
    on that node, MCP to istiod;
  - plaintext (--plaintext-address, 15010; "off" turns it off): MCP without credentials,
    no proxy config unless --insecure-plaintext-proxies.

Point istiod's meshConfig.configSources at it (- address: xds://<aeraki-host>:15012 with
tlsSettings, next to - address: k8s://); see docs/security.md.

With --config-dir DIR the source is a directory of manifests (the files you would
kubectl apply), watched for changes; no cluster is needed. In this mode every
address defaults to 127.0.0.1, because it is a local development setup: pass
--plaintext-address :15010 (and the others) to serve other hosts.

Without it, serve runs in Kubernetes mode when it finds a cluster: --kubeconfig,
else $KUBECONFIG, else the in-cluster config of the pod it runs in (never
~/.kube/config by itself). It watches the API server and writes status.conditions
(Accepted, ResolvedRefs, Programmed) on every kind with a status: ` + statusKinds(e.registry) + `. Every replica
serves; the one holding the Lease (--leader-election-*) writes status and deploys
the Gateways of aeraki's waypoint class (--waypoint-class, aeraki-waypoint: a
Deployment of upstream Envoy with aeraki agent, a Service, a ServiceAccount, and
the Gateway's status and address, which istiod passes on to ztunnels; see
--waypoint-* and docs/ambient.md). /ready
turns 200 once the informer caches have synced and the first config is served.
See charts/aeraki (or examples/install) for the RBAC and the Deployment.

Operations: Prometheus metrics on --monitoring-address (/metrics); /ready,
/debug/config_dump?proxyID=, /debug/syncz and /debug/diagnostics on
--debug-address; pprof there too with --pprof. SIGTERM drains and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.serve(cmd, f)
		},
	}
	f.mesh.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.configDir, "config-dir", "", "serve the manifests in this directory (watched; subdirectories included) instead of a Kubernetes cluster")
	f.security.register(fl)
	fl.StringVar(&f.monitoringAddress, "monitoring-address", "", "address of the Prometheus /metrics endpoint (default 127.0.0.1:"+monitoringPort+" with --config-dir, :"+monitoringPort+" in Kubernetes mode)")
	fl.StringVar(&f.debugAddress, "debug-address", "", "address of /ready and /debug/* (default 127.0.0.1:"+debugPort+" with --config-dir, :"+debugPort+" in Kubernetes mode)")
	fl.DurationVar(&f.debounce, "debounce", file.DefaultDebounce, "quiet period after a change before config is regenerated")
	fl.BoolVar(&f.idleGC, "idle-gc", true, "start the garbage collection a rebuild would trigger during the debounce before it, so edits do not run beside a collection (false leaves every collection to the Go runtime)")
	fl.BoolVar(&f.pprof, "pprof", false, "serve Go profiles on the debug address under /debug/pprof/")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long to let xDS streams drain on SIGTERM")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: error, info, debug (pushes, loads) or trace (every xDS request)")
	f.kube.register(fl)
	f.waypoints.register(fl)
	return cmd
}

func (e *env) serve(cmd *cobra.Command, f serveFlags) error {
	log, err := newLogger(e.stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if err := e.registry.Configure(f.mesh.pluginOptions); err != nil {
		return err
	}
	f.mesh.model = e.registry.Bind(f.mesh.model) // the plugins decide which protocol a port means and bring their kinds
	targets, cat, err := f.mesh.builds()
	if err != nil {
		return err
	}
	src, local, kube, err := e.source(f, log)
	if err != nil {
		return err
	}
	sec, err := f.security.setup(local, f.mesh.model, kube, log)
	if err != nil {
		return err
	}
	var onPublish func(source.Update, *translate.Output)
	if p, ok := src.(interface {
		Published(source.Update, *translate.Output)
	}); ok {
		onPublish = p.Published // Kubernetes mode: status
	}
	opts := sec.opts
	opts.Registry, opts.Source, opts.OnPublish, opts.Log = e.registry, src, onPublish, log
	opts.MonitoringAddress = addressOr(f.monitoringAddress, local, monitoringPort)
	opts.DebugAddress = addressOr(f.debugAddress, local, debugPort)
	opts.EnablePprof, opts.ShutdownTimeout = f.pprof, f.shutdownTimeout
	opts.Targets, opts.Profiles = targets, cat
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	// The certificate sources run beside the server: the TLS address
	// listens at once and handshakes as soon as a certificate is in (the
	// CA may be an istiod that waits for aeraki's MCP before it serves).
	ctx, stop := context.WithCancel(cmd.Context())
	defer stop()
	var wg sync.WaitGroup
	for _, r := range sec.runners {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				log.Error(err, "certificate source stopped")
			}
		})
	}
	err = srv.Run(ctx)
	stop()
	wg.Wait()
	return err
}

// source picks where snapshots come from. local is true for sources that
// are a developer's machine (loopback addresses by default); kube is the
// API server in Kubernetes mode, nil otherwise.
func (e *env) source(f serveFlags, log logr.Logger) (src source.Source, local bool, kube *rest.Config, err error) {
	var burst func() // nil: collections are the runtime's alone
	if f.idleGC {
		burst = gcpace.New(gcpace.Options{Log: log.WithName("gcpace")}).BurstStarted
	}
	if f.configDir != "" {
		w, err := file.NewWatcher(file.WatcherOptions{
			Dir:          f.configDir,
			Model:        f.mesh.model,
			File:         fileOptions(f.mesh),
			Debounce:     f.debounce,
			BurstStarted: burst,
			Log:          log.WithName("source"),
		})
		return w, true, nil, err
	}
	cfg, where, found, err := clusterConfig(f.kube)
	if err != nil {
		return nil, false, nil, err
	}
	if !found {
		return nil, false, nil, errors.New("no config source: pass --config-dir DIR to serve a directory of manifests, or --kubeconfig FILE (or set KUBECONFIG, or run in a pod) to watch a cluster")
	}
	log.Info("Kubernetes mode", "cluster", cfg.Host, "from", where)
	wp, err := f.waypoints.options(f.mesh.model, f.security)
	if err != nil {
		return nil, false, nil, err
	}
	m, err := kubernetesMode(cfg, f.kube, f.mesh.model, f.debounce, burst, wp, log)
	return m, false, cfg, err
}

// addressOr is flag when set, else the mode's default for port.
func addressOr(flag string, local bool, port string) string {
	if flag != "" {
		return flag
	}
	if local {
		return "127.0.0.1:" + port
	}
	return ":" + port
}

// newLogger is aeraki's structured logger: log/slog underneath, used
// through logr so libraries and plugins (BuildContext.Log) share it.
// logr's V(n) maps to slog level -n: debug shows V(1), trace everything.
func newLogger(w io.Writer, format, level string) (logr.Logger, error) {
	var lv slog.Level
	switch level {
	case "error":
		lv = slog.LevelError
	case "info":
		lv = slog.LevelInfo
	case "debug":
		lv = slog.Level(-1)
	case "trace":
		lv = slog.Level(-8)
	default:
		return logr.Logger{}, fmt.Errorf("--log-level %q: use error, info, debug or trace", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return logr.FromSlogHandler(slog.NewTextHandler(w, opts)), nil
	case "json":
		return logr.FromSlogHandler(slog.NewJSONHandler(w, opts)), nil
	}
	return logr.Logger{}, fmt.Errorf("--log-format %q: use text or json", format)
}

// statusKinds lists the kinds aeraki writes status on with this build's
// plugins, for serve's help.
func statusKinds(reg *plugin.Registry) string {
	var names []string
	for _, k := range model.NewKindIndex(reg.Kinds()).All() {
		if k.Status != nil {
			names = append(names, k.GVK.Kind)
		}
	}
	return strings.Join(names, ", ")
}
