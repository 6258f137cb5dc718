package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// IstiodNamespace is the default namespace istiod runs "in" (POD_NAMESPACE);
	// it is also the mesh root namespace, so EnvoyFilters placed there apply to
	// every proxy.
	IstiodNamespace = "istio-system"
	// IstiodClusterID is the cluster ID istiod uses for the Kubernetes
	// registry (its default). Sidecar clients should send it as CLUSTER_ID.
	IstiodClusterID = "Kubernetes"
	// KubeConfigSource is the meshConfig.configSources address that makes
	// istiod read Istio config (ServiceEntry, EnvoyFilter, ...) from the API server.
	KubeConfigSource = "k8s://"
)

// IstiodOptions configures StartIstiod.
type IstiodOptions struct {
	// Kubeconfig is the kubeconfig file of the API server istiod uses as its
	// Kubernetes service registry (the path returned by StartKube). Required.
	Kubeconfig string

	// MCPAddress is the address of the MCP (xDS-over-MCP) config server, for
	// example "127.0.0.1:15099" or "xds://127.0.0.1:15099". Istiod dials it at
	// start-up and fails to start if nothing listens there (see ISTIOD.md).
	MCPAddress string

	// ConfigSources, when non-nil, is used verbatim as the addresses of
	// meshConfig.configSources and MCPAddress is ignored. When nil the
	// config sources are MCPAddress (if set) followed by "k8s://".
	ConfigSources []string

	// MeshConfig is extra mesh config YAML appended to the generated file
	// (top-level MeshConfig fields other than configSources).
	MeshConfig string

	// Namespace istiod runs in (POD_NAMESPACE) and root namespace; created in
	// the API server if missing. Defaults to IstiodNamespace.
	Namespace string

	// Env holds extra KEY=VALUE environment variables; they override the
	// defaults set by StartIstiod (see istiodEnv).
	Env []string

	// Args are extra pilot-discovery flags appended to the command line.
	Args []string

	// LogLevel is passed as --log_output_level (default "default:info").
	LogLevel string

	// ReadyTimeout bounds the wait for /ready (default 3 minutes).
	ReadyTimeout time.Duration

	// NoWait returns as soon as the process started, without waiting for
	// /ready: for tests of an istiod that must not become ready (a config
	// source it refuses). Call WaitReady or WaitLog to wait for something.
	NoWait bool

	// CA runs istiod's certificate authority and its TLS port (secure
	// xDS and the CA's IstioCertificateService, normally :15012) on
	// SecureXDSAddr, with istiod's self-signed root. istiod then writes
	// the root into the istio-ca-root-cert ConfigMap of every namespace
	// and signs CSRs authenticated by ServiceAccount tokens it checks
	// with TokenReview (audience istio-ca). See ServiceAccountToken.
	CA bool
}

// Istiod is a running pilot-discovery process.
type Istiod struct {
	// XDSAddr is the plaintext xDS gRPC address (--grpcAddr, normally :15010).
	XDSAddr string
	// HTTPAddr is the HTTP debug/readiness address (--httpAddr, normally
	// :8080): /ready, /debug/*; webhooks are multiplexed here too.
	HTTPAddr string
	// MonitoringAddr serves /metrics and /version (--monitoringAddr, normally :15014).
	MonitoringAddr string
	// CtrlzAddr is the ControlZ introspection address (--ctrlz_port, normally 9876).
	CtrlzAddr string
	// SecureXDSAddr is istiod's TLS gRPC address (--secureGRPCAddr,
	// normally :15012): secure xDS and the CA. Empty unless
	// IstiodOptions.CA is set.
	SecureXDSAddr string
	// Namespace is istiod's namespace (POD_NAMESPACE) and the mesh root namespace.
	Namespace string
	// LogPath is the file receiving istiod's stdout and stderr.
	LogPath string
	// MeshConfigPath is the mesh config file passed with --meshConfig.
	MeshConfigPath string

	kubeconfig string

	cmd   *exec.Cmd
	ready bool          // /ready answered 200
	done  chan struct{} // closed when the process has exited
	err   error         // exit error, valid after done is closed
}

// RequireIstiod skips the test unless pilot-discovery, etcd and kube-apiserver
// are installed in BinDir().
func RequireIstiod(t testing.TB) {
	t.Helper()
	if m := missingBinaries("etcd", "kube-apiserver", "pilot-discovery"); len(m) > 0 {
		t.Skipf("testenv: %s not found in %q; run `make test` (or `bash hack/test-deps.sh`) to install the test dependencies",
			strings.Join(m, ", "), BinDir())
	}
}

// StartIstiod starts `pilot-discovery discovery` against opts.Kubeconfig, with
// every listener on 127.0.0.1 and a free port, CA/webhooks/injection
// disabled, and a mesh config whose configSources point at opts.MCPAddress.
// It waits until /ready answers 200, and kills the process when the test ends;
// istiod's output goes to a log file in t.TempDir() whose tail is logged if
// the test fails.
func StartIstiod(t testing.TB, opts IstiodOptions) *Istiod {
	t.Helper()
	RequireIstiod(t)
	if opts.Kubeconfig == "" {
		t.Fatal("testenv: IstiodOptions.Kubeconfig is required (use the path returned by StartKube)")
	}
	if opts.Namespace == "" {
		opts.Namespace = IstiodNamespace
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 3 * time.Minute
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "default:info"
	}
	if err := ensureNamespace(opts.Kubeconfig, opts.Namespace); err != nil {
		t.Fatalf("testenv: creating namespace %s for istiod: %v", opts.Namespace, err)
	}

	dir := t.TempDir()
	var lastErr error
	// The ports are picked by briefly listening on :0; another process may grab
	// one before istiod binds it, so retry on "address already in use".
	for attempt := 1; attempt <= 3; attempt++ {
		ist, err := startIstiodOnce(t, opts, dir, attempt)
		if err == nil {
			return ist
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
		t.Logf("testenv: istiod port clash, retrying: %v", err)
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

func startIstiodOnce(t testing.TB, opts IstiodOptions, dir string, attempt int) (*Istiod, error) {
	t.Helper()
	bin, _ := binPath("pilot-discovery")
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	ist := &Istiod{
		XDSAddr:        hostPort(ports[0]),
		HTTPAddr:       hostPort(ports[1]),
		MonitoringAddr: hostPort(ports[2]),
		CtrlzAddr:      hostPort(ports[3]),
		kubeconfig:     opts.Kubeconfig,
		Namespace:      opts.Namespace,
		LogPath:        filepath.Join(dir, fmt.Sprintf("istiod-%d.log", attempt)),
		MeshConfigPath: filepath.Join(dir, "mesh.yaml"),
		done:           make(chan struct{}),
	}
	if opts.CA {
		ist.SecureXDSAddr = hostPort(ports[4])
	}
	if err := os.WriteFile(ist.MeshConfigPath, []byte(meshConfigYAML(opts)), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(ist.LogPath)
	if err != nil {
		return nil, err
	}

	args := []string{
		"discovery",
		"--kubeconfig=" + opts.Kubeconfig,
		"--meshConfig=" + ist.MeshConfigPath,
		"--networksConfig=" + filepath.Join(dir, "meshNetworks"), // absent: no networks
		"--namespace=" + opts.Namespace,
		"--grpcAddr=" + ist.XDSAddr,
		"--httpAddr=" + ist.HTTPAddr,
		"--monitoringAddr=" + ist.MonitoringAddr,
		"--ctrlz_address=127.0.0.1",
		"--ctrlz_port=" + strconv.Itoa(ports[3]),
		// Empty addresses disable the TLS listeners (secure xDS :15012 and the
		// webhook server :15017); webhooks are then multiplexed on httpAddr.
		"--secureGRPCAddr=" + ist.SecureXDSAddr,
		"--httpsAddr=",
		"--shutdownDuration=1s",
		"--log_output_level=" + opts.LogLevel,
		"--log_as_json=false",
	}
	args = append(args, opts.Args...)

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir // relative defaults (./etc/istio, ./var/lib/istio) resolve here
	cmd.Env = istiodEnv(opts)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcAttrs(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	ist.cmd = cmd
	go func() {
		ist.err = cmd.Wait()
		logFile.Close()
		close(ist.done)
	}()
	t.Cleanup(func() {
		ist.stop()
		if (ist.ready || opts.NoWait) && t.Failed() { // a start failure already reported the tail
			t.Logf("testenv: istiod log %s (tail):\n%s", ist.LogPath, tailFile(ist.LogPath, 80))
		}
	})

	if opts.NoWait {
		return ist, nil
	}
	if err := ist.waitReady(opts.ReadyTimeout); err != nil {
		ist.stop()
		tail := tailFile(ist.LogPath, 60)
		if strings.Contains(tail, "address already in use") {
			return nil, fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		hint := ""
		if strings.Contains(tail, "waiting for sync...\tname=server") && strings.Contains(meshConfigYAML(opts), "xds://") {
			hint = "\nhint: istiod is waiting for its caches; with an xds:// config source it needs one response " +
				"for every type URL it subscribed to (see ISTIOD.md)"
		}
		return nil, fmt.Errorf("istiod did not become ready: %v%s\n--- %s (tail) ---\n%s", err, hint, ist.LogPath, tail)
	}
	ist.ready = true
	return ist, nil
}

// istiodEnv is the environment istiod needs to run outside a cluster.
func istiodEnv(opts IstiodOptions) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT":
			continue // only ever talk to the API server given in opts.Kubeconfig
		}
		env = append(env, kv)
	}
	env = append(env,
		"POD_NAMESPACE="+opts.Namespace,
		"POD_NAME=istiod-testenv",
	)
	if opts.CA {
		env = append(env,
			// istiod's own CA (self-signed root in the istio-ca-secret
			// Secret) signs workload CSRs and istiod's DNS certificate
			// for its TLS port (pilot/pkg/bootstrap/server.go,
			// initIstiodCerts).
			"ENABLE_CA_SERVER=true",
			"PILOT_CERT_PROVIDER=istiod",
		)
	} else {
		env = append(env,
			// No CA: nothing to sign, no istio-ca-secret, no istiod DNS certs.
			"ENABLE_CA_SERVER=false",
			"PILOT_CERT_PROVIDER=none",
		)
	}
	env = append(env,
		// No sidecar injection webhook and no webhook-config patching.
		"INJECT_ENABLED=false",
		"INJECTION_WEBHOOK_CONFIG_NAME=",
		"VALIDATION_WEBHOOK_CONFIG_NAME=",
		"ISTIOD_CUSTOM_HOST=",
		// Fewer controllers: faster start, less noise. Override via opts.Env.
		"PILOT_ENABLE_GATEWAY_API=false",
		"PILOT_ENABLE_GATEWAY_API_STATUS=false",
		"PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER=false",
		"PILOT_ENABLE_ANALYSIS=false",
		// Push changes quickly in tests (defaults: 100ms debounce, 10s max).
		"PILOT_DEBOUNCE_AFTER=10ms",
		"PILOT_DEBOUNCE_MAX=1s",
	)
	return append(env, opts.Env...) // later entries win
}

func meshConfigYAML(opts IstiodOptions) string {
	sources := opts.ConfigSources
	if sources == nil {
		if opts.MCPAddress != "" {
			addr := opts.MCPAddress
			if !strings.Contains(addr, "://") {
				addr = "xds://" + addr
			}
			sources = append(sources, addr)
		}
		sources = append(sources, KubeConfigSource)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rootNamespace: %s\n", opts.Namespace)
	fmt.Fprintf(&b, "trustDomain: cluster.local\n")
	if len(sources) > 0 {
		b.WriteString("configSources:\n")
		for _, s := range sources {
			fmt.Fprintf(&b, "- address: %q\n", s)
		}
	}
	if opts.MeshConfig != "" {
		b.WriteString(strings.TrimSpace(opts.MeshConfig))
		b.WriteString("\n")
	}
	return b.String()
}

func (ist *Istiod) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + ist.HTTPAddr + "/ready"
	deadline := time.Now().Add(timeout)
	lastStatus := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-ist.done:
			return fmt.Errorf("pilot-discovery exited: %v", ist.err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastStatus = resp.Status
		} else {
			lastStatus = err.Error()
		}
		select {
		case <-ist.done:
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s not 200 after %v (last: %s)", url, timeout, lastStatus)
}

// WaitReady waits until istiod's /ready answers 200 (after NoWait).
func (ist *Istiod) WaitReady(timeout time.Duration) error {
	if err := ist.waitReady(timeout); err != nil {
		return err
	}
	ist.ready = true
	return nil
}

// WaitLog waits until istiod's output contains substr and returns the
// first line holding it, or fails after timeout with the log's tail. An
// istiod that exits after logging it (istiod exits when a config source
// fails at start-up) is fine.
func (ist *Istiod) WaitLog(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	find := func() (string, bool) {
		for _, line := range strings.Split(ist.Log(), "\n") {
			if strings.Contains(line, substr) {
				return line, true
			}
		}
		return "", false
	}
	for {
		if line, ok := find(); ok {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: istiod did not log %q within %v; tail of %s:\n%s", substr, timeout, ist.LogPath, tailFile(ist.LogPath, 40))
		}
		select {
		case <-ist.done:
			if line, ok := find(); ok {
				return line
			}
			t.Fatalf("testenv: istiod exited (%v) without logging %q; tail:\n%s", ist.err, substr, tailFile(ist.LogPath, 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Exited returns a channel closed when the istiod process exits.
func (ist *Istiod) Exited() <-chan struct{} { return ist.done }

var stopMu sync.Mutex

// stop terminates istiod (SIGTERM, then SIGKILL after 5s) and waits for it.
func (ist *Istiod) stop() {
	stopMu.Lock()
	defer stopMu.Unlock()
	if ist.cmd == nil || ist.cmd.Process == nil {
		return
	}
	select {
	case <-ist.done:
		return
	default:
	}
	_ = ist.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ist.done:
	case <-time.After(5 * time.Second):
		_ = ist.cmd.Process.Kill()
		<-ist.done
	}
}

// Log returns istiod's output so far.
func (ist *Istiod) Log() string {
	b, _ := os.ReadFile(ist.LogPath)
	return string(b)
}

func ensureNamespace(kubeconfig, ns string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// tailFile returns the last n lines of the file at path (at most 64 KiB).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	var lines [][]byte
	for _, l := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		// Our own /ready polling makes istiod log this every 250ms; drop it.
		if !bytes.HasSuffix(l, []byte(" is not ready")) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
