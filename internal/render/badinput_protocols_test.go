package render_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/internal/render"
)

// TestBadProtocolObjectsAreReportedAlone: each bad object of
// testdata/bad-protocols gets one error, on it, saying what is wrong and
// what to do; the other objects are programmed as usual.
func TestBadProtocolObjectsAreReportedAlone(t *testing.T) {
	res, err := render.Render(render.Options{Paths: []string{"testdata/bad-protocols"}, Registry: registry(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"RedisDestination shop/cache": {"Secret shop/cache-password does not exist", "create it, or fix the name"},
		"MetaRouter shop/hello-v9":    {`subset "v9" of hello.shop.svc.cluster.local is not defined by any DestinationRule`, "add it"},
		"ApplicationProtocol nocodec": {"the codec is empty", "name the codec"},
	}
	seen := map[string]int{}
	for _, d := range res.Errors() {
		obj := d.Object.String()
		frags, ok := want[obj]
		if !ok {
			t.Errorf("error on an object that is not bad: %s", d)
			continue
		}
		seen[obj]++
		for _, f := range frags {
			if !strings.Contains(d.Message, f) {
				t.Errorf("%s: message does not say %q: %s", obj, f, d.Message)
			}
		}
	}
	for obj := range want {
		if seen[obj] != 1 {
			t.Errorf("%s: %d errors, want exactly one", obj, seen[obj])
		}
	}
	// Everything else is programmed: Redis and Thrift outbound, Thrift
	// inbound (Redis inbound stays TCP), with valid patches. web1 (HTTP/1
	// through generic_proxy) stays TCP on istio-proxy sidecars, which lack
	// generic_proxy, and says so on its ApplicationProtocol.
	names := map[string]bool{}
	for _, ef := range res.Output.EnvoyFilters {
		names[ef.Name] = true
		if err := ef.Validate(); err != nil {
			t.Errorf("EnvoyFilter %s: %v", ef.Name, err)
		}
	}
	for _, n := range []string{"aeraki-outbound-cache.shop.svc.cluster.local", "aeraki-outbound-hello.shop.svc.cluster.local",
		"aeraki-inbound-hello.shop.svc.cluster.local"} {
		if !names[n] {
			t.Errorf("EnvoyFilter %s missing: a bad object broke another", n)
		}
	}
	if names["aeraki-outbound-legacy.shop.svc.cluster.local"] {
		t.Error("web1's HTTP/1 codec was programmed for istio-proxy sidecars, which lack generic_proxy")
	}
	warned := false
	for _, d := range res.Diagnostics {
		warned = warned || d.Object.String() == "ApplicationProtocol web1" && strings.Contains(d.Message, "stays plain TCP on sidecar-outbound proxies: their build (istio-proxy) lacks generic_proxy")
	}
	if !warned {
		t.Errorf("no warning on ApplicationProtocol web1 saying its ports stay TCP on istio-proxy sidecars: %v", res.Diagnostics)
	}
	for _, u := range res.Output.Units {
		if u.FailedClosed {
			t.Errorf("unit %s failed closed: %v", u.Key, u.Diagnostics)
		}
	}
}
