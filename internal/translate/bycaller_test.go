package translate_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

const byCallerMesh = `apiVersion: v1
kind: Namespace
metadata: {name: ns, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: ns}
spec: {gatewayClassName: aeraki-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Pod
metadata: {name: wp-0, namespace: ns, labels: {gateway.networking.k8s.io/gateway-name: wp}}
spec: {nodeName: node-1, serviceAccountName: wp, containers: [{name: c, image: c}]}
status: {phase: Running, podIP: 10.1.0.100}
---
apiVersion: v1
kind: Pod
metadata: {name: a-0, namespace: ns, labels: {app: a}}
spec: {nodeName: node-1, serviceAccountName: a, containers: [{name: c, image: c}]}
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: ns}
spec:
  clusterIP: 10.0.0.1
  selector: {app: a}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: dubbo.aeraki.io/v1alpha1
kind: DubboAuthorizationPolicy
metadata: {name: p, namespace: ns}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/ns/sa/teller]}}]
    to: [{operation: {methods: [cancelAll]}}]
`

func byCallerTranslator(t *testing.T, waypointBuild ...string) *translate.Translator {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	targets := plugin.DefaultTargets()
	for _, b := range waypointBuild {
		targets.Proxies[plugin.ProxyKindWaypoint] = profile.MustGet(b)
	}
	tr, err := translate.New(translate.Options{Registry: reg, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCallerChainsNeedTheFilterStateInput: a waypoint running istio-proxy
// (whose build lacks envoy.matching.inputs.filter_state) gets one chain
// per port and the over-deny warning, never config its build refuses.
func TestCallerChainsNeedTheFilterStateInput(t *testing.T) {
	out := byCallerTranslator(t, profile.IstioProxy).Translate(snapshot(t, byCallerMesh))
	if got := mainInternalChains(t, out); !slices.Equal(got, []string{"inbound-vip|20880|dubbo|a.ns.svc.cluster.local"}) {
		t.Fatalf("main_internal chains %v, want the port's only", got)
	}
	warned := false
	for _, d := range out.Diagnostics {
		warned = warned || strings.Contains(d.Message, "(waypoint, build istio-proxy)")
	}
	if !warned {
		t.Errorf("no over-deny warning for the istio-proxy waypoint: %v", out.Diagnostics)
	}
}

func mainInternalChains(t *testing.T, out *translate.Output) []string {
	t.Helper()
	for _, p := range out.Proxies {
		if p.ID != hbone.WaypointID("ns", "wp") {
			continue
		}
		if p.Stale || len(p.Listeners) == 0 {
			t.Fatalf("waypoint not built: %v", p.Diagnostics)
		}
		for _, l := range p.Listeners {
			if l.GetName() == hbone.ListenerMainInternal {
				var names []string
				for _, c := range l.GetFilterChains() {
					names = append(names, c.GetName())
				}
				return names
			}
		}
	}
	t.Fatal("no waypoint main_internal")
	return nil
}

// TestCallerChainsAreUnitsReusedAndRebuiltWithTheirPolicy: a waypoint
// port whose plugin tells callers apart gets one unit per caller class,
// reused while nothing changes and rebuilt when the policy does.
func TestCallerChainsAreUnitsReusedAndRebuiltWithTheirPolicy(t *testing.T) {
	tr := byCallerTranslator(t)
	first := tr.Translate(snapshot(t, byCallerMesh))
	for _, d := range first.Diagnostics {
		if d.Severity >= model.SeverityWarning && !strings.Contains(d.Message, "(sidecar-inbound") {
			t.Errorf("finding: %s", d)
		}
	}
	const port = "inbound-vip|20880|dubbo|a.ns.svc.cluster.local"
	want := []string{port, port + "|principal:spiffe://cluster.local/ns/ns/sa/teller"}
	if got := mainInternalChains(t, first); !slices.Equal(got, want) {
		t.Fatalf("main_internal chains %v, want %v", got, want)
	}
	same := tr.Translate(snapshot(t, byCallerMesh))
	if same.Stats.UnitsBuilt != 0 || same.Stats.ProxiesBuilt != 0 {
		t.Errorf("unchanged snapshot rebuilt %d units and %d proxies", same.Stats.UnitsBuilt, same.Stats.ProxiesBuilt)
	}
	changed := tr.Translate(snapshot(t, strings.Replace(byCallerMesh, "sa/teller", "sa/clerk", 1)))
	want[1] = port + "|principal:spiffe://cluster.local/ns/ns/sa/clerk"
	if got := mainInternalChains(t, changed); !slices.Equal(got, want) {
		t.Fatalf("after the policy changed, main_internal chains %v, want %v", got, want)
	}
	exact := tr.Translate(snapshot(t, strings.Replace(byCallerMesh, "  - from: [{source: {principals: [cluster.local/ns/ns/sa/teller]}}]\n    to:", "  - to:", 1)))
	if got := mainInternalChains(t, exact); !slices.Equal(got, []string{port}) {
		t.Fatalf("a to-only policy is exact with one chain, got %v", got)
	}
}
