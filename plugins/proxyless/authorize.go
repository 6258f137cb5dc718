package proxyless

import (
	"fmt"
	"strings"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

var _ plugin.ProxyAuthorizer = (*Plugin)(nil)

// AuthorizeProxy implements plugin.ProxyAuthorizer. Every proxyless
// client is served the same config (every gRPC service of the mesh), the
// way istiod serves a proxyless client the services its Sidecar scope
// allows, so any workload of the mesh's trust domain may read it.
func (*Plugin) AuthorizeProxy(view *model.View, _ string, peer plugin.Peer) error {
	prefix := "spiffe://" + view.Options().TrustDomain + "/"
	for _, id := range peer.Identities {
		if strings.HasPrefix(id, prefix) {
			return nil
		}
	}
	return fmt.Errorf("proxyless config is served to workloads of the trust domain %s; the client's certificate names %s",
		view.Options().TrustDomain, strings.Join(peer.Identities, ", "))
}
