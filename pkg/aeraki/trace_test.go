package aeraki_test

import (
	"bytes"
	"context"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/aeraki"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := aeraki.Run(context.Background(), args, &out, &errOut, builtin.Plugins()...)
	return code, out.String(), errOut.String()
}

func TestTraceCommand_DeliveredAndStopped(t *testing.T) {
	code, out, errOut := runCLI("trace", "-f", "../../examples/ambient-dubbo",
		"--from", "dubbo-ambient/dubbo-consumer-84c6d-klmno", "--to", "dubbo-provider:20880", "--attr", "method=sayHello", "--attr", "interface=org.apache.dubbo.samples.basic.api.DemoService")
	if code != 0 || !strings.Contains(out, "DELIVERED: 10.244.2.12:20880") || !strings.Contains(out, "say-hello-to-v2") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI("trace", "-f", "../../examples/ambient-dubbo",
		"--from", "dubbo-ambient/dubbo-consumer-84c6d-klmno", "--to", "dubbo-provider:20881")
	if code != 3 || !strings.Contains(out, "STOPPED: no filter chain of listener main_internal") {
		t.Fatalf("unknown port: exit %d\n%s", code, out)
	}
	code, _, errOut = runCLI("trace", "-f", "../../examples/ambient-dubbo", "--from", "nowhere/nobody", "--to", "dubbo-provider:20880")
	if code != 1 || !strings.Contains(errOut, "no Pod or WorkloadEntry nowhere/nobody") {
		t.Fatalf("unknown source: exit %d: %s", code, errOut)
	}
}

// TestTraceCommand_RustZtunnel: --ztunnel rust starts at Istio's ztunnel's
// HBONE request to the destination's waypoint.
func TestTraceCommand_RustZtunnel(t *testing.T) {
	code, out, errOut := runCLI("trace", "-f", "../../examples/ambient-dubbo", "--ztunnel", "rust",
		"--from", "dubbo-ambient/dubbo-consumer-84c6d-klmno", "--to", "dubbo-provider:20880", "--attr", "method=sayHello", "--attr", "interface=org.apache.dubbo.samples.basic.api.DemoService")
	if code != 0 || !strings.Contains(out, "Rust ztunnel HBONE: HTTP/2 CONNECT 10.96.100.20:20880") || !strings.Contains(out, "DELIVERED: 10.244.2.12:20880") || strings.Contains(out, "ztunnel_outbound") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runCLI("trace", "-f", "../../examples/ambient-dubbo", "--ztunnel", "go",
		"--from", "dubbo-ambient/dubbo-consumer-84c6d-klmno", "--to", "dubbo-provider:20880")
	if code != 1 || !strings.Contains(errOut, `--ztunnel "go": use envoy or rust`) {
		t.Fatalf("unknown ztunnel: exit %d: %s", code, errOut)
	}
}

func TestRenderCommand_Proxy(t *testing.T) {
	code, out, errOut := runCLI("render", "-f", "../../examples/ambient-dubbo", "--proxy", "ztunnel/node-a")
	if code != 0 || !strings.Contains(out, "name: ztunnel_outbound") || !strings.Contains(out, "id: ztunnel/node-a") || !strings.Contains(out, "build: envoy") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	// The waypoint's build is checked: on istio-proxy, which has no
	// generic_proxy, the waypoint's Dubbo port is built with dubbo_proxy
	// too, and the document says which build it is for.
	code, out, errOut = runCLI("render", "-f", "../../examples/ambient-dubbo", "--proxy", "waypoint/dubbo-ambient/waypoint", "--waypoint-proxy", "istio-proxy")
	if code != 0 || !strings.Contains(out, "build: istio-proxy") || strings.Contains(out, "generic_proxy") || !strings.Contains(out, "dubbo_proxy") {
		t.Fatalf("waypoint on istio-proxy: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI("render", "-f", "../../examples/ambient-dubbo", "--sidecar-proxy", "nginx")
	if code != 1 || !strings.Contains(errOut, `--sidecar-proxy: no proxy profile "nginx" (have: aeraki-meta-protocol-proxy, envoy, grpc-go, istio-proxy)`) {
		t.Fatalf("unknown build: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI("render", "-f", "../../examples/ambient-dubbo", "--proxy", "waypoint/x/y")
	if code != 1 || !strings.Contains(errOut, "waypoint/dubbo-ambient/waypoint") {
		t.Fatalf("unknown proxy: exit %d: %s", code, errOut)
	}
}
