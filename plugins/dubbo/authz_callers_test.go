package dubbo

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

func TestCallerKnowledgeDecidesSources(t *testing.T) {
	classes := &callerKnowledge{principals: map[string]bool{"spiffe://cluster.local/ns/shop/sa/a": true, "spiffe://cluster.local/ns/batch/sa/x": true}, namespaces: map[string]bool{"batch": true}}
	with := func(c *plugin.Caller) *callerKnowledge {
		k := *classes
		k.caller = c
		return &k
	}
	a := with(&plugin.Caller{Principal: "spiffe://cluster.local/ns/shop/sa/a"})
	batch := with(&plugin.Caller{Namespace: "batch"})
	other := with(nil)
	for _, c := range []struct {
		k    *callerKnowledge
		s    authzSource
		want tri
	}{
		{a, authzSource{NotPrincipals: []string{"cluster.local/ns/shop/sa/a"}}, triFalse},
		{a, authzSource{Namespaces: []string{"sh*"}}, triTrue},
		{a, authzSource{Principals: []string{"*/sa/a"}, NotNamespaces: []string{"batch"}}, triTrue},
		{a, authzSource{Principals: []string{"cluster.local/ns/ops/*"}}, triFalse},
		{batch, authzSource{Principals: []string{"cluster.local/ns/batch/sa/x"}}, triFalse}, // x has its own chain
		{batch, authzSource{Principals: []string{"*"}}, triTrue},
		{batch, authzSource{Principals: []string{"cluster.local/ns/batch/*"}}, triUnknown},
		{batch, authzSource{Namespaces: []string{"*tch"}}, triTrue},
		{batch, authzSource{Namespaces: []string{"*at*"}}, triFalse}, // namespaceMatcher: [^/]*at, a suffix
		{other, authzSource{NotNamespaces: []string{"batch"}}, triTrue},
		{other, authzSource{Namespaces: []string{"b*"}}, triUnknown},
		{other, authzSource{Principals: []string{"*"}}, triUnknown}, // may have no identity
		{other, authzSource{Principals: []string{"cluster.local/ns/shop/sa/a"}, Namespaces: []string{"b*"}}, triFalse},
	} {
		if got := c.k.source(c.s); got != c.want {
			t.Errorf("%s, source %+v: %v, want %v", c.k.describe(), c.s, got, c.want)
		}
	}
}

// TestCallerClassesAreBounded: past MaxCallerClasses the port keeps one
// chain (and the sidecar's enforcement), with a warning on the policies.
func TestCallerClassesAreBounded(t *testing.T) {
	var principals []string
	for i := 0; i <= MaxCallerClasses; i++ {
		principals = append(principals, fmt.Sprintf("cluster.local/ns/shop/sa/sa%d", i))
	}
	doc := `apiVersion: v1
kind: Service
metadata: {name: demo, namespace: dubbo}
spec: {clusterIP: 10.96.0.1, ports: [{name: tcp-dubbo, port: 20880}]}
---
apiVersion: dubbo.aeraki.io/v1alpha1
kind: DubboAuthorizationPolicy
metadata: {name: many, namespace: dubbo}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: [` + strings.Join(principals, ", ") + `]}}]
    to: [{operation: {methods: [cancelAll]}}]
`
	b := model.NewBuilder(model.Options{Kinds: (&Plugin{}).Kinds()})
	for _, d := range file.LoadBytes("mesh.yaml", []byte(doc), b, file.Options{}) {
		if d.Severity == model.SeverityError {
			t.Fatal(d)
		}
	}
	view := b.Build().View()
	svc := view.Service("demo.dubbo.svc.cluster.local")
	ctx := plugin.NewBuildContext(Name, view, plugin.RoleWaypoint, svc, svc.Ports[0])
	ctx.ByCaller = true
	p, _ := New(Options{})
	if got := p.CallerClasses(ctx); got != nil {
		t.Fatalf("%d classes, want none past the bound", len(got))
	}
	plan := compileAuthz(ctx, true)
	if len(plan.reqDeny) != 1 {
		t.Fatalf("want the rule over-denied for every caller, plan %+v", plan)
	}
	var bound bool
	for _, d := range ctx.Reports() {
		bound = bound || strings.Contains(d.Message, fmt.Sprintf("more than %d exact principals", MaxCallerClasses))
	}
	if !bound {
		t.Errorf("no warning about the bound: %v", ctx.Reports())
	}
}
