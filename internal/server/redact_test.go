package server

import (
	"strings"
	"testing"

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
		served += ef.Spec.String()
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
