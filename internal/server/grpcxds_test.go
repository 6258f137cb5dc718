package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/xds"
)

// startBackend runs a gRPC health server on loopback whose "backend"
// service reports status, so a client can tell which backend answered.
func startBackend(t *testing.T, status healthpb.HealthCheckResponse_ServingStatus) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("backend", status)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().(*net.TCPAddr).Port
}

// TestGRPCXDSClient has grpc-go's own xDS client (the xds:/// resolver,
// as a proxyless gRPC application uses it) consume listeners, routes,
// clusters and endpoints from the server, call a real gRPC server through
// them, and follow an endpoint change made in the config directory.
func TestGRPCXDSClient(t *testing.T) {
	first := startBackend(t, healthpb.HealthCheckResponse_SERVING)
	second := startBackend(t, healthpb.HealthCheckResponse_NOT_SERVING)

	dir := t.TempDir()
	writeFile(t, dir, "greeter.yaml", fmt.Sprintf(grpcService, "greeter", first))
	srv := startServer(t, dir)

	const nodeID = "proxyless~grpc-go-test"
	bootstrap := fmt.Sprintf(`{
  "xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
  "node": {"id": %q, "metadata": {"PROXYLESS": "true"}}
}`, srv.XDSAddr(), nodeID)
	resolver, err := xds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatalf("grpc-go rejected the bootstrap: %v", err)
	}
	conn, err := grpc.NewClient("xds:///greeter.example.com:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	check := func() (healthpb.HealthCheckResponse_ServingStatus, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "backend"}, grpc.WaitForReady(true))
		return resp.GetStatus(), err
	}

	// Initial fetch: the RPC reaches the first backend.
	var status healthpb.HealthCheckResponse_ServingStatus
	waitUntil(t, "an RPC through the xDS config succeeds", func() bool {
		status, err = check()
		if err != nil {
			t.Logf("RPC: %v", err)
		}
		return err == nil
	})
	if status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("the RPC reached a backend answering %v, want the first one (SERVING)", status)
	}

	// The endpoint moves to the second backend in the config directory.
	writeFile(t, dir, "greeter.yaml", fmt.Sprintf(grpcService, "greeter", second))
	waitUntil(t, "RPCs reach the second backend", func() bool {
		status, err = check()
		return err == nil && status == healthpb.HealthCheckResponse_NOT_SERVING
	})

	// The server saw grpc-go ACK every type it was sent.
	waitUntil(t, "grpc-go ACKed listeners, routes, clusters and endpoints", func() bool {
		var syncz []SyncStatus
		getJSON(t, "http://"+srv.DebugAddr()+"/debug/syncz", &syncz)
		for _, s := range syncz {
			if s.NodeID != nodeID {
				continue
			}
			for _, typeURL := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType} {
				ts, ok := s.Types[typeURL]
				if !ok || !ts.Synced || ts.NACKs != 0 {
					return false
				}
			}
			return s.Kind == "proxyless"
		}
		return false
	})
	var syncz []SyncStatus
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/syncz", &syncz)
	for _, s := range syncz {
		if s.NodeID == nodeID {
			eds := s.Types[resourcev3.EndpointType]
			if eds.LastAckedVersion == "" || !strings.Contains(fmt.Sprint(s.Types), eds.LastAckedVersion) {
				t.Errorf("syncz EDS state %+v", eds)
			}
		}
	}
}

// TestGRPCXDSClientOverTLS is TestGRPCXDSClient on the TLS address:
// grpc-go's xDS client with "tls" channel credentials verifies aeraki's
// certificate (the loopback IP it dials) against the mesh root and
// presents its own from the mesh CA, and its RPCs reach the backend.
// A client certificate of another trust domain is refused, and grpc-go
// reports the PermissionDenied.
func TestGRPCXDSClientOverTLS(t *testing.T) {
	backend := startBackend(t, healthpb.HealthCheckResponse_SERVING)
	dir := t.TempDir()
	writeFile(t, dir, "greeter.yaml", fmt.Sprintf(grpcService, "greeter", backend))
	srv := startTLSServer(t, dir, nil)

	resolverFor := func(identity string) *grpc.ClientConn {
		files := t.TempDir()
		leaf := srv.ca.Issue(t, identity)
		for name, b := range map[string][]byte{"ca.pem": srv.ca.CertPEM, "cert.pem": leaf.CertPEM, "key.pem": leaf.KeyPEM} {
			if err := os.WriteFile(filepath.Join(files, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		bootstrap := fmt.Sprintf(`{
  "xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "tls", "config": {
    "ca_certificate_file": %q, "certificate_file": %q, "private_key_file": %q}}], "server_features": ["xds_v3"]}],
  "node": {"id": "proxyless~%s", "metadata": {"PROXYLESS": "true"}}
}`, srv.SecureXDSAddr(), filepath.Join(files, "ca.pem"), filepath.Join(files, "cert.pem"), filepath.Join(files, "key.pem"), filepath.Base(files))
		resolver, err := xds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
		if err != nil {
			t.Fatalf("grpc-go rejected the bootstrap: %v", err)
		}
		conn, err := grpc.NewClient("xds:///greeter.example.com:50051",
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	check := func(conn *grpc.ClientConn) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "backend"}, grpc.WaitForReady(true))
		return err
	}

	good := resolverFor("spiffe://cluster.local/ns/demo/sa/app")
	waitUntil(t, "an RPC through the xDS config over TLS succeeds", func() bool { return check(good) == nil })

	bad := resolverFor("spiffe://other.example/ns/demo/sa/app")
	err := check(bad)
	if err == nil || !strings.Contains(err.Error(), "PermissionDenied") || !strings.Contains(err.Error(), "trust domain cluster.local") {
		t.Errorf("a client of another trust domain: err = %v, want grpc-go to report aeraki's PermissionDenied", err)
	}
}
