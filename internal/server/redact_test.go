package server

import (
	"errors"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr/funcr"

	"github.com/aeraki-ng/aeraki/plugins/redis"
)

// TestConfigDumpNeverShowsPasswords: istiod is served the Redis
// passwords, the debug dump shows "<redacted>" in their place.
func TestConfigDumpNeverShowsPasswords(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "redis.yaml", `apiVersion: v1
kind: Service
metadata: {name: cache, namespace: apps}
spec:
  clusterIP: 10.0.0.7
  selector: {app: cache}
  ports: [{name: tcp-redis, port: 6379}]
---
apiVersion: redis.aeraki.io/v1alpha1
kind: RedisService
metadata: {name: cache, namespace: apps}
spec:
  host: [cache.apps.svc.cluster.local]
  settings:
    auth: {plain: {password: client-s3cret}}
---
apiVersion: redis.aeraki.io/v1alpha1
kind: RedisDestination
metadata: {name: cache, namespace: apps}
spec:
  host: cache.apps.svc.cluster.local
  trafficPolicy:
    connectionPool:
      redis:
        auth: {plain: {password: server-s3cret}}
`)
	srv := startServer(t, dir, redis.New())
	efs, _ := srv.pub.envoyFilters()
	served := ""
	for _, ef := range efs {
		served += ef.Spec().String()
	}
	if !strings.Contains(served, "client-s3cret") || !strings.Contains(served, "server-s3cret") {
		t.Fatalf("the served EnvoyFilters must carry the real passwords for Envoy")
	}
	_, dump := httpGet(t, "http://"+srv.DebugAddr()+"/debug/config_dump?proxyID=istiod")
	if strings.Contains(string(dump), "s3cret") {
		t.Fatalf("config_dump shows a password:\n%s", dump)
	}
	if !strings.Contains(string(dump), "redacted") { // JSON escapes the angle brackets
		t.Fatalf("config_dump does not show where the passwords were redacted:\n%s", dump)
	}
}

// TestLogsNeverShowSecrets runs the server at its most verbose (every
// go-control-plane line, every request and push) while istiod is served
// Redis passwords over TLS, a client presents a certificate and a
// refused client asks on plaintext: no password and no key reaches the
// log.
func TestLogsNeverShowSecrets(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	dir := t.TempDir()
	writeFile(t, dir, "redis.yaml", redisWithAuth)
	srv := startTLSServer(t, dir, func(o *Options) { o.Log = logger }, redis.New())
	client := srv.ca.Issue(t, "spiffe://cluster.local/ns/istio-system/sa/istiod")

	c := newADSClientOn(t, dialTLS(t, srv, client), istiodNode())
	c.send(EnvoyFilterType, nil, "", "", nil)
	r := c.recv(EnvoyFilterType)
	if !responseHolds(r, "client-s3cret") {
		t.Fatal("istiod must be served the password over TLS")
	}
	c.send(EnvoyFilterType, nil, "", r.GetNonce(), errors.New("rejected"))
	plain := newADSClient(t, srv.XDSAddr(), &corev3.Node{Id: "waypoint/apps/gw"})
	plain.send(resourcev3.ListenerType, nil, "", "", nil)
	plain.recvErr()
	waitUntil(t, "the NACK is logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "rejected config")
	})
	srv.stop()

	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	for _, secret := range []string{"s3cret", "PRIVATE KEY", string(client.KeyPEM[40:80])} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q", secret)
		}
	}
	if !strings.Contains(out, "xDS stream refused") || !strings.Contains(out, "spiffe://cluster.local/ns/istio-system/sa/istiod") {
		t.Errorf("the log should show the refusal and the client's identity:\n%s", out)
	}
}
