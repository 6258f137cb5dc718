package identity

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Files of a kubernetes.io/tls Secret (and of cert-manager's
// Certificates), as mounted in a directory.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
)

// DefaultPollInterval is how often mounted files are read again.
// kubelet updates a Secret volume about a minute after the Secret.
const DefaultPollInterval = 5 * time.Second

// DirOptions configure a Dir.
type DirOptions struct {
	// Dir holds tls.crt, tls.key and optionally ca.crt. Required.
	Dir string
	// PollInterval is how often the files are read again;
	// DefaultPollInterval when zero.
	PollInterval time.Duration
	// Log receives structured logs; never the key.
	Log logr.Logger
}

// Dir serves the certificate and key of a mounted Secret, and its ca.crt
// as roots, reloading them when the files change.
type Dir struct {
	opts DirOptions

	mu    sync.RWMutex
	cert  *tls.Certificate
	pool  *x509.CertPool
	caPEM []byte
	seen  []byte // the three files as last loaded
	ready chan struct{}
	once  sync.Once
}

// NewDir loads the directory once: a missing or broken Secret is an
// error at start-up, not a server that cannot handshake.
func NewDir(opts DirOptions) (*Dir, error) {
	if opts.Dir == "" {
		return nil, errors.New("identity: the certificate directory is required")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	d := &Dir{opts: opts, ready: make(chan struct{})}
	if _, err := d.load(); err != nil {
		return nil, err
	}
	return d, nil
}

// Current is the certificate of the moment.
func (d *Dir) Current() *tls.Certificate {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cert
}

// Pool is ca.crt's certificates, nil without one.
func (d *Dir) Pool() *x509.CertPool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pool
}

// PEM is ca.crt, nil without one.
func (d *Dir) PEM() []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.caPEM
}

// Ready is closed once a certificate is loaded (at NewDir).
func (d *Dir) Ready() <-chan struct{} { return d.ready }

// Run reads the files again every PollInterval until ctx ends. A broken
// update is logged and the previous certificate kept.
func (d *Dir) Run(ctx context.Context) error {
	t := time.NewTicker(d.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if changed, err := d.load(); err != nil {
				d.opts.Log.Error(err, "the mounted certificate changed but cannot be used; keeping the previous one", "dir", d.opts.Dir)
			} else if changed {
				c := d.Current()
				d.opts.Log.Info("mounted certificate reloaded", "dir", d.opts.Dir, "serial", c.Leaf.SerialNumber.String(), "notAfter", c.Leaf.NotAfter)
			}
		}
	}
}

func (d *Dir) load() (bool, error) {
	certPEM, err := os.ReadFile(filepath.Join(d.opts.Dir, CertFile))
	if err != nil {
		return false, fmt.Errorf("identity: %w (mount a kubernetes.io/tls Secret, e.g. from cert-manager, there)", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(d.opts.Dir, KeyFile))
	if err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(d.opts.Dir, CAFile))
	if err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("identity: %w", err)
	}
	all := bytes.Join([][]byte{certPEM, keyPEM, caPEM}, []byte{0})
	d.mu.RLock()
	same := bytes.Equal(all, d.seen)
	d.mu.RUnlock()
	if same {
		return false, nil
	}
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Not the key's bytes: X509KeyPair's errors never quote them.
		return false, fmt.Errorf("identity: %s and %s in %s: %w", CertFile, KeyFile, d.opts.Dir, err)
	}
	var pool *x509.CertPool
	if len(caPEM) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return false, fmt.Errorf("identity: %s in %s holds no PEM certificate", CAFile, d.opts.Dir)
		}
	}
	d.mu.Lock()
	d.cert, d.pool, d.caPEM, d.seen = &tc, pool, caPEM, all
	d.mu.Unlock()
	d.once.Do(func() { close(d.ready) })
	return true, nil
}
