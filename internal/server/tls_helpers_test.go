package server

import (
	"crypto/tls"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/aeraki-ng/aeraki/internal/identity"
	"github.com/aeraki-ng/aeraki/internal/testenv"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

// Names of aeraki's serving certificate in these tests, as a cert-manager
// Certificate would carry them: the Service's DNS name (what istiod's MCP
// client checks), the loopback IP the tests dial (what grpc-go's xDS
// client checks) and aeraki's SPIFFE id (what proxies check).
const (
	aerakiDNS    = "aeraki.istio-system.svc"
	aerakiSPIFFE = "spiffe://cluster.local/ns/istio-system/sa/aeraki"
)

// tlsServer is a test server with a TLS address whose mesh CA is ca.
type tlsServer struct {
	*testServer
	ca *testenv.CA
}

// startTLSServer runs the server on dir with a TLS address: its
// certificate and the mesh root from a mounted-Secret directory signed by
// a test CA that stands for the mesh CA. The HBONE plugin is registered.
func startTLSServer(t *testing.T, dir string, adjust func(*Options), extra ...plugin.Plugin) *tlsServer {
	t.Helper()
	ca := testenv.NewCA(t, "mesh")
	secret := t.TempDir()
	ca.WriteSecretDir(t, secret, ca.Issue(t, aerakiDNS, "127.0.0.1", aerakiSPIFFE))
	d, err := identity.NewDir(identity.DirOptions{Dir: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerWith(t, dir, func(o *Options) {
		o.SecureXDSAddress = "127.0.0.1:0"
		o.TLS = identity.ServerConfig([]identity.Certificate{d}, d)
		o.Authorization = Authorization{}
		if adjust != nil {
			adjust(o)
		}
	}, append([]plugin.Plugin{hbone.New()}, extra...)...)
	return &tlsServer{testServer: srv, ca: ca}
}

// dialTLS connects to the TLS address presenting client (nil: no
// certificate), checking aeraki's certificate the way grpc-go does
// (chain to the mesh root, DNS name).
func dialTLS(t *testing.T, srv *tlsServer, client *testenv.Leaf) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: srv.ca.Pool(), ServerName: aerakiDNS, MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{client.Certificate}
	}
	conn, err := grpc.NewClient(srv.SecureXDSAddr(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// copyExample copies an example directory into dir.
func copyExample(t testing.TB, example, dir string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "examples", example)
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, d.Name()), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
