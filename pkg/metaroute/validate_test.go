package metaroute_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

const mesh = `
apiVersion: v1
kind: Service
metadata: {name: demo, namespace: ns}
spec:
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: v1
kind: Service
metadata: {name: two, namespace: ns}
spec:
  ports: [{name: tcp-dubbo-a, port: 20881}, {name: tcp-dubbo-b, port: 20882}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: demo, namespace: ns}
spec:
  host: demo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: demo-more, namespace: ns}
spec:
  host: demo
  subsets: [{name: v3, labels: {version: v3}}]
`

// load builds the mesh above plus extra documents.
func load(t *testing.T, extra string) *model.Snapshot {
	t.Helper()
	b := model.NewBuilder(model.Options{})
	for _, d := range file.LoadBytes("mesh.yaml", []byte(mesh+extra), b, file.Options{}) {
		if d.Severity == model.SeverityError {
			t.Fatal(d)
		}
	}
	return b.Build()
}

func view(t *testing.T, extra string) *model.View { return load(t, extra).View() }

func router(t *testing.T, v *model.View, name string) *metaprotocolv1alpha1.MetaRouter {
	t.Helper()
	for _, mr := range v.AllMetaRouters() {
		if mr.Name == name {
			return mr
		}
	}
	t.Fatalf("no MetaRouter %s", name)
	return nil
}

// TestValidateFields pins the field path, reason and message of every
// kind of finding: the validator builds field paths only for findings.
func TestValidateFields(t *testing.T) {
	snap := load(t, `
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: bad, namespace: ns}
spec:
  hosts: [demo, nowhere]
  routes:
  - name: ok
    route: [{destination: {host: demo, subset: v3}}]
  - match: {attributes: {zeta: {exact: a, prefix: b}, alpha: {regex: "(("}, method: {exact: sayHello}}}
    route:
    - {weight: 120, destination: {host: demo, subset: v9}}
    - {weight: -1, destination: {host: missing}}
    - {weight: 5, destination: {host: ""}}
    - {weight: 5, destination: {host: two}}
    - {weight: 5, destination: {host: two, port: {number: 20999}}}
    - {weight: 5, destination: {host: demo, port: {number: 70000}}}
    mirror: {host: gone}
    mirrorPercentage: {value: 150}
    timeout: 3 parsecs
    retries: {attempts: 101, perTryTimeout: soon}
    fault:
      delay: {fixedDelay: 0s, percentage: {value: -2}}
      abort: {status: NOPE, percentage: {value: 101}}
  - route: []
    fault: {}
  localRateLimit:
    tokenBucket: {maxTokens: 0, tokensPerFill: 0, fillInterval: 10ms}
    conditions:
    - match: {attributes: {b: {exact: x, regex: "y+"}}}
      tokenBucket: {maxTokens: 1, fillInterval: ""}
    - match: {attributes: {}}
      tokenBucket: {maxTokens: 1, fillInterval: 1s}
  globalRateLimit:
    match: {attributes: {k: {prefix: p, exact: e}}}
    requestTimeout: later
`)
	deps := model.Deps{}
	v := snap.TrackedView(deps)
	var got []string
	for _, d := range metaroute.Validate(v, router(t, snap.View(), "bad")) {
		got = append(got, fmt.Sprintf("%s %s %s", d.Field, d.Reason, d.Message))
	}
	// What Validate reads is what the verdict is taken again for.
	got = append(got, "deps "+strings.Join(slices.Sorted(maps.Keys(deps)), " "))
	want := strings.TrimSpace(wantFields)
	// Backquotes (in regexp's errors) would end the raw string above.
	if g := strings.ReplaceAll(strings.Join(got, "\n"), "`", "'"); g != want {
		t.Errorf("findings:\n%s\nwant:\n%s", g, want)
	}
}

const wantFields = `
spec.hosts[1] HostNotFound host "nowhere" matches no Service or ServiceEntry; create the service or fix the host
spec.routes[1].match.attributes.alpha.regex InvalidRoute invalid RE2 regular expression "((": error parsing regexp: missing closing ): '(('
spec.routes[1].match.attributes.zeta InvalidRoute set only one of exact, prefix and regex
spec.routes[1].route[0].weight InvalidRoute weight 120 is outside 0..100
spec.routes[1].route[0].destination.subset SubsetNotFound subset "v9" of demo.ns.svc.cluster.local is not defined by any DestinationRule; add it to the DestinationRule's subsets or remove it
spec.routes[1].route[1].weight InvalidRoute weight -1 is outside 0..100
spec.routes[1].route[1].destination.host HostNotFound destination host "missing" matches no Service or ServiceEntry
spec.routes[1].route[2].destination.host InvalidRoute host is required
spec.routes[1].route[3].destination.port InvalidRoute two.ns.svc.cluster.local has 2 ports and none matches the routed service's; set port.number
spec.routes[1].route[4].destination.port.number InvalidRoute two.ns.svc.cluster.local has no port 20999
spec.routes[1].route[5].destination.port.number InvalidRoute port 70000 is outside 1..65535
spec.routes[1].route InvalidRoute weights of a split route must sum to 100, these sum to 139
spec.routes[1].mirror.host HostNotFound destination host "gone" matches no Service or ServiceEntry
spec.routes[1].mirrorPercentage.value InvalidRoute percentage 150 is outside 0..100
spec.routes[1].timeout InvalidRoute invalid duration "3 parsecs": time: unknown unit " parsecs" in duration "3 parsecs"; write durations like 100ms or 5s
spec.routes[1].retries.attempts InvalidRoute attempts 101 is outside 0..100
spec.routes[1].retries.perTryTimeout InvalidRoute invalid duration "soon": time: invalid duration "soon"; write durations like 100ms or 5s
spec.routes[1].fault.delay.fixedDelay InvalidRoute must be more than zero
spec.routes[1].fault.delay.percentage.value InvalidRoute percentage -2 is outside 0..100
spec.routes[1].fault.abort.status InvalidRoute unknown status "NOPE"; use a gRPC status name such as UNAVAILABLE
spec.routes[1].fault.abort.percentage.value InvalidRoute percentage 101 is outside 0..100
spec.routes[2].route InvalidRoute a route needs at least one destination
spec.routes[2].fault InvalidRoute a fault needs a delay or an abort
spec.localRateLimit.tokenBucket.maxTokens InvalidRoute maxTokens must be positive
spec.localRateLimit.tokenBucket.tokensPerFill InvalidRoute tokensPerFill must be positive
spec.localRateLimit.tokenBucket.fillInterval InvalidRoute 10ms is shorter than 50ms, which Envoy refuses
spec.localRateLimit.conditions[0].match.attributes.b InvalidRoute set only one of exact, prefix and regex
spec.localRateLimit.conditions[0].tokenBucket.fillInterval InvalidRoute a duration is required, such as 100ms or 5s
spec.globalRateLimit.match.attributes.k InvalidRoute set only one of exact, prefix and regex
spec.globalRateLimit.requestTimeout InvalidRoute invalid duration "later": time: invalid duration "later"; write durations like 100ms or 5s
spec.globalRateLimit.domain InvalidRoute domain is required
spec.globalRateLimit.rateLimitService InvalidRoute rateLimitService (the rate limit service's cluster name) is required
deps r:DestinationRule.networking.istio.io@demo.ns.svc.cluster.local svc:demo.ns.svc.cluster.local svc:gone svc:gone.ns.svc.cluster.local svc:missing svc:missing.ns.svc.cluster.local svc:nowhere svc:nowhere.ns.svc.cluster.local svc:two.ns.svc.cluster.local
`

// TestBuildResolves checks Build's destinations and clusters, with two
// routers and subsets declared by two DestinationRules.
func TestBuildResolves(t *testing.T) {
	snap := load(t, `
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: split, namespace: ns, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  hosts: [demo]
  routes:
  - match: {attributes: {method: {exact: sayHello}, b: {prefix: x}, a: {}}}
    route:
    - {weight: 90, destination: {host: demo, subset: v2}}
    - {weight: 10, destination: {host: demo.ns.svc.cluster.local, subset: v3}}
    mirror: {host: two, port: {number: 20882}}
    requestMutation: [{key: k, value: v}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: second, namespace: ns, creationTimestamp: "2021-01-01T00:00:00Z"}
spec:
  hosts: [demo]
  routes:
  - route: [{destination: {host: demo, subset: v1}}, {destination: {host: demo, subset: nope}}]
  - match: {attributes: {method: {exact: other}}}
    route: [{destination: {host: demo}}]
`)
	v := snap.View()
	svc := v.Service("demo.ns.svc.cluster.local")
	ctx := plugin.NewBuildContext("test", v, plugin.RoleSidecarOutbound, svc, svc.Ports[0])
	ctx.MetaRouters = v.MetaRouters(svc.Hostname)
	deps := model.Deps{}
	ctx.Model = snap.TrackedView(deps)
	var got []string
	for _, r := range metaroute.Build(ctx) {
		got = append(got, fmt.Sprintf("%s %s %s %v %+v mirror=%+v mut=%v", r.Name, r.Object.Name, r.Field, r.Match, r.Destinations, r.Mirror, r.RequestMutation))
	}
	for _, d := range ctx.Reports() {
		got = append(got, fmt.Sprintf("report %s %s %s", d.Field, d.Reason, d.Message))
	}
	// What Build reads is what the unit is rebuilt for.
	got = append(got, "deps "+strings.Join(slices.Sorted(maps.Keys(deps)), " "))
	want := strings.TrimSpace(wantBuild)
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("routes:\n%s\nwant:\n%s", g, want)
	}
}

const wantBuild = `
split-0 split spec.routes[0] [{a present } {b prefix x} {method exact sayHello}] [{Host:demo.ns.svc.cluster.local Port:20880 Subset:v2 Cluster:outbound|20880|v2|demo.ns.svc.cluster.local Weight:90} {Host:demo.ns.svc.cluster.local Port:20880 Subset:v3 Cluster:outbound|20880|v3|demo.ns.svc.cluster.local Weight:10}] mirror=&{Destination:{Host:two.ns.svc.cluster.local Port:20882 Subset: Cluster:outbound|20882||two.ns.svc.cluster.local Weight:0} Percent:100} mut=[{k v}]
second-1 second spec.routes[1] [{method exact other}] [{Host:demo.ns.svc.cluster.local Port:20880 Subset: Cluster:outbound|20880||demo.ns.svc.cluster.local Weight:0}] mirror=<nil> mut=[]
default   [] [{Host:demo.ns.svc.cluster.local Port:20880 Subset: Cluster:outbound|20880||demo.ns.svc.cluster.local Weight:0}] mirror=<nil> mut=[]
report spec.routes[0] InvalidRoute subset "nope" of demo.ns.svc.cluster.local is not defined by any DestinationRule
deps r:DestinationRule.networking.istio.io@demo.ns.svc.cluster.local svc:demo.ns.svc.cluster.local svc:two.ns.svc.cluster.local
`
