package translate_test

import (
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/istiodwaypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
)

const istiodWaypointMesh = `apiVersion: v1
kind: Namespace
metadata: {name: ns, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: ns}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: IPAddress, value: 10.0.0.100}]
---
apiVersion: v1
kind: Service
metadata: {name: a, namespace: ns, labels: {istio.io/use-waypoint: wp}}
spec:
  clusterIP: 10.0.0.1
  selector: {app: a}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: v1
kind: Service
metadata: {name: sniffed, namespace: ns, labels: {istio.io/use-waypoint: wp}}
spec:
  clusterIP: 10.0.0.2
  selector: {app: sniffed}
  ports: [{name: dubbo, port: 20880}]
---
apiVersion: v1
kind: Service
metadata: {name: unbound, namespace: ns}
spec:
  clusterIP: 10.0.0.3
  selector: {app: unbound}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: ns}
spec:
  host: a
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`

const istiodWaypointRouter = `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: a, namespace: ns}
spec:
  hosts: [a]
  routes:
  - match: {attributes: {method: {exact: %s}}}
    route: [{destination: {host: a, subset: v2}}]
`

func istiodTranslator(t *testing.T) *translate.Translator {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newTranslator(t, d, hbone.New())
}

// TestIstiodWaypointGetsEnvoyFilters: a service bound to an istio-waypoint
// Gateway gets one EnvoyFilter in the waypoint's namespace that targets
// the Gateway and patches istiod's chain by name, built for istio-proxy
// (dubbo_proxy) with routes to istiod's subset clusters; aeraki builds no
// proxy for that waypoint; an unbound service gets none; a port istiod
// sniffs gets a warning.
func TestIstiodWaypointGetsEnvoyFilters(t *testing.T) {
	out := istiodTranslator(t).Translate(snapshot(t, istiodWaypointMesh, strings.ReplaceAll(istiodWaypointRouter, "%s", "sayHello")))
	if errs := errorsOf(out); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	for _, p := range out.Proxies {
		if p.ID == hbone.WaypointID("ns", "wp") {
			t.Errorf("aeraki built proxy %s, which istiod serves", p.ID)
		}
	}
	host := "a.ns.svc.cluster.local"
	ef := envoyFilter(out, "aeraki-waypoint-wp-"+host)
	if ef == nil {
		t.Fatalf("no waypoint EnvoyFilter for %s; have %v", host, names(out))
	}
	if ef.Namespace != "ns" || ef.Spec().GetWorkloadSelector() != nil || len(ef.Spec().GetTargetRefs()) != 1 ||
		ef.Spec().GetTargetRefs()[0].GetKind() != "Gateway" || ef.Spec().GetTargetRefs()[0].GetName() != "wp" ||
		ef.Spec().GetTargetRefs()[0].GetGroup() != "gateway.networking.k8s.io" {
		t.Errorf("EnvoyFilter %s/%s must target Gateway wp in its namespace and nothing else: %v", ef.Namespace, ef.Name, ef.Spec())
	}
	if ef.Annotation(translate.ProfileAnnotation) != "istio-proxy" || ef.Annotation(translate.WaypointAnnotation) != "ns/wp" {
		t.Errorf("annotations %v", ef.Annotations())
	}
	patches := ef.Spec().GetConfigPatches()
	if len(patches) != 1 {
		t.Fatalf("want one REPLACE of tcp_proxy, got %d patches", len(patches))
	}
	m := patches[0].GetMatch()
	l := m.GetListener()
	if m.GetContext() != networkingv1alpha3.EnvoyFilter_SIDECAR_INBOUND || l.GetName() != istiodwaypoint.MainInternal || l.GetPortNumber() != 0 ||
		l.GetFilterChain().GetName() != istiodwaypoint.ChainName(host, 20880) || l.GetFilterChain().GetFilter().GetName() != istiodwaypoint.TCPProxyFilter ||
		patches[0].GetPatch().GetOperation() != networkingv1alpha3.EnvoyFilter_Patch_REPLACE {
		t.Errorf("patch match %v op %v", m, patches[0].GetPatch().GetOperation())
	}
	if err := ef.Validate(); err != nil {
		t.Error(err)
	}
	value := patches[0].GetPatch().GetValue().String()
	if !strings.Contains(value, "envoy.filters.network.dubbo_proxy") || !strings.Contains(value, istiodwaypoint.ClusterName(host, 20880, "v2")) {
		t.Errorf("patch value is not dubbo_proxy routing to istiod's v2 cluster: %s", value)
	}
	if envoyFilter(out, "aeraki-waypoint-wp-unbound.ns.svc.cluster.local") != nil {
		t.Error("an unbound service got a waypoint EnvoyFilter")
	}
	var sniffed bool
	for _, d := range out.Diagnostics {
		if d.Reason == "IstiodSniffsPort" {
			sniffed = d.Object.Name == "sniffed" && d.Severity == model.SeverityWarning
		}
	}
	if !sniffed {
		t.Errorf("no IstiodSniffsPort warning on Service ns/sniffed: %v", out.Diagnostics)
	}
}

// TestIstiodWaypointEnvoyFilterFollowsTheRouter: a MetaRouter edit
// rebuilds its service's waypoint EnvoyFilter and no other.
func TestIstiodWaypointEnvoyFilterFollowsTheRouter(t *testing.T) {
	tr := istiodTranslator(t)
	first := tr.Translate(snapshot(t, istiodWaypointMesh, strings.ReplaceAll(istiodWaypointRouter, "%s", "sayHello")))
	second := tr.Translate(snapshot(t, istiodWaypointMesh, strings.ReplaceAll(istiodWaypointRouter, "%s", "sayGoodbye")))
	a1, a2 := envoyFilter(first, "aeraki-waypoint-wp-a.ns.svc.cluster.local"), envoyFilter(second, "aeraki-waypoint-wp-a.ns.svc.cluster.local")
	if a1 == nil || a2 == nil || a1.Revision == a2.Revision || !strings.Contains(a2.Spec().String(), "sayGoodbye") {
		t.Fatalf("the edited router did not change its waypoint EnvoyFilter")
	}
	s1, s2 := envoyFilter(first, "aeraki-waypoint-wp-sniffed.ns.svc.cluster.local"), envoyFilter(second, "aeraki-waypoint-wp-sniffed.ns.svc.cluster.local")
	if s1 == nil || s1 != s2 {
		t.Errorf("the other service's waypoint EnvoyFilter was rebuilt (or is missing)")
	}
}

// TestIstiodWaypointBuildIsTheFlag: --istio-waypoint-proxy envoy builds
// the chains for upstream Envoy (generic_proxy), leaving sidecars alone.
func TestIstiodWaypointBuildIsTheFlag(t *testing.T) {
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	targets := plugin.DefaultTargets()
	targets.IstioWaypoint = targets.ForKind(plugin.ProxyKindWaypoint) // envoy
	tr, err := translate.New(translate.Options{Registry: reg, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	out := tr.Translate(snapshot(t, istiodWaypointMesh, strings.ReplaceAll(istiodWaypointRouter, "%s", "sayHello")))
	ef := envoyFilter(out, "aeraki-waypoint-wp-a.ns.svc.cluster.local")
	if ef == nil || ef.Annotation(translate.ProfileAnnotation) != "envoy" || !strings.Contains(ef.Spec().String(), "generic_proxy") {
		t.Fatalf("want a generic_proxy chain built for envoy, got %v", ef)
	}
	if sc := envoyFilter(out, "aeraki-outbound-a.ns.svc.cluster.local"); sc == nil || strings.Contains(sc.Spec().String(), "generic_proxy") {
		t.Errorf("the sidecar EnvoyFilter changed build")
	}
}

func names(out *translate.Output) []string {
	var n []string
	for _, ef := range out.EnvoyFilters {
		n = append(n, ef.Namespace+"/"+ef.Name)
	}
	return n
}

// TestWaypointClassSwitchRebuildsTheChain: a Gateway that moves from
// aeraki's class to istio-waypoint (same name, same build) gets chains with
// istiod's cluster names, not the reused aeraki-served ones.
func TestWaypointClassSwitchRebuildsTheChain(t *testing.T) {
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d, hbone.New())
	if err != nil {
		t.Fatal(err)
	}
	targets := plugin.DefaultTargets()
	targets.IstioWaypoint = targets.ForKind(plugin.ProxyKindWaypoint) // both waypoint kinds on envoy
	tr, err := translate.New(translate.Options{Registry: reg, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	router := strings.ReplaceAll(istiodWaypointRouter, "%s", "sayHello")
	aeraki := tr.Translate(snapshot(t, strings.Replace(istiodWaypointMesh, "gatewayClassName: istio-waypoint", "gatewayClassName: aeraki-waypoint", 1), router))
	if envoyFilter(aeraki, "aeraki-waypoint-wp-a.ns.svc.cluster.local") != nil {
		t.Fatal("an aeraki-served waypoint got an EnvoyFilter")
	}
	istiod := tr.Translate(snapshot(t, istiodWaypointMesh, router))
	ef := envoyFilter(istiod, "aeraki-waypoint-wp-a.ns.svc.cluster.local")
	if ef == nil || !strings.Contains(ef.Spec().String(), istiodwaypoint.ClusterName("a.ns.svc.cluster.local", 20880, "v2")) {
		t.Fatalf("after the class switch the chain must route to istiod's clusters: %v", ef)
	}
}

// TestIstiodWaypointRouteToAnUnboundService: istiod builds clusters only
// for the services bound to the waypoint, so a route to another service
// is a warning naming the cluster; a route to a bound one is not.
func TestIstiodWaypointRouteToAnUnboundService(t *testing.T) {
	router := `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: a, namespace: ns}
spec:
  hosts: [a]
  routes:
  - match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: unbound}}]
  - match: {attributes: {method: {exact: sayGoodbye}}}
    route: [{destination: {host: sniffed}}]
`
	out := istiodTranslator(t).Translate(snapshot(t, istiodWaypointMesh, router))
	var unknown []string
	for _, d := range out.Diagnostics {
		if d.Reason == "UnknownCluster" {
			unknown = append(unknown, d.Message)
		}
	}
	if len(unknown) != 1 || !strings.Contains(unknown[0], istiodwaypoint.ClusterName("unbound.ns.svc.cluster.local", 20880, "")) ||
		!strings.Contains(unknown[0], "not bound to the waypoint") {
		t.Errorf("want one UnknownCluster warning for the unbound service, got %q", unknown)
	}
}
