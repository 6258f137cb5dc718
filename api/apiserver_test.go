package api_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// TestInvalidRejectedByAPIServer applies each manifest of testdata/invalid
// with the real kubectl to a real API server holding crd/, and checks it
// is refused with the message the table records (what the server says, as
// kubectl prints it) and every "# want:" fragment of the file.
func TestInvalidRejectedByAPIServer(t *testing.T) {
	root := repoRoot(t)
	_, kubeconfig := testenv.StartKube(t, filepath.Join(root, "crd"))
	k := testenv.RequireKubectl(t, kubeconfig)
	dir := filepath.Join(root, "api", "testdata", "invalid")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("want at least ten invalid manifests in %s, found %d", dir, len(files))
	}
	// The namespaces the manifests name exist, so a refusal is the
	// schema's and not a missing namespace.
	namespaces := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if ns := doc.Metadata.Namespace; ns != "" && ns != "default" && !namespaces[ns] {
			namespaces[ns] = true
			k.Must(t, "create", "namespace", ns)
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, errOut, err := k.Run("", "apply", "-f", f)
			if err == nil {
				t.Fatalf("the API server accepted it:\n%s", out)
			}
			msg := strings.TrimSpace(errOut)
			want, ok := serverMessages[name]
			if !ok {
				t.Fatalf("no server message recorded for it; the server said:\n%s", msg)
			}
			for _, w := range []string{want.object, want.error} {
				if !strings.Contains(msg, w) {
					t.Errorf("the server said:\n%s\nwant it to contain:\n%s", msg, w)
				}
			}
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok && !strings.Contains(msg, strings.TrimSpace(w)) {
					t.Errorf("the server's message does not contain the file's # want: %q\n%s", w, msg)
				}
			}
		})
	}
	for name := range serverMessages {
		if !seen[name] {
			t.Errorf("serverMessages has %s, which is not in %s", name, dir)
		}
	}
}

// corpusNamespaces are the namespaces Aeraki's demos apply each folder of
// the corpus to (kubectl apply -n), by top-level folder.
var corpusNamespaces = map[string]string{
	"dubbo":                        "default",
	"gateway":                      "istio-system",
	"redis":                        "redis",
	"metaprotocol-dubbo":           "meta-dubbo",
	"metaprotocol-dubbo-app-level": "meta-dubbo",
	"metaprotocol-thrift":          "meta-thrift",
	"metaprotocol-brpc":            "meta-brpc",
	"metaprotocol-trpc":            "meta-trpc",
	"metaprotocol-qza":             "meta-qza",
	"metaprotocol-videopacket":     "meta-videopacket",
}

// ourKinds are the kinds the corpus must apply without a single refusal.
var ourKinds = map[string]string{
	"MetaRouter": "metarouters.metaprotocol.aeraki.io", "ApplicationProtocol": "applicationprotocols.metaprotocol.aeraki.io",
	"RedisService": "redisservices.redis.aeraki.io", "RedisDestination": "redisdestinations.redis.aeraki.io",
	"DubboAuthorizationPolicy": "dubboauthorizationpolicies.dubbo.aeraki.io",
}

// TestCorpusAppliesToAPIServer applies every document of Aeraki's demo
// manifests (the compatibility corpus, except Aeraki's own CRDs) with the
// real kubectl, one at a time and in file order, to an API server holding
// crd/ and Istio's CRDs. Every MetaRouter, ApplicationProtocol,
// RedisService, RedisDestination and DubboAuthorizationPolicy must be
// accepted (created, or updated by a later version of itself). Other
// documents are the demos' workloads: a kind the API server does not serve
// is skipped, and any other refusal is reported unless documented below.
func TestCorpusAppliesToAPIServer(t *testing.T) {
	dir := corpusDir(t)
	root := repoRoot(t)
	_, kubeconfig := testenv.StartKube(t, filepath.Join(root, "crd"), testenv.IstioCRDDir())
	k := testenv.RequireKubectl(t, kubeconfig)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && filepath.Base(p) != "aeraki-crd.yaml" {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	created := map[string]bool{"default": true}
	applied := map[string]map[string]bool{} // kind -> namespace/name
	skipped := 0
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		folder := strings.Split(filepath.ToSlash(rel), "/")[0]
		defaultNS, ok := corpusNamespaces[folder]
		if !ok {
			t.Errorf("%s: no namespace known for folder %s; add it to corpusNamespaces", rel, folder)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			var h struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(raw, &h); err != nil || h.Kind == "" {
				continue // comments only, or not an object
			}
			ns := h.Metadata.Namespace
			if ns == "" {
				ns = defaultNS
			}
			where := fmt.Sprintf("%s document %d (%s %s/%s)", rel, i+1, h.Kind, ns, h.Metadata.Name)
			if strings.Contains(ns, "$") {
				// The gateway demo's Service namespace is ${ISTIO_NAMESPACE},
				// meant for envsubst; kubectl refuses it as it stands.
				t.Logf("%s: skipped, its namespace is an unexpanded shell variable", where)
				skipped++
				continue
			}
			if !created[ns] {
				created[ns] = true
				k.Must(t, "create", "namespace", ns)
			}
			out, errOut, err := k.Run(string(raw), "apply", "-n", ns, "-f", "-")
			switch {
			case err == nil:
				if _, ours := ourKinds[h.Kind]; ours {
					if applied[h.Kind] == nil {
						applied[h.Kind] = map[string]bool{}
					}
					applied[h.Kind][ns+"/"+h.Metadata.Name] = true
				}
			case strings.Contains(errOut, "no matches for kind"):
				if _, ours := ourKinds[h.Kind]; ours {
					t.Errorf("%s: our CRD is not served: %s", where, errOut)
				}
				t.Logf("%s: skipped, kind not installed", where)
				skipped++
			default:
				t.Errorf("%s: refused by the API server:\n%s%s", where, out, errOut)
			}
		}
	}
	total := 0
	for kind, objs := range applied {
		total += len(objs)
		got := k.Must(t, "get", ourKinds[kind], "-A", "-o", "name")
		if n := len(strings.Fields(got)); n != len(objs) {
			t.Errorf("%d %s objects applied, %d in the API server:\n%s", len(objs), kind, n, got)
		}
	}
	for _, kind := range []string{"MetaRouter", "ApplicationProtocol", "RedisService", "RedisDestination"} {
		if len(applied[kind]) == 0 {
			t.Errorf("the corpus applied no %s; is it complete?", kind)
		}
	}
	t.Logf("applied %d of aeraki's objects (%v kinds), skipped %d documents", total, len(applied), skipped)
}

// serverMessages are what kube-apiserver answers `kubectl apply` of each
// file in testdata/invalid, as kubectl prints it: the object line and the
// (first) error.
var serverMessages = map[string]struct{ object, error string }{
	"applicationprotocol-empty-protocol": {`The ApplicationProtocol "empty-protocol" is invalid:`,
		`spec.protocol: Invalid value: "": spec.protocol in body should be at least 1 chars long`},
	"applicationprotocol-no-codec": {`The ApplicationProtocol "no-codec" is invalid:`,
		`spec.codec: Required value`},
	"dubboauthorizationpolicy-action-permit": {`The DubboAuthorizationPolicy "permit" is invalid:`,
		`spec.action: Unsupported value: "PERMIT": supported values: "ALLOW", "DENY"`},
	"metarouter-bad-duration": {`The MetaRouter "metarouter-bad-duration" is invalid:`,
		`spec.routes[0].timeout: Invalid value: "10 seconds": spec.routes[0].timeout in body should match '^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$'`},
	"metarouter-bad-fill-interval": {`The MetaRouter "metarouter-bad-fill-interval" is invalid:`,
		`spec.localRateLimit.tokenBucket.fillInterval: Invalid value: "-1s": spec.localRateLimit.tokenBucket.fillInterval in body should match '^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$'`},
	"metarouter-empty-hosts": {`The MetaRouter "metarouter-empty-hosts" is invalid:`,
		`spec.hosts: Invalid value: 0: spec.hosts in body should have at least 1 items`},
	"metarouter-exact-and-prefix": {`The MetaRouter "metarouter-exact-and-prefix" is invalid:`,
		`spec.routes[0].match.attributes[method]: Invalid value: at most one of exact, prefix or regex may be set (set none to match on the attribute's presence)`},
	"metarouter-fault-abort-ok": {`The MetaRouter "metarouter-fault-abort-ok" is invalid:`,
		`spec.routes[0].fault.abort.status: Unsupported value: "OK": supported values: "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"`},
	"metarouter-fault-delay-percentage-negative": {`The MetaRouter "metarouter-fault-delay-percentage-negative" is invalid:`,
		`spec.routes[0].fault.delay.percentage.value: Invalid value: -5: spec.routes[0].fault.delay.percentage.value in body should be greater than or equal to 0`},
	"metarouter-fault-delay-zero": {`The MetaRouter "metarouter-fault-delay-zero" is invalid:`,
		`spec.routes[0].fault.delay.fixedDelay: Invalid value: "0s": fixedDelay must be more than zero`},
	"metarouter-fill-interval-10ms": {`The MetaRouter "metarouter-fill-interval-10ms" is invalid:`,
		`spec.localRateLimit.tokenBucket.fillInterval: Invalid value: "10ms": fillInterval must be at least 50ms (Envoy refuses a shorter fill timer)`},
	"redisdestination-keepalive-too-long": {`The RedisDestination "keepalive-too-long" is invalid:`,
		`spec.trafficPolicy.connectionPool.tcp.tcpKeepalive.time: Invalid value: "2000000h": time must be at most 4294967295s`},
	"metarouter-fault-empty": {`The MetaRouter "metarouter-fault-empty" is invalid:`,
		`spec.routes[0].fault: Invalid value: fault must set delay, abort or both`},
	"metarouter-mirror-percentage-150": {`The MetaRouter "metarouter-mirror-percentage-150" is invalid:`,
		`spec.routes[0].mirrorPercentage.value: Invalid value: 150: spec.routes[0].mirrorPercentage.value in body should be less than or equal to 100`},
	"metarouter-no-hosts": {`The MetaRouter "metarouter-no-hosts" is invalid:`,
		`spec.hosts: Required value`},
	"metarouter-ratelimit-prefix-and-regex": {`The MetaRouter "metarouter-ratelimit-prefix-and-regex" is invalid:`,
		`spec.localRateLimit.conditions[0].match.attributes[method]: Invalid value: at most one of exact, prefix or regex may be set (set none to match on the attribute's presence)`},
	"metarouter-retries-negative": {`The MetaRouter "metarouter-retries-negative" is invalid:`,
		`spec.routes[0].retries.attempts: Invalid value: -1: spec.routes[0].retries.attempts in body should be greater than or equal to 0`},
	"metarouter-route-without-destination": {`The MetaRouter "metarouter-route-without-destination" is invalid:`,
		`spec.routes[0].route: Invalid value: 0: spec.routes[0].route in body should have at least 1 items`},
	"metarouter-weight-120": {`The MetaRouter "metarouter-weight-120" is invalid:`,
		`spec.routes[0].route[0].weight: Invalid value: 120: spec.routes[0].route[0].weight in body should be less than or equal to 100`},
	"metarouter-weights-80-30": {`The MetaRouter "metarouter-weights-80-30" is invalid:`,
		`spec.routes[0]: Invalid value: when a route has more than one destination, their weights must sum to 100`},
	"metarouter-weights-missing": {`The MetaRouter "metarouter-weights-missing" is invalid:`,
		`spec.routes[0]: Invalid value: when a route has more than one destination, their weights must sum to 100`},
	"redisdestination-auth-both": {`The RedisDestination "auth-both" is invalid:`,
		`spec.trafficPolicy.connectionPool.redis.auth: Invalid value: auth may set secret or plain, not both`},
	"redisdestination-bad-mode": {`The RedisDestination "bad-mode" is invalid:`,
		`spec.trafficPolicy.connectionPool.redis.mode: Unsupported value: "SENTINEL": supported values: "PROXY", "CLUSTER"`},
	"redisdestination-no-host": {`The RedisDestination "no-host" is invalid:`,
		`spec.host: Required value`},
	"redisservice-auth-both": {`The RedisService "auth-both" is invalid:`,
		`spec.settings.auth: Invalid value: auth may set secret or plain, not both`},
	"redisservice-bad-readpolicy": {`The RedisService "bad-read-policy" is invalid:`,
		`spec.settings.readPolicy: Unsupported value: "PRIMARY": supported values: "MASTER", "PREFER_MASTER", "REPLICA", "PREFER_REPLICA", "ANY"`},
	"redisservice-no-host": {`The RedisService "no-host" is invalid:`,
		`spec.host: Required value`},
}
