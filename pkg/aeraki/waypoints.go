package aeraki

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/aeraki-ng/aeraki/internal/agent"
	"github.com/aeraki-ng/aeraki/internal/waypoint"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// defaultEnvoyImage is the upstream Envoy release aeraki-served waypoints
// run: the line the envoy profile (pkg/profile/data/envoy.yaml) was
// generated from.
const defaultEnvoyImage = "envoyproxy/envoy:v1.36.0"

// waypointFlags are aeraki serve's flags about the waypoints of its own
// GatewayClass (Kubernetes mode).
type waypointFlags struct {
	enabled        bool
	controllerName string
	template       string
	envoyImage     string
	agentImage     string
	xdsAddress     string
	xdsIdentity    string
	caAddress      string
}

func (w *waypointFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&w.enabled, "waypoint-controller", true, "in Kubernetes mode, deploy the Gateways of the --waypoint-class (Deployment with upstream Envoy and aeraki agent, Service, ServiceAccount) and write their status, on the leader (RBAC: charts/aeraki)")
	fl.StringVar(&w.controllerName, "waypoint-controller-name", waypoint.DefaultControllerName, "spec.controllerName of the --waypoint-class GatewayClass (created when missing); a class naming another controller is not deployed")
	fl.StringVar(&w.template, "waypoint-template", "", "file with the Go text/template of a waypoint's objects, replacing the built-in one (internal/waypoint/waypoint.yaml.tmpl; docs/ambient.md)")
	fl.StringVar(&w.envoyImage, "waypoint-envoy-image", defaultEnvoyImage, "the upstream Envoy image waypoints run (its build must match --waypoint-proxy)")
	fl.StringVar(&w.agentImage, "waypoint-agent-image", "", "the image of the aeraki agent sidecar (default ghcr.io/aeraki-ng/aeraki:<this version>)")
	fl.StringVar(&w.xdsAddress, "waypoint-xds-address", "", "aeraki's TLS address as waypoints dial it (default aeraki.<aeraki's namespace>.svc:"+tlsPort+")")
	fl.StringVar(&w.xdsIdentity, "waypoint-xds-identity", "", "aeraki's SPIFFE id waypoints check on that address (default aeraki's identity from Istio's CA: --service-account or the token's, else spiffe://<trust-domain>/ns/<namespace>/sa/aeraki)")
	fl.StringVar(&w.caAddress, "waypoint-ca-address", "", "Istio's CA as the waypoints' agents dial it (default --ca-address, else "+defaultCAAddress+")")
}

// options builds the controller's options; nil when it is off.
func (w *waypointFlags) options(mesh model.Options, sec securityFlags) (*waypoint.Options, error) {
	if !w.enabled {
		return nil, nil
	}
	o := &waypoint.Options{ClassName: mesh.WaypointClass, ControllerName: w.controllerName}
	if w.template != "" {
		b, err := os.ReadFile(w.template)
		if err != nil {
			return nil, fmt.Errorf("--waypoint-template: %w", err)
		}
		o.Template = string(b)
	}
	ns := podNamespace()
	td := mesh.TrustDomain
	if td == "" {
		td = "cluster.local"
	}
	v := waypoint.Values{EnvoyImage: w.envoyImage, AgentImage: w.agentImage, XDSAddress: w.xdsAddress, XDSIdentity: w.xdsIdentity,
		CAAddress: w.caAddress, TrustDomain: td, SDSSocket: agent.DefaultSocket, RegexMaxProgramSize: mesh.RegexMaxProgramSize}
	if v.AgentImage == "" {
		v.AgentImage = "ghcr.io/aeraki-ng/aeraki:" + Version()
	}
	if v.XDSAddress == "" {
		v.XDSAddress = "aeraki." + ns + ".svc:" + tlsPort
	}
	if v.XDSIdentity == "" {
		v.XDSIdentity = model.SPIFFEID(td, ns, "aeraki")
		if sec.caAddress != "" {
			if id, err := sec.identity(model.Options{TrustDomain: td}); err == nil {
				v.XDSIdentity = id
			}
		}
	}
	if v.CAAddress == "" {
		v.CAAddress = sec.caAddress
	}
	if v.CAAddress == "" {
		v.CAAddress = defaultCAAddress
	}
	o.Values = v
	if _, err := waypoint.ParseTemplate(o.Template); err != nil {
		return nil, fmt.Errorf("--waypoint-template %s: %w", w.template, err)
	}
	return o, nil
}
