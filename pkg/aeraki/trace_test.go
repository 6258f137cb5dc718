package aeraki_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/aeraki"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := aeraki.Run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTraceCommand_DeliveredAndStopped(t *testing.T) {
	code, out, errOut := runCLI("trace", "-f", "../../examples/ambient-dubbo",
		"--from", "dubbo-ambient/dubbo-consumer-84c6d-klmno", "--to", "dubbo-provider:20880", "--attr", "method=sayHello")
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

func TestRenderCommand_Proxy(t *testing.T) {
	code, out, errOut := runCLI("render", "-f", "../../examples/ambient-dubbo", "--proxy", "ztunnel/node-a")
	if code != 0 || !strings.Contains(out, "name: ztunnel_outbound") || !strings.Contains(out, "id: ztunnel/node-a") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI("render", "-f", "../../examples/ambient-dubbo", "--proxy", "waypoint/x/y")
	if code != 1 || !strings.Contains(errOut, "waypoint/dubbo-ambient/waypoint") {
		t.Fatalf("unknown proxy: exit %d: %s", code, errOut)
	}
}
