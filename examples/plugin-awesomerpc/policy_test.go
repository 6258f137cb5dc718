package awesomerpc_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"example.com/awesomerpc"
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

// registry is aeraki's builtin plugins plus this one, as
// cmd/aeraki-awesomerpc registers them.
func registry(t *testing.T) *plugin.Registry {
	t.Helper()
	reg, err := plugin.NewRegistry(builtin.With(awesomerpc.New())...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

const policies = `apiVersion: awesomerpc.example.com/v1alpha1
kind: AwesomeRPCPolicy
metadata: {name: greeter}
spec: {hosts: [greeter], timeout: 1.5s}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: awesomerpc.example.com/v1alpha1
kind: AwesomeRPCPolicy
metadata: {name: web}
spec: {hosts: [web, nowhere], timeout: 1.5s}`

// TestPolicyTimeout: the policy's timeout is the timeout of every route
// built for its host that has none of its own; a MetaRouter route's own
// timeout wins.
func TestPolicyTimeout(t *testing.T) {
	router := strings.Replace(service, "  - match:", "  - timeout: 250ms\n    match:", 1)
	snap := plugintest.SnapshotWith(t, registry(t), router+"\n---\n"+applicationProtocol+"\n---\n"+policies)
	if got := awesomerpc.Policies(snap.View(), "greeter.plugintest.svc.cluster.local"); len(got) != 1 || got[0].Name != "greeter" {
		t.Fatalf("Policies(greeter) = %v, want the policy named greeter", got)
	}
	_, rc, _ := plugintest.BuildFor(t, awesomerpc.New(), snap, plugin.RoleSidecarOutbound, targets(t, "awesomerpc.codec.v1.CodecConfig").Sidecar, "greeter.plugintest.svc.cluster.local", 7777)
	js, err := protojson.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	compact := strings.ReplaceAll(string(js), " ", "")
	// The MetaRouter's route keeps its 250ms; the default route gets the policy's 1.5s.
	for _, want := range []string{`"timeout":"0.250s"`, `"timeout":"1.500s"`} {
		if !strings.Contains(compact, want) {
			t.Errorf("route configuration has no %s:\n%s", want, js)
		}
	}
}

// TestPolicyValidation: a policy naming a service without an AwesomeRPC
// port, or no service at all, is reported on the policy, field by field.
func TestPolicyValidation(t *testing.T) {
	reg := registry(t)
	p := awesomerpc.New()
	snap := plugintest.SnapshotWith(t, reg, service+"\n---\n"+applicationProtocol+"\n---\n"+policies)
	view := snap.View()
	ctx := plugin.NewValidateContext(p.Name(), view, func(port *model.Port) bool {
		owner := reg.ForPort(port)
		return owner != nil && owner.Name() == p.Name()
	})
	byName := map[string][]model.Diagnostic{}
	for _, o := range snap.Objects() {
		if o.Ref.Kind == awesomerpc.PolicyKind.Kind {
			byName[o.Ref.Name] = p.ValidateObject(ctx, o)
		}
	}
	if d := byName["greeter"]; len(d) != 0 {
		t.Errorf("policy greeter names an AwesomeRPC service, yet: %v", d)
	}
	want := map[string]string{
		"spec.hosts[0]": "web.plugintest.svc.cluster.local has no AwesomeRPC port; name a port tcp-awesomerpc",
		"spec.hosts[1]": `host "nowhere" matches no Service`,
	}
	d := byName["web"]
	if len(d) != len(want) {
		t.Fatalf("policy web: want %d errors, got %v", len(want), d)
	}
	for _, diag := range d {
		if diag.Severity != model.SeverityError || diag.Object.Name != "web" || !strings.Contains(diag.Message, want[diag.Field]) {
			t.Errorf("policy web: unexpected %+v", diag)
		}
	}
}

// TestRenderAppliesPolicy runs aeraki render with this plugin on
// config/, the example a user applies: the file source decodes the
// plugin's kind from its descriptor alone, and the policy's timeout is in
// the EnvoyFilter for the greeter service.
func TestRenderAppliesPolicy(t *testing.T) {
	var out, errOut bytes.Buffer
	code := aeraki.Run(context.Background(), []string{"render", "-f", "config",
		"--proxy-profile", "envoy-awesomerpc.profile.yaml", "--sidecar-proxy", "envoy-awesomerpc"},
		&out, &errOut, builtin.With(awesomerpc.New())...)
	if code != 0 {
		t.Fatalf("aeraki render exited %d:\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "timeout: 1.500s") {
		t.Errorf("rendered config has no route timeout 1.500s from AwesomeRPCPolicy greeter:\n%s", out.String())
	}
}

// TestRenderReportsBadPolicy: a policy for a service without an
// AwesomeRPC port is refused, and aeraki render says why.
func TestRenderReportsBadPolicy(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("config", "awesomerpc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := `
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: awesomerpc.example.com/v1alpha1
kind: AwesomeRPCPolicy
metadata: {name: web, namespace: demo}
spec: {hosts: [web], timeout: 1s}
`
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), append(data, bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	aeraki.Run(context.Background(), []string{"render", "-f", dir,
		"--proxy-profile", "envoy-awesomerpc.profile.yaml", "--sidecar-proxy", "envoy-awesomerpc"},
		&out, &errOut, builtin.With(awesomerpc.New())...)
	msg := errOut.String()
	for _, want := range []string{"AwesomeRPCPolicy", "demo/web", "web.demo.svc.cluster.local has no AwesomeRPC port"} {
		if !strings.Contains(msg, want) {
			t.Errorf("aeraki render's diagnostics do not mention %q:\n%s", want, msg)
		}
	}
}
