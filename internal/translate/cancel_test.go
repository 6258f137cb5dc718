package translate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// cancellingProxies is a ProxyBuilder with many proxies that cancels the
// translation from inside the build of one of them, as a SIGTERM arriving
// mid-translation does.
type cancellingProxies struct {
	n      int
	at     string
	cancel context.CancelFunc
}

func (b *cancellingProxies) Name() string                { return "cancelling" }
func (b *cancellingProxies) Protocols() []model.Protocol { return nil }
func (b *cancellingProxies) ProxyIDs(*model.View) []string {
	ids := make([]string, b.n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p-%03d", i)
	}
	return ids
}
func (b *cancellingProxies) MatchNode(_ *corev3.Node) (string, bool) { return "", false }
func (b *cancellingProxies) BuildProxy(_ *plugin.ProxyContext, id string) (*plugin.Proxy, error) {
	if id == b.at {
		b.cancel()
	}
	return &plugin.Proxy{ID: id}, nil
}

// TestCancelDuringProxyBuildsReturnsTheContextError: a translation
// stopped while proxies are being built (some never started) returns
// ctx's error and no output instead of touching the proxies that were
// never built (it used to sort them and dereference nil), and leaves the
// translator as it was, so the next translation completes normally.
func TestCancelDuringProxyBuildsReturnsTheContextError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &cancellingProxies{n: 200, at: "p-003", cancel: cancel}
	reg, err := plugin.NewRegistry(b)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := translate.New(translate.Options{Registry: reg, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, mesh)
	out, err := tr.TranslateContext(ctx, snap)
	if !errors.Is(err, context.Canceled) || out != nil {
		t.Fatalf("cancelled translation returned (%v, %v), want (nil, context.Canceled)", out, err)
	}
	b.at = ""
	full := tr.Translate(snap)
	if len(full.Proxies) != b.n || full.Stats.ProxiesReused != 0 {
		t.Fatalf("next translation: %d proxies (%d reused), want all %d built", len(full.Proxies), full.Stats.ProxiesReused, b.n)
	}
}
