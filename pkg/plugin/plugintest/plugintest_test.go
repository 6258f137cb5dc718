package plugintest_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	http1v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/codecs/http1/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/plugin/plugintest"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
)

// toy is a configurable plugin for the made-up protocol "toy"; each test
// breaks one thing the kit must catch.
type toy struct {
	build func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error)
}

func (toy) Name() string                { return "toy" }
func (toy) Protocols() []model.Protocol { return []model.Protocol{"toy"} }
func (p toy) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	return p.build(ctx)
}

func tcp(statPrefix, cluster string) []*listenerv3.Filter {
	return []*listenerv3.Filter{xds.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{StatPrefix: statPrefix, ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster}})}
}

// good routes like a real plugin: MetaRouter routes through generic_proxy
// with Envoy's HTTP/1 codec, attributes as properties.
// good routes with generic_proxy and refuses, with an error on the
// MetaRouter, the routes generic_proxy cannot carry (weighted ones).
func good(ctx *plugin.BuildContext) []*listenerv3.Filter {
	var routes []metaroute.Route
	for _, r := range metaroute.Build(ctx) {
		if r.Weighted() {
			ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: r.Object, Reason: "WeightsNotImplemented", Message: "generic_proxy does not implement weighted clusters"})
			continue
		}
		routes = append(routes, r)
	}
	rc := genericproxy.RouteConfig(ctx, ctx.StatPrefix(), metaroute.WithDefault(ctx, routes), genericproxy.Inputs{Method: "method"})
	codec := xds.TypedConfig("envoy.generic_proxy.codecs.http1", &http1v3.Http1CodecConfig{})
	return []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), codec, rc)}
}

var counter atomic.Int64

var broken = map[string]func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error){
	"panics": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { panic("toy exploded") },
	"invalid": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		return tcp("", ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")), nil
	},
	"bad-cluster-name": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		return tcp("x", "outbound|9000||nowhere.example"), nil
	},
	"ignores-routes": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		return tcp(ctx.StatPrefix(), ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")), nil
	},
	"nondeterministic": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		return tcp(fmt.Sprint("toy-", counter.Add(1)), ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")), nil
	},
	// generic_proxy on the default sidecar build, istio-proxy, which lacks it.
	"ignores-profile": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return good(ctx), nil },
	// Packs its filter through the context, then changes it: the core's
	// checks would read a message the Any does not hold.
	"mutates-after-packing": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		tp := &tcpv3.TcpProxy{StatPrefix: "before", ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")}}
		f := ctx.NetworkFilter("envoy.filters.network.tcp_proxy", tp)
		tp.StatPrefix = ctx.StatPrefix()
		return []*listenerv3.Filter{f}, nil
	},
	// Packs a nil entry of a list, which the Any's bytes decode to an
	// empty message.
	"nil-in-packed": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		tp := &tcpv3.TcpProxy{StatPrefix: ctx.StatPrefix(), ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")},
			AccessLog: []*accesslogv3.AccessLog{nil}}
		return []*listenerv3.Filter{ctx.NetworkFilter("envoy.filters.network.tcp_proxy", tp)}, nil
	},
	"anonymous-diagnostic": func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
		ctx.Report(model.Diagnostic{Severity: model.SeverityWarning, Reason: "Oops", Message: "something about nothing"})
		return good(ctx), nil
	},
}

// TestKitCatchesBrokenPlugins runs the kit on each broken plugin in a
// child process and requires it to fail, saying why.
func TestKitCatchesBrokenPlugins(t *testing.T) {
	if name := os.Getenv("PLUGINTEST_BROKEN"); name != "" {
		plugintest.Run(t, toy{build: broken[name]}, plugintest.Options{})
		return
	}
	want := map[string]string{
		"panics":                "toy exploded",
		"invalid":               "StatPrefix",
		"bad-cluster-name":      `names host "nowhere.example", which is not a service`,
		"nondeterministic":      "not deterministic",
		"ignores-routes":        "the route was not programmed",
		"anonymous-diagnostic":  "does not say which object",
		"mutates-after-packing": "was modified after it was packed",
		"nil-in-packed":         "holds a nil message at TcpProxy.access_log[0]",
		"ignores-profile":       "envoy.filters.network.generic_proxy (config type envoy.extensions.filters.network.generic_proxy.v3.GenericProxy) is not in the istio-proxy build",
	}
	for name, fragment := range want {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestKitCatchesBrokenPlugins$", "-test.v")
			cmd.Env = append(os.Environ(), "PLUGINTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a plugin that %s:\n%s", name, out)
			}
			if !strings.Contains(string(out), fragment) {
				t.Fatalf("the kit failed without saying %q:\n%s", fragment, out)
			}
		})
	}
}

// TestKitPassesGoodPlugins: a minimal correct plugin and the Dubbo plugin pass.
func TestKitPassesGoodPlugins(t *testing.T) {
	t.Run("toy", func(t *testing.T) {
		// The toy uses generic_proxy, so it is run for builds that have it.
		targets := plugin.DefaultTargets()
		targets.Sidecar = profile.MustGet(profile.Envoy)
		plugintest.Run(t, toy{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) { return good(ctx), nil }}, plugintest.Options{Targets: targets})
	})
	t.Run("l4-only", func(t *testing.T) {
		plugintest.Run(t, toy{build: func(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
			return tcp(ctx.StatPrefix(), ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")), nil
		}}, plugintest.Options{NoRouting: true})
	})
	t.Run("dubbo-proxy-option", func(t *testing.T) {
		p, err := dubbo.New(dubbo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		plugintest.Run(t, p, plugintest.Options{PluginOptions: map[string]string{"filter": "dubbo_proxy"}})
	})
}
