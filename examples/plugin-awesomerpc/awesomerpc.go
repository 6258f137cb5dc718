// Package awesomerpc is an example aeraki plugin, written the way an
// outside author would write one: it imports only aeraki's public SDK
// (pkg/...) and lives in its own Go module.
//
// AwesomeRPC is a made-up protocol. Envoy carries it with generic_proxy
// and a codec the user's Envoy build provides; which codec is named by an
// ApplicationProtocol object:
//
//	apiVersion: metaprotocol.aeraki.io/v1alpha1
//	kind: ApplicationProtocol
//	metadata: {name: awesomerpc}
//	spec:
//	  protocol: awesomerpc
//	  codec: awesomerpc.codec.v1.CodecConfig
//
// The plugin claims the protocol name "awesomerpc", so the ports aeraki
// gives it are named tcp-awesomerpc (or awesomerpc, awesomerpc-<suffix>),
// or have appProtocol: awesomerpc; Aeraki's tcp-metaprotocol-awesomerpc
// works too. No list in aeraki names the protocol: the plugin registry
// decides which plugin owns a name. MetaRouter attributes map to
// the codec: "service" and "method" are the call's service and method,
// every other attribute is a property of the call.
//
// The plugin builds only for proxies whose build (BuildContext.Profile)
// has generic_proxy and the codec: elsewhere (istio-proxy sidecars, say)
// it leaves the port at L4 and says so. The user's build is a profile of
// its own; Profile shows how to make one. generic_proxy does not
// implement weighted clusters, so a route that splits calls by weight is
// refused with an error on its MetaRouter.
//
// The plugin also brings a CRD of its own, AwesomeRPCPolicy
// (awesomerpc.example.com/v1alpha1, api/v1alpha1 and crd/), to show what
// the SDK lets a plugin do with one (see Kinds):
//
//	apiVersion: awesomerpc.example.com/v1alpha1
//	kind: AwesomeRPCPolicy
//	metadata: {name: greeter, namespace: demo}
//	spec:
//	  hosts: [greeter]
//	  timeout: 1.5s
//
// Its timeout becomes the timeout of every generic_proxy route the plugin
// builds for those hosts that has none of its own. A policy naming a host
// without an AwesomeRPC port is refused, with an error on the policy.
package awesomerpc

import (
	"fmt"
	"regexp"

	xdstype "github.com/cncf/xds/go/xds/type/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"example.com/awesomerpc/api/v1alpha1"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/genericproxy"
	"github.com/aeraki-ng/aeraki/pkg/metaroute"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// Protocol is the protocol name the plugin claims.
const Protocol model.Protocol = "awesomerpc"

// Inputs maps MetaRouter attributes onto generic_proxy's request inputs
// (a function, so no importer can change them).
func Inputs() genericproxy.Inputs { return genericproxy.Inputs{Host: "service", Method: "method"} }

// attributeName is what the codec accepts as a property key.
var attributeName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Plugin is the AwesomeRPC plugin.
type Plugin struct{}

// New returns the plugin, ready to register.
func New() *Plugin { return &Plugin{} }

var (
	_ plugin.RouteConfigBuilder   = (*Plugin)(nil)
	_ plugin.NetworkFilterBuilder = (*Plugin)(nil)
	_ plugin.ObjectValidator      = (*Plugin)(nil)
	_ plugin.Describer            = (*Plugin)(nil)
)

// Name implements plugin.Plugin.
func (*Plugin) Name() string { return "awesomerpc" }

// Protocols implements plugin.Plugin.
func (*Plugin) Protocols() []model.Protocol { return []model.Protocol{Protocol} }

// Description implements plugin.Describer.
func (*Plugin) Description() string {
	return "AwesomeRPC over generic_proxy, with the codec its ApplicationProtocol names"
}

// Profile is the build AwesomeRPC users run: upstream Envoy with their
// codec compiled in. Pass it to aeraki as the sidecars' or waypoints'
// build (Targets), and the plugin programs their ports.
func Profile(codec string) (*profile.Profile, error) {
	return profile.MustGet(profile.Envoy).Extend("envoy-awesomerpc", "upstream Envoy with the AwesomeRPC codec "+codec,
		profile.Source{What: "AwesomeRPC codec", Repository: "example.com/awesomerpc", Commit: "v1"},
		profile.Extension{Name: codec, Types: []string{codec}})
}

// BuildRouteConfig implements plugin.RouteConfigBuilder: the MetaRouters
// of the service (or, on a sidecar's inbound side, one route to the local
// workload) as a generic_proxy route table.
func (*Plugin) BuildRouteConfig(ctx *plugin.BuildContext) (proto.Message, error) {
	if err := carried(ctx); err != nil {
		return nil, err
	}
	var routes []metaroute.Route
	for _, r := range metaroute.Build(ctx) {
		if r.Weighted() {
			ctx.Report(model.Diagnostic{Severity: model.SeverityError, Object: r.Object, Field: r.Field, Reason: "WeightsNotImplemented",
				Message: fmt.Sprintf("route %q splits calls by weight, which generic_proxy does not implement; the route is left out", r.Name)})
			continue
		}
		routes = append(routes, r)
	}
	routes = metaroute.WithDefault(ctx, routes)
	if d, ok := policyTimeout(ctx); ok {
		// generic_proxy's RouteAction.timeout bounds a call from the end
		// of the request to the end of the response; 0s disables it.
		// Envoy reads it in RouteEntryImpl (timeout_, default 15s;
		// source/extensions/filters/network/generic_proxy/route_impl.cc)
		// and RouterFilter::mayRequestStreamEnd arms a timer with it when it
		// is positive, answering DeadlineExceeded (router/router.cc); the
		// field is declared in
		// api/envoy/extensions/filters/network/generic_proxy/action/v3/action.proto.
		// genericproxy.Action copies Route.Timeout into it.
		for i := range routes {
			if routes[i].Timeout == 0 {
				routes[i].Timeout = d
			}
		}
	}
	return genericproxy.RouteConfig(ctx, ctx.StatPrefix(), routes, Inputs()), nil
}

// carried leaves the port at L4 when the proxy's build lacks generic_proxy
// or the codec, with a warning on the ApplicationProtocol.
func carried(ctx *plugin.BuildContext) error {
	ap := ctx.Model.ApplicationProtocol(Protocol)
	if ap == nil || ap.Spec.Codec == "" {
		return nil // BuildNetworkFilters says what is missing
	}
	if ctx.Profile.Has(genericproxy.FilterName) && ctx.Profile.Supports(ap.Spec.Codec, ap.Spec.Codec) {
		return nil
	}
	ctx.Warnf(model.ObjectRef{Group: metaprotocolv1alpha1.GroupName, Kind: "ApplicationProtocol", Name: ap.Name}, "spec.codec", "UnsupportedValue",
		"port %s of %s stays plain TCP on %s proxies: their build (%s) lacks generic_proxy or the codec %s", ctx.Port, ctx.Service.Hostname, ctx.Role, ctx.Profile.Name, ap.Spec.Codec)
	return fmt.Errorf("proxy build %s cannot carry AwesomeRPC: %w", ctx.Profile.Name, plugin.ErrSkipPort)
}

// BuildNetworkFilters implements plugin.NetworkFilterBuilder: generic_proxy
// with the codec of the protocol's ApplicationProtocol. Without one the
// plugin cannot know the codec, so the port fails closed with an error
// saying what to create.
func (*Plugin) BuildNetworkFilters(ctx *plugin.BuildContext) ([]*listenerv3.Filter, error) {
	if err := carried(ctx); err != nil {
		return nil, err
	}
	codec, err := codecConfig(ctx.Model)
	if err != nil {
		return nil, plugin.Errorf("awesomerpc", ctx.Service.Ref, "CodecNotFound", "%v", err)
	}
	rc, ok := ctx.RouteConfig.(*genericv3.RouteConfiguration)
	if !ok {
		return nil, fmt.Errorf("expected a generic_proxy route configuration, got %T", ctx.RouteConfig)
	}
	return []*listenerv3.Filter{genericproxy.Filter(ctx.StatPrefix(), codec, rc)}, nil
}

// codecConfig names the codec extension after the ApplicationProtocol's
// codec and carries its (empty) config as a TypedStruct, so aeraki needs
// no Go types for a codec that lives only in the user's Envoy build.
func codecConfig(view *model.View) (*corev3.TypedExtensionConfig, error) {
	ap := view.ApplicationProtocol(Protocol)
	if ap == nil {
		return nil, fmt.Errorf("no ApplicationProtocol defines protocol %q; create one whose spec.codec names the AwesomeRPC codec", Protocol)
	}
	if ap.Spec.Codec == "" {
		return nil, fmt.Errorf("ApplicationProtocol %s has an empty spec.codec", ap.Name)
	}
	ts := &xdstype.TypedStruct{TypeUrl: "type.googleapis.com/" + ap.Spec.Codec, Value: &structpb.Struct{}}
	return xds.TypedConfig(ap.Spec.Codec, ts), nil
}

// ValidateObject implements plugin.ObjectValidator: MetaRouters for
// AwesomeRPC ports may only use attribute names the codec understands, the
// protocol's ApplicationProtocol must name a codec, and an AwesomeRPCPolicy
// must name AwesomeRPC services and a valid timeout.
func (*Plugin) ValidateObject(ctx *plugin.ValidateContext, obj model.ObjectInfo) []model.Diagnostic {
	switch o := obj.Object.(type) {
	case *v1alpha1.AwesomeRPCPolicy:
		return validatePolicy(ctx, obj.Ref, o)
	case *metaprotocolv1alpha1.MetaRouter:
		if len(ctx.ClaimedPorts(o.Spec.Hosts, o.Namespace)) == 0 {
			return nil
		}
		var out []model.Diagnostic
		for i, r := range o.Spec.Routes {
			if r.Match == nil {
				continue
			}
			for name := range r.Match.Attributes {
				if !attributeName.MatchString(name) {
					out = append(out, model.Diagnostic{Severity: model.SeverityError, Object: obj.Ref,
						Field: fmt.Sprintf("spec.routes[%d].match.attributes.%s", i, name), Reason: "InvalidRoute",
						Message: fmt.Sprintf("AwesomeRPC properties are lower-case words (%s); %q is not one", attributeName, name)})
				}
			}
		}
		return out
	case *metaprotocolv1alpha1.ApplicationProtocol:
		if model.Protocol(o.Spec.Protocol) == Protocol && o.Spec.Codec == "" {
			return []model.Diagnostic{{Severity: model.SeverityError, Object: obj.Ref, Field: "spec.codec", Reason: "InvalidValue",
				Message: "the AwesomeRPC codec must be named, e.g. awesomerpc.codec.v1.CodecConfig"}}
		}
	}
	return nil
}
