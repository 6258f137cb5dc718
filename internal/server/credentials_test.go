package server

import (
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/aeraki-ng/aeraki/plugins/redis"
)

const redisWithAuth = `apiVersion: v1
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
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: apps}
spec:
  clusterIP: 10.0.0.8
  selector: {app: plain}
  ports: [{name: tcp-redis, port: 6379}]
`

// mcpNames fetches the EnvoyFilter collection and returns the raw
// resources' names and whether any holds the password.
func mcpNames(t *testing.T, c *adsClient) (map[string]bool, bool) {
	t.Helper()
	c.send(EnvoyFilterType, nil, "", "", nil)
	r := c.recv(EnvoyFilterType)
	names := map[string]bool{}
	for n := range decodeMCP(t, r) {
		names[n] = true
	}
	return names, responseHolds(r, "client-s3cret")
}

func responseHolds(r *discoveryv3.DiscoveryResponse, s string) bool {
	for _, a := range r.GetResources() {
		if strings.Contains(string(a.GetValue()), s) {
			return true
		}
	}
	return false
}

// TestCredentialsNeverOverPlaintext: istiod connected to the plaintext
// address is served every EnvoyFilter but those holding a Redis password,
// and the Service gets a warning saying why; the TLS address serves
// them all. --insecure-plaintext-credentials restores plaintext.
func TestCredentialsNeverOverPlaintext(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "redis.yaml", redisWithAuth)
	srv := startTLSServer(t, dir, nil, redis.New())
	tlsNames, tlsSecret := mcpNames(t, newADSClientOn(t, dialTLS(t, srv, nil), istiodNode()))
	plainNames, plainSecret := mcpNames(t, newADSClient(t, srv.XDSAddr(), istiodNode()))
	if !tlsSecret {
		t.Fatalf("the TLS address must serve the password istiod passes to Envoy; names %v", tlsNames)
	}
	if plainSecret {
		t.Fatalf("the plaintext address served the password")
	}
	if len(plainNames) == 0 || len(plainNames) >= len(tlsNames) {
		t.Fatalf("plaintext serves %v, TLS %v: plaintext should serve the EnvoyFilters without credentials only", plainNames, tlsNames)
	}
	var d DiagnosticsDump
	getJSON(t, "http://"+srv.DebugAddr()+"/debug/diagnostics", &d)
	found := false
	for _, x := range d.Diagnostics {
		if x.Reason == "CredentialsOverPlaintext" && x.Object.Kind == "Service" && x.Object.Name == "cache" && strings.Contains(x.Message, "--insecure-plaintext-credentials") {
			found = true
		}
	}
	if !found {
		t.Errorf("no CredentialsOverPlaintext warning on the Service: %+v", d.Diagnostics)
	}

	insecure := startTLSServer(t, dir, func(o *Options) { o.Authorization.InsecurePlaintextCredentials = true }, redis.New())
	if _, secret := mcpNames(t, newADSClient(t, insecure.XDSAddr(), istiodNode())); !secret {
		t.Errorf("with InsecurePlaintextCredentials the plaintext address must serve the password")
	}
}
