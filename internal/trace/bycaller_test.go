package trace_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Exact DubboAuthorizationPolicy per caller through an aeraki-served
// waypoint (testdata/bycaller): main_internal picks the chain of the
// caller's class from filter state io.istio.peer_principal, so the same
// method is denied to one caller and delivered for another.

func renderByCaller(t *testing.T) *render.Result {
	t.Helper()
	res := renderTestdata(t, "bycaller")
	sidecar := 0
	for _, d := range res.Diagnostics {
		switch {
		case d.Severity < model.SeverityWarning:
		case strings.Contains(d.Message, "this proxy (sidecar-inbound, build istio-proxy)"):
			sidecar++ // istio-proxy sidecars cannot pick a chain by caller: reported, as they must be
		default:
			t.Errorf("the waypoint enforces these policies exactly, yet: %s", d)
		}
	}
	if sidecar != 2 {
		t.Errorf("%d findings about the sidecar's inexact enforcement, want one per policy (2)", sidecar)
	}
	return res
}

func TestByCaller_SameMethodDeniedForOneCallerAllowedForAnother(t *testing.T) {
	res := renderByCaller(t)
	cancel := map[string]string{"interface": "com.bank.Accounts", "method": "cancelAll"}
	denied := call(t, res, "bank/teller", "accounts:20880", cancel)
	if denied.Outcome == trace.Delivered {
		t.Fatalf("the teller's cancelAll was delivered, want denied\n%s", dump(denied))
	}
	out := dump(denied)
	for _, want := range []string{
		"principal:spiffe://cluster.local/ns/bank/sa/teller", // the class chain chosen
		"denied by DubboAuthorizationPolicy bank/teller-no-cancel",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the teller's trace does not show %q:\n%s", want, out)
		}
	}
	allowed := call(t, res, "bank/auditor", "accounts:20880", cancel)
	if allowed.Outcome != trace.Delivered || allowed.Destination != "10.244.2.31:20880" {
		t.Fatalf("the auditor's cancelAll: %s %s, want delivered\n%s", allowed.Outcome, allowed.Destination, dump(allowed))
	}
	if !strings.Contains(dump(allowed), "principal:spiffe://cluster.local/ns/bank/sa/auditor") {
		t.Errorf("the auditor's call did not go through its class chain:\n%s", dump(allowed))
	}
}

func TestByCaller_NamespaceClassAndEveryoneElse(t *testing.T) {
	res := renderByCaller(t)
	admin := map[string]string{"interface": "com.bank.Accounts", "method": "admin"}
	if r := call(t, res, "batch/job", "accounts.bank:20880", admin); r.Outcome != trace.Delivered || !strings.Contains(dump(r), "namespace:batch") {
		t.Fatalf("batch's admin: %s, want delivered through the namespace:batch chain\n%s", r.Outcome, dump(r))
	}
	if r := call(t, res, "bank/teller", "accounts:20880", admin); r.Outcome == trace.Delivered {
		t.Fatalf("the teller's admin was delivered; no ALLOW rule gives it to the teller\n%s", dump(r))
	}
	balance := map[string]string{"interface": "com.bank.Accounts", "method": "getBalance"}
	r := call(t, res, "bank/stranger", "accounts:20880", balance)
	if r.Outcome == trace.Delivered {
		t.Fatalf("a caller no ALLOW rule names was delivered\n%s", dump(r))
	}
	if !strings.Contains(dump(r), "RBAC DENY") {
		t.Errorf("the stranger's denial does not come from the default chain's deny-all:\n%s", dump(r))
	}
}
