package aeraki

import (
	"bytes"
	"context"
	"crypto/tls"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aeraki-ng/aeraki/internal/istioca"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestAgentCommand runs `aeraki agent` as the waypoint Deployment does,
// against the real istiod's CA: the identity comes from the mounted
// token, the root from the mounted ConfigMap file, and Envoy's SDS
// request on the socket gets the waypoint's certificate. SIGTERM (the
// context) stops it with status 0 and removes the socket.
func TestAgentCommand(t *testing.T) {
	testenv.RequireIstiod(t)
	cfg, kubeconfig := testenv.StartKube(t, testenv.IstioCRDDir())
	ist := testenv.StartIstiod(t, testenv.IstiodOptions{Kubeconfig: kubeconfig, CA: true})
	ca := caFlags(t, cfg, ist, "demo", "waypoint")
	socket := filepath.Join(t.TempDir(), "socket")

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, append([]string{"agent", "--sds-socket", socket}, ca...), &bytes.Buffer{}, &stderr, builtin.Plugins()...)
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("aeraki agent exited with %d:\n%s", code, stderr.String())
			}
		case <-time.After(e2eWait):
			t.Errorf("aeraki agent did not stop")
		}
	}()

	const id = "spiffe://cluster.local/ns/demo/sa/waypoint"
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, scancel := context.WithTimeout(ctx, e2eWait)
	defer scancel()
	stream, err := secretv3.NewSecretDiscoveryServiceClient(conn).StreamSecrets(sctx, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "waypoint/demo/waypoint"}, TypeUrl: resourcev3.SecretType,
		ResourceNames: []string{id}}); err != nil {
		t.Fatal(err)
	}
	// The first answer may be empty (go-control-plane's LinearCache
	// answers a request without version at once); Envoy ignores it for a
	// named watch and ACKs, and so does this client.
	var r *discoveryv3.DiscoveryResponse
	for len(r.GetResources()) == 0 {
		if r != nil {
			if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNames: []string{id},
				VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()}); err != nil {
				t.Fatal(err)
			}
		}
		if r, err = stream.Recv(); err != nil {
			t.Fatalf("no SDS answer: %v\n%s", err, stderr.String())
		}
	}
	s := &tlsv3.Secret{}
	if len(r.GetResources()) != 1 || r.GetResources()[0].UnmarshalTo(s) != nil {
		t.Fatalf("SDS answered %v", r.GetResources())
	}
	tc, err := tls.X509KeyPair(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), s.GetTlsCertificate().GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := istioca.URIs(tc.Leaf); s.GetName() != id || len(got) != 1 || got[0] != id {
		t.Errorf("secret %q names %v, want %s", s.GetName(), got, id)
	}
}
