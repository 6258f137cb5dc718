package status_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/status"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

const mesh = `apiVersion: v1
kind: Service
metadata: {name: provider, namespace: demo}
spec:
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: provider, namespace: demo}
spec:
  host: provider.demo.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
`

func router(host, subset, extra string) string {
	return `---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: r, namespace: demo, generation: 3}
spec:
  hosts: [` + host + `]
  routes:
  - name: main
    route:
    - destination: {host: ` + host + `, subset: ` + subset + `}
` + extra
}

// compute loads manifests, translates them with the Dubbo plugin and
// returns the MetaRouter's conditions by type.
func compute(t *testing.T, filter, manifests string) (status.Result, map[string]metav1.Condition) {
	t.Helper()
	d, err := dubbo.New(dubbo.Options{Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := plugin.NewRegistry(d)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	b := model.NewBuilder(model.Options{})
	diags := file.LoadBytes("test.yaml", []byte(manifests), b, file.Options{})
	snap := b.Build()
	res := status.Compute(snap, diags, tr.Translate(snap))
	r, ok := res[model.ObjectRef{Group: "metaprotocol.aeraki.io", Kind: "MetaRouter", Namespace: "demo", Name: "r"}.Key()]
	if !ok {
		t.Fatalf("no status for the MetaRouter; got %v", res)
	}
	if len(res) != 1 {
		t.Errorf("status computed for objects that are not aeraki's: %v", res)
	}
	byType := map[string]metav1.Condition{}
	for _, c := range r.Conditions {
		byType[c.Type] = c
		if c.ObservedGeneration != 3 {
			t.Errorf("%s: observedGeneration %d, want the object's generation 3", c.Type, c.ObservedGeneration)
		}
	}
	if r.Generation != 3 || len(byType) != 3 {
		t.Fatalf("want three conditions for generation 3, got %+v", r)
	}
	return r, byType
}

func want(t *testing.T, c metav1.Condition, st metav1.ConditionStatus, reason string, fragments ...string) {
	t.Helper()
	if c.Status != st || c.Reason != reason {
		t.Errorf("%s: got %s/%s (%s), want %s/%s", c.Type, c.Status, c.Reason, c.Message, st, reason)
	}
	for _, f := range fragments {
		if !strings.Contains(c.Message, f) {
			t.Errorf("%s: message %q does not mention %q", c.Type, c.Message, f)
		}
	}
}

func TestCompute(t *testing.T) {
	const host = "provider.demo.svc.cluster.local"
	t.Run("Valid", func(t *testing.T) {
		_, c := compute(t, "", mesh+router(host, "v1", ""))
		want(t, c[conditions.TypeAccepted], metav1.ConditionTrue, conditions.ReasonAccepted)
		want(t, c[conditions.TypeResolvedRefs], metav1.ConditionTrue, conditions.ReasonResolvedRefs)
		want(t, c[conditions.TypeProgrammed], metav1.ConditionTrue, conditions.ReasonProgrammed)
	})
	t.Run("HostNotFound", func(t *testing.T) {
		_, c := compute(t, "", mesh+router("nowhere.demo.svc.cluster.local", "v1", ""))
		want(t, c[conditions.TypeAccepted], metav1.ConditionFalse, conditions.ReasonHostNotFound, "spec.hosts[0]", "nowhere")
		want(t, c[conditions.TypeResolvedRefs], metav1.ConditionFalse, conditions.ReasonHostNotFound)
		want(t, c[conditions.TypeProgrammed], metav1.ConditionFalse, conditions.ReasonInvalid)
	})
	t.Run("SubsetNotFound", func(t *testing.T) {
		_, c := compute(t, "", mesh+router(host, "v9", ""))
		want(t, c[conditions.TypeAccepted], metav1.ConditionFalse, conditions.ReasonSubsetNotFound, `subset "v9"`)
		want(t, c[conditions.TypeResolvedRefs], metav1.ConditionFalse, conditions.ReasonSubsetNotFound)
		want(t, c[conditions.TypeProgrammed], metav1.ConditionFalse, conditions.ReasonInvalid)
	})
	t.Run("InvalidRoute", func(t *testing.T) {
		_, c := compute(t, "", mesh+router(host, "v1", "    timeout: soon\n"))
		want(t, c[conditions.TypeAccepted], metav1.ConditionFalse, conditions.ReasonInvalidRoute, "spec.routes[0].timeout")
		want(t, c[conditions.TypeResolvedRefs], metav1.ConditionTrue, conditions.ReasonResolvedRefs)
	})
	t.Run("UnsupportedProtocol", func(t *testing.T) {
		m := strings.Replace(mesh, "tcp-dubbo", "tcp-mongo", 1)
		_, c := compute(t, "", m+router(host, "v1", ""))
		want(t, c[conditions.TypeAccepted], metav1.ConditionFalse, conditions.ReasonUnsupportedProtocol, "no plugin handles")
	})
	t.Run("WarningKeepsAccepted", func(t *testing.T) {
		_, c := compute(t, dubbo.FilterDubboProxy, mesh+router(host, "v1", "    mirror: {host: "+host+", subset: v1}\n"))
		want(t, c[conditions.TypeAccepted], metav1.ConditionTrue, conditions.ReasonAccepted, "Accepted with 1 warning", "spec.routes[0].mirror", "(UnsupportedValue)")
		want(t, c[conditions.TypeProgrammed], metav1.ConditionTrue, conditions.ReasonProgrammed)
	})
}
