package identity

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Where istiod publishes the mesh root: a ConfigMap of this name in every
// namespace, the root under this key
// (pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go).
const (
	RootConfigMap = "istio-ca-root-cert"
	RootKey       = "root-cert.pem"
)

// Roots is a source of trusted root certificates.
type Roots interface {
	// Pool is the roots of the moment, nil when none are known yet.
	Pool() *x509.CertPool
	// PEM is the same roots, PEM encoded.
	PEM() []byte
}

// pemRoots holds the roots last read.
type pemRoots struct {
	mu   sync.RWMutex
	pem  []byte
	pool *x509.CertPool
}

func (r *pemRoots) PEM() []byte {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.pem
}

func (r *pemRoots) Pool() *x509.CertPool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.pool
}

// set replaces the roots; it reports whether they changed.
func (r *pemRoots) set(p []byte) (bool, error) {
	r.mu.RLock()
	same := bytes.Equal(p, r.pem)
	r.mu.RUnlock()
	if same {
		return false, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p) {
		return false, errors.New("no PEM certificate in it")
	}
	r.mu.Lock()
	r.pem, r.pool = p, pool
	r.mu.Unlock()
	return true, nil
}

// FileRoots reads roots from a PEM file (the istio-ca-root-cert ConfigMap
// mounted as a volume, or any bundle), again every interval.
type FileRoots struct {
	pemRoots
	path     string
	interval time.Duration
	log      logr.Logger
}

// NewFileRoots reads path once; it must hold a PEM certificate.
func NewFileRoots(path string, interval time.Duration, log logr.Logger) (*FileRoots, error) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	r := &FileRoots{path: path, interval: interval, log: log}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: root certificates: %w", err)
	}
	if _, err := r.set(b); err != nil {
		return nil, fmt.Errorf("identity: root certificates %s: %w", path, err)
	}
	return r, nil
}

// Run reads the file again every interval until ctx ends.
func (r *FileRoots) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			b, err := os.ReadFile(r.path)
			if err == nil {
				var changed bool
				if changed, err = r.set(b); changed {
					r.log.Info("root certificates reloaded", "file", r.path)
				}
			}
			if err != nil {
				r.log.Error(err, "cannot read the root certificates; keeping the previous ones", "file", r.path)
			}
		}
	}
}

// ConfigMapRoots follows the mesh root in the istio-ca-root-cert
// ConfigMap of one namespace (aeraki's), through a watch on that one
// ConfigMap. aeraki's Role needs get, list and watch on configmaps there.
type ConfigMapRoots struct {
	pemRoots
	client    kubernetes.Interface
	namespace string
	log       logr.Logger
	synced    chan struct{}
	once      sync.Once
}

// NewConfigMapRoots returns roots that Run fills from the ConfigMap.
func NewConfigMapRoots(client kubernetes.Interface, namespace string, log logr.Logger) *ConfigMapRoots {
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &ConfigMapRoots{client: client, namespace: namespace, log: log, synced: make(chan struct{})}
}

// Ready is closed once a root has been read.
func (r *ConfigMapRoots) Ready() <-chan struct{} { return r.synced }

// Run watches the ConfigMap until ctx ends.
func (r *ConfigMapRoots) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(r.client, 0, informers.WithNamespace(r.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", RootConfigMap).String()
		}))
	inf := f.Core().V1().ConfigMaps().Informer()
	update := func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok || cm.Name != RootConfigMap {
			return
		}
		changed, err := r.set([]byte(cm.Data[RootKey]))
		if err != nil {
			r.log.Error(err, "the mesh root ConfigMap cannot be used; keeping the previous root", "configMap", r.namespace+"/"+RootConfigMap, "key", RootKey)
			return
		}
		if changed {
			r.log.Info("mesh root loaded", "configMap", r.namespace+"/"+RootConfigMap)
		}
		r.once.Do(func() { close(r.synced) })
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj any) { update(obj) },
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	return nil
}
