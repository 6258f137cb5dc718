package plugin_test

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// echoPlugin claims the made-up protocol "echo" (ports named
// tcp-metaprotocol-echo) and proxies it at L4 to the service's cluster.
type echoPlugin struct{}

func (echoPlugin) Name() string                { return "echo" }
func (echoPlugin) Protocols() []model.Protocol { return []model.Protocol{"echo"} }

// BuildNetworkFilters returns the filters that replace Istio's tcp_proxy.
// ClusterName names the cluster as the proxy role knows it. The filter is
// packed through the context (ctx.NetworkFilter, ctx.Pack), so the core's
// checks read the TcpProxy itself rather than decode it again; it is not
// touched once packed.
func (echoPlugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	cluster := ctx.ClusterName(ctx.Service.Hostname, ctx.Port.Number, "")
	return []*listenerv3.Filter{ctx.NetworkFilter("envoy.filters.network.tcp_proxy", &tcpv3.TcpProxy{
		StatPrefix:       ctx.StatPrefix(),
		ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster},
	})}, nil
}

// A plugin is registered in a Registry, which finds it for the ports it claims.
func Example() {
	reg, err := plugin.NewRegistry(echoPlugin{})
	if err != nil {
		panic(err)
	}
	port := &model.Port{Name: "tcp-metaprotocol-echo", Number: 7, ProtocolInfo: model.DetectProtocol("tcp-metaprotocol-echo", "")}
	p := reg.ForPort(port)
	fmt.Println(p.Name(), "owns", port)

	// The core builds a context per service port and role; here by hand.
	svc := &model.Service{Hostname: "echo.default.svc.cluster.local", Ports: []*model.Port{port}}
	ctx := plugin.NewBuildContext(p.Name(), model.NewBuilder(model.Options{}).Build().View(), plugin.RoleSidecarOutbound, svc, port)
	filters, _ := p.(plugin.NetworkFilterBuilder).BuildNetworkFilters(ctx)
	fmt.Println(filters[0].GetName(), xds.Validate(filters[0]) == nil)

	// Registering a second plugin for the same protocol fails loudly.
	_, err = plugin.NewRegistry(echoPlugin{}, echoPlugin{})
	fmt.Println(err)
	// Output:
	// echo owns 7/tcp-metaprotocol-echo
	// envoy.filters.network.tcp_proxy true
	// plugin registry: two plugins are named "echo" (plugin_test.echoPlugin and plugin_test.echoPlugin); each plugin needs a unique name
}
