package plugin

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Plugin is the one interface every plugin implements: a name that appears
// in logs, errors and `aeraki plugins`, and the protocols whose ports it
// programs. Everything else is an optional capability, discovered with a
// type assertion, so a plugin implements only what its protocol needs.
type Plugin interface {
	// Name is unique among the plugins of a binary, lower case, such as "dubbo".
	Name() string
	// Protocols lists the protocols the plugin claims, as detected on
	// service ports ("dubbo", "thrift", "trpc"). A plugin may claim
	// [AnyMetaProtocol] to take every tcp-metaprotocol-<name> port no other
	// plugin claims by name.
	Protocols() []model.Protocol
}

// AnyMetaProtocol, returned from Protocols, claims every meta-protocol
// port (tcp-metaprotocol-<name>) that no plugin claims by name. At most one
// plugin of a binary may claim it.
const AnyMetaProtocol model.Protocol = "*"

// RouteConfigBuilder builds the protocol's route table for one service
// port in one role, from the MetaRouters (and, where the protocol honours
// them, VirtualServices) in ctx. It is called before BuildNetworkFilters,
// which finds the result in ctx.RouteConfig.
//
// Routes are kept apart from the filter so `aeraki render` and
// `aeraki trace` can show and follow them, and so a plugin's route logic
// can be tested on its own.
type RouteConfigBuilder interface {
	BuildRouteConfig(ctx *BuildContext) (proto.Message, error)
}

// NetworkFilterBuilder builds the L7 network filters of one service port in
// one role, ending with the terminal filter that replaces tcp_proxy (for
// example generic_proxy with the Dubbo codec). This is the capability that
// makes a plugin do anything; a plugin without it only validates.
//
// Returning an error fails the port closed: its connections are refused
// rather than proxied without the policy the user asked for, and the error
// lands in the status of ctx.Service's objects. Problems with one routing
// object should instead be reported with ctx.Report and the object skipped.
type NetworkFilterBuilder interface {
	BuildNetworkFilters(ctx *BuildContext) ([]*listenerv3.Filter, error)
}

// ObjectValidator checks the protocol-specific rules of an object before
// any config is built: a Thrift plugin refusing a match attribute Thrift
// cannot carry, a Redis plugin checking that a RedisDestination's Secret
// exists. ValidateObject is called for every routing object of the
// snapshot (MetaRouter, VirtualService, ApplicationProtocol, RedisService,
// RedisDestination, DubboAuthorizationPolicy); the plugin ignores the ones
// that do not concern it. An error diagnostic leaves the object out of
// every build, so the rest of the mesh is unaffected by it; a warning keeps
// it.
type ObjectValidator interface {
	ValidateObject(ctx *ValidateContext, obj model.ObjectInfo) []model.Diagnostic
}

// Configurable plugins accept options from the command line
// (`--plugin-option dubbo.filter=dubbo_proxy`). Configure is called once,
// before any build, with the options addressed to this plugin, and only
// when there are some; unknown keys must be an error that lists the known
// ones.
//
// A plugin has one configuration: the Options its constructor takes in Go
// (what a custom build chooses). The command-line keys are another
// spelling of the same fields, applied over them: a key not given keeps
// the constructor's value, so Configure must never reset a field it was
// not given.
type Configurable interface {
	Configure(options map[string]string) error
}

// Describer plugins give `aeraki plugins` a one-line description.
type Describer interface {
	Description() string
}
