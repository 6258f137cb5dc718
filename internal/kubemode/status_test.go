package kubemode_test

import (
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/internal/kubemode"
	"github.com/aeraki-ng/aeraki/internal/testenv"
)

// other is a second Dubbo service, with a DestinationRule that defines
// only subset v1, for the wrong-but-valid objects below.
const other = `apiVersion: v1
kind: Service
metadata: {name: other, namespace: dubbo-demo}
spec:
  selector: {app: other}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: other, namespace: dubbo-demo}
spec:
  host: other.dubbo-demo.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
`

func router(name, host, subset string) string {
	return `apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: ` + name + `, namespace: dubbo-demo}
spec:
  hosts: [` + host + `]
  routes:
  - name: r
    route:
    - destination: {host: ` + host + `, subset: ` + subset + `}
`
}

// TestStatus applies valid and schema-valid-but-wrong objects with kubectl
// and checks the conditions aeraki writes: the reason, the flip to True once
// fixed, Programmed following, the printer columns, and no write when
// nothing changed.
func TestStatus(t *testing.T) {
	c := startCluster(t)
	k := c.kubectl
	k.Must(t, "apply", "-f", filepath.Join(c.root, "examples", "dubbo"))
	k.MustStdin(t, other, "apply", "-f", "-")
	r := startReplica(t, c, "a", kubemode.LeaderElection{})
	mcp := testenv.WatchMCP(t, r.srv.XDSAddr())

	waitHealthy(t, c, "dubbo-demo", "dubbo-provider")
	mcp.Wait(t, "the dubbo-provider EnvoyFilters", wait, func(coll map[string]map[string]any) bool {
		return coll["istio-system/aeraki-outbound-dubbo-provider.dubbo-demo.svc.cluster.local"] != nil
	})

	// Wrong but schema-valid: an unknown host, and a subset the
	// DestinationRule does not define.
	k.MustStdin(t, router("bad-host", "nowhere.dubbo-demo.svc.cluster.local", "v1"), "apply", "-f", "-")
	k.MustStdin(t, router("bad-subset", "other.dubbo-demo.svc.cluster.local", "v3"), "apply", "-f", "-")
	for _, tc := range []struct{ name, reason, fragment string }{
		{"bad-host", conditions.ReasonHostNotFound, `host "nowhere.dubbo-demo.svc.cluster.local" matches no Service`},
		{"bad-subset", conditions.ReasonSubsetNotFound, `subset "v3" of other.dubbo-demo.svc.cluster.local is not defined`},
	} {
		mr := waitCondition(t, c, "dubbo-demo", tc.name, conditions.TypeAccepted, metav1.ConditionFalse, tc.reason)
		if msg := mr.Status.Condition(conditions.TypeAccepted).Message; !strings.Contains(msg, tc.fragment) {
			t.Errorf("%s: Accepted message %q does not say %q", tc.name, msg, tc.fragment)
		}
		waitCondition(t, c, "dubbo-demo", tc.name, conditions.TypeResolvedRefs, metav1.ConditionFalse, tc.reason)
		waitCondition(t, c, "dubbo-demo", tc.name, conditions.TypeProgrammed, metav1.ConditionFalse, conditions.ReasonInvalid)
	}

	// What an operator sees.
	table := k.Must(t, "get", "metarouter", "-n", "dubbo-demo")
	t.Logf("kubectl get metarouter:\n%s", table)
	wantRow(t, table, "NAME", "HOSTS", "ACCEPTED", "REASON", "PROGRAMMED", "AGE")
	wantRow(t, table, "bad-host", "False", "HostNotFound", "False")
	wantRow(t, table, "bad-subset", "False", "SubsetNotFound", "False")
	wantRow(t, table, "dubbo-provider", "True", "Accepted", "True")

	// Fix them: one by fixing the MetaRouter, one by fixing what it names.
	k.MustStdin(t, router("bad-host", "other.dubbo-demo.svc.cluster.local", "v1"), "apply", "-f", "-")
	k.MustStdin(t, strings.Replace(other, "subsets: [{name: v1, labels: {version: v1}}]",
		"subsets: [{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v3}}]", 1), "apply", "-f", "-")
	waitHealthy(t, c, "dubbo-demo", "bad-host")
	waitHealthy(t, c, "dubbo-demo", "bad-subset")
	mcp.Wait(t, "routes of the fixed routers", wait, func(coll map[string]map[string]any) bool {
		ef := coll["istio-system/aeraki-outbound-other.dubbo-demo.svc.cluster.local"]
		return ef != nil && strings.Contains(ef["metadata"].(map[string]any)["annotations"].(map[string]any)["aeraki.io/source"].(string), "MetaRouter")
	})

	t.Run("NoWriteWhenNothingChanged", func(t *testing.T) {
		before := resourceVersions(t, c)
		// A new generation that changes nothing about these objects
		// (a new service), then a canary whose status proves a status
		// pass ran over that generation.
		k.MustStdin(t, strings.ReplaceAll(strings.Split(other, "---")[0], "other", "unrelated"), "apply", "-f", "-")
		mcp.Wait(t, "the unrelated service's EnvoyFilter", wait, func(coll map[string]map[string]any) bool {
			return coll["istio-system/aeraki-outbound-unrelated.dubbo-demo.svc.cluster.local"] != nil
		})
		k.MustStdin(t, router("canary", "nowhere.dubbo-demo.svc.cluster.local", "v1"), "apply", "-f", "-")
		waitCondition(t, c, "dubbo-demo", "canary", conditions.TypeAccepted, metav1.ConditionFalse, conditions.ReasonHostNotFound)
		after := resourceVersions(t, c)
		for name, rv := range before {
			if after[name] != rv {
				t.Errorf("MetaRouter %s was written (resourceVersion %s -> %s) though its status did not change", name, rv, after[name])
			}
		}
	})
}

// wantRow checks that some line of a kubectl table holds the words, in order.
func wantRow(t *testing.T, table string, words ...string) {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		fields := strings.Fields(line)
		i := 0
		for _, f := range fields {
			if i < len(words) && f == words[i] {
				i++
			}
		}
		if len(fields) > 0 && fields[0] == words[0] && i == len(words) {
			return
		}
	}
	t.Errorf("no row %v in:\n%s", words, table)
}

func resourceVersions(t *testing.T, c *cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"dubbo-provider", "bad-host", "bad-subset"} {
		_, mr := condition(t, c, "dubbo-demo", name, conditions.TypeAccepted)
		out[name] = mr.ResourceVersion
	}
	return out
}
