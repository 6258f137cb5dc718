package render_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// renderYAML renders one manifest file with the given mesh options and
// returns the result and the sidecar output.
func renderYAML(t *testing.T, manifests string, opts model.Options) (*render.Result, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := render.RenderContext(context.Background(), render.Options{Paths: []string{dir}, Registry: registry(t), Model: opts})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.WriteManifestsTo(context.Background(), &out, "yaml"); err != nil {
		t.Fatal(err)
	}
	return res, out.String()
}

// errorOn returns the error diagnostics on objects of kind.
func errorOn(res *render.Result, kind string) []model.Diagnostic {
	var out []model.Diagnostic
	for _, d := range res.Errors() {
		if d.Object.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

const dubboService = `apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Service
metadata: {name: provider, namespace: demo}
spec:
  clusterIP: 10.0.0.10
  selector: {app: provider}
  ports:
  - {name: tcp-metaprotocol-dubbo, port: 20880}
---
apiVersion: v1
kind: Pod
metadata: {name: provider-1, namespace: demo, labels: {app: provider, version: v1}}
spec:
  nodeName: node-a
  containers: [{name: app, image: x}]
status: {phase: Running, podIP: 10.1.0.5}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: provider, namespace: demo}
spec:
  host: provider
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`

// TestOutOfRangePortsAreErrorsNotWrapped: a Service port of 86416 (target
// 151952) is an error on the Service, which is left out; nothing renders
// it, and the ambient endpoint is not wrapped to :20880 (151952 mod 65536).
func TestOutOfRangePortsAreErrorsNotWrapped(t *testing.T) {
	bad := strings.Replace(dubboService, "{name: tcp-metaprotocol-dubbo, port: 20880}", "{name: tcp-metaprotocol-dubbo, port: 86416, targetPort: 151952}", 1)
	res, out := renderYAML(t, bad, model.Options{})
	errs := errorOn(res, "Service")
	if len(errs) != 2 || errs[0].Field != "spec.ports[0].port" || errs[1].Field != "spec.ports[0].targetPort" || !strings.Contains(errs[0].String(), "mesh.yaml, document 2") {
		t.Fatalf("want errors on the port and the targetPort naming the file, got %v", res.Errors())
	}
	if strings.Contains(out, "86416") {
		t.Errorf("an EnvoyFilter carries the out-of-range port:\n%s", out)
	}
	for _, id := range res.ProxyIDs() {
		p, _ := res.Proxy(id)
		doc, err := render.ProxyDocument(p)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := render.WriteDocument(&b, doc, "yaml"); err != nil {
			t.Fatal(err)
		}
		if s := b.String(); strings.Contains(s, "10.1.0.5:20880") || strings.Contains(s, "86416") {
			t.Errorf("%s carries the bad port or its wrapped value", id)
		}
	}
}

// TestVirtualServiceWeightsDoNotWrap: weights whose uint32 sum wraps to
// 100, and weights outside 0..100 that sum to 100, are errors on the
// VirtualService; the route is not programmed.
func TestVirtualServiceWeightsDoNotWrap(t *testing.T) {
	for _, weights := range [][3]string{{"2147483647", "2147483647", "102"}, {"-10", "100", "10"}, {"110", "-5", "-5"}} {
		vs := dubboService + `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: provider, namespace: demo}
spec:
  hosts: [provider]
  http:
  - route:
    - {destination: {host: provider, subset: v1}, weight: ` + weights[0] + `}
    - {destination: {host: provider, subset: v2}, weight: ` + weights[1] + `}
    - {destination: {host: provider, subset: v3}, weight: ` + weights[2] + `}
`
		vs = strings.Replace(vs, "tcp-metaprotocol-dubbo", "tcp-dubbo", 1)
		res, out := renderYAML(t, vs, model.Options{})
		errs := errorOn(res, "VirtualService")
		if len(errs) != 1 || !strings.Contains(errs[0].Message, "outside 0..100") {
			t.Errorf("weights %v: want one error on the VirtualService, got %v", weights, res.Errors())
		}
		if strings.Contains(out, "|v3|") {
			t.Errorf("weights %v: the split was programmed:\n%s", weights, out)
		}
	}
}

// TestOversizedRegexesAreErrorsOnTheirObjects: a regex whose RE2 program
// is over the proxies' limit is an error on the MetaRouter, the
// VirtualService or the DubboAuthorizationPolicy that needs it, and is
// never emitted.
func TestOversizedRegexesAreErrorsOnTheirObjects(t *testing.T) {
	stock := model.Options{RegexMaxProgramSize: re2.EnvoyDefaultMaxProgramSize}
	router := func(re string) string {
		return dubboService + `---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: provider, namespace: demo}
spec:
  hosts: [provider.demo.svc.cluster.local]
  routes:
  - name: big
    match:
      attributes:
        method: {regex: "` + re + `"}
    route:
    - destination: {host: provider.demo.svc.cluster.local, subset: v1}
`
	}
	res, out := renderYAML(t, router("a{1000}"), stock)
	if errs := errorOn(res, "MetaRouter"); len(errs) != 1 || !strings.Contains(errs[0].Message, "1004") || !strings.Contains(errs[0].Message, re2.RuntimeKey) {
		t.Errorf("a{1000} against Envoy's default limit: want an error naming size 1004, got %v", res.Errors())
	}
	if strings.Contains(out, "a{1000}") {
		t.Error("the oversized regex was emitted")
	}
	if res, out := renderYAML(t, router("a{1000}"), model.Options{}); len(res.Errors()) != 0 || !strings.Contains(out, "a{1000}") {
		t.Errorf("a{1000} fits istio-proxy's limit (%d): %v", re2.IstioMaxProgramSize, res.Errors())
	}
	if res, _ := renderYAML(t, router(`\\pL{30}`), model.Options{}); len(errorOn(res, "MetaRouter")) != 1 {
		t.Errorf(`\pL{30} (some 36,000 instructions) is over istio-proxy's limit too: %v`, res.Errors())
	}

	vs := strings.Replace(dubboService, "tcp-metaprotocol-dubbo", "tcp-dubbo", 1) + `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: provider, namespace: demo}
spec:
  hosts: [provider]
  http:
  - match:
    - headers:
        user: {regex: "a{1000}"}
    route:
    - destination: {host: provider, subset: v1}
`
	res, out = renderYAML(t, vs, stock)
	if errs := errorOn(res, "VirtualService"); len(errs) != 1 || !strings.Contains(errs[0].Message, "1004") {
		t.Errorf("VirtualService: want an error naming size 1004, got %v", res.Errors())
	}
	if strings.Contains(out, "a{1000}") {
		t.Error("the VirtualService's oversized regex was emitted")
	}

	policy := dubboService + `---
apiVersion: dubbo.aeraki.io/v1alpha1
kind: DubboAuthorizationPolicy
metadata: {name: deny-batch, namespace: demo}
spec:
  action: DENY
  rules:
  - from: [{source: {namespaces: [` + strings.Repeat("batch-", 10) + `jobs]}}]
`
	res, out = renderYAML(t, policy, stock)
	errs := errorOn(res, "DubboAuthorizationPolicy")
	if len(errs) != 1 || errs[0].Field != "spec.rules[0].from[0].source.namespaces[0]" || !strings.Contains(errs[0].Message, "refused") {
		t.Fatalf("DubboAuthorizationPolicy: want one error on the namespace, got %v", res.Errors())
	}
	if strings.Contains(out, "batch-batch") {
		t.Error("the policy's oversized regex was emitted")
	}
	if !strings.Contains(out, "rbac") {
		t.Errorf("the workload's port must fail closed (deny all), not open:\n%s", out)
	}
}
