package hbone

import (
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	sfsvaluev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/set_filter_state/v3"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// connectTerminateListener is the waypoint's HBONE entry on 15008: mTLS
// with the waypoint's identity (client certificate required), HTTP/2
// CONNECT terminated, and the stream handed to main_internal with the
// :authority as the destination the internal listener restores and the
// HBONE peer's address as the source.
func (w *waypoint) connectTerminateListener() *listenerv3.Listener {
	// The caller's SPIFFE id travels with the stream as a string object,
	// so protocol plugins' RBAC in main_internal can check who calls.
	principal := stateValue(plugin.FilterStatePeerPrincipal, formatDownstreamPeerURISAN)
	principal.FactoryKey = factoryString
	state := []*sfsvaluev3.FilterStateValue{
		stateValue(FilterStateLocalIP, formatAuthority),
		stateValue(FilterStateRemoteIP, formatDownstreamRemote),
		principal,
	}
	c := chain("default", connectTerminate(ListenerConnectTerminate, ListenerConnectTerminate, []string{"*"}, ClusterMainInternal, state))
	c.TransportSocket = serverTLS(w.identity, w.td)
	return &listenerv3.Listener{
		Name:         ListenerConnectTerminate,
		Address:      socketAddress("0.0.0.0", PortHBONE),
		FilterChains: []*listenerv3.FilterChain{c},
	}
}

// mainInternalListener is the waypoint's main_internal: an internal
// listener whose matcher picks, by destination IP and port, the chain of
// the bound service port (inbound-vip|<port>|<proto>|<host>), or the
// direct-tcp chain for a bound workload's own IP. Destinations it does
// not know match no chain and are closed.
func (w *waypoint) mainInternalListener() *listenerv3.Listener {
	var chains []*listenerv3.FilterChain
	var ranges []ipRange
	for _, s := range w.services {
		ports := map[uint32]*xdsmatcher.Matcher_OnMatch{}
		for _, p := range s.ports {
			chains = append(chains, p.chain)
			for _, v := range p.callers {
				chains = append(chains, v.chain)
			}
			ports[p.port.Number] = byCaller(p)
		}
		if m := portMatcher(inputDestinationPort(), ports, nil); m != nil {
			ranges = append(ranges, ipRange{ips: s.svc.Addresses, onMatch: toMatcher(m)})
		}
	}
	if len(w.workloads) > 0 {
		chains = append(chains, chain(ChainDirectTCP, setFilterState(carryDestination()), tcpProxy(ChainDirectTCP, ClusterEncap)))
		ranges = append(ranges, ipRange{ips: w.workloads, onMatch: toChain(ChainDirectTCP)})
	}
	if len(chains) == 0 {
		return internalListener(ListenerMainInternal, []*listenerv3.FilterChain{chain(ChainBlackHole, tcpProxy(ChainBlackHole, ClusterBlackHole))})
	}
	l := internalListener(ListenerMainInternal, chains)
	l.FilterChainMatcher = ipMatcher(inputDestinationIP(), ranges, nil)
	return l
}

// byCaller picks a port's chain by the caller's SPIFFE id, which
// connect_terminate put in filter state FilterStatePeerPrincipal (shared
// with the internal connection, which carries it into main_internal
// before its filter_chain_matcher runs: docs/ambient.md): the exact
// principals first, then the namespaces in order, then the port's default
// chain. A port without caller classes goes straight to its chain.
func byCaller(p *wpPort) *xdsmatcher.Matcher_OnMatch {
	if len(p.callers) == 0 {
		return toChain(p.chain.Name)
	}
	exact := map[string]*xdsmatcher.Matcher_OnMatch{}
	var namespaces []*xdsmatcher.Matcher_MatcherList_FieldMatcher
	for _, v := range p.callers {
		if v.caller.Principal != "" {
			exact[v.caller.Principal] = toChain(v.chain.Name)
			continue
		}
		namespaces = append(namespaces, &xdsmatcher.Matcher_MatcherList_FieldMatcher{
			Predicate: &xdsmatcher.Matcher_MatcherList_Predicate{MatchType: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_{SinglePredicate: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate{
				Input:   inputPeerPrincipal(),
				Matcher: &xdsmatcher.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: namespaceIDMatcher(v.caller.Namespace)},
			}}},
			OnMatch: toChain(v.chain.Name),
		})
	}
	fallback := toChain(p.chain.Name)
	if len(namespaces) > 0 {
		fallback = toMatcher(&xdsmatcher.Matcher{
			MatcherType: &xdsmatcher.Matcher_MatcherList_{MatcherList: &xdsmatcher.Matcher_MatcherList{Matchers: namespaces}},
			OnNoMatch:   fallback,
		})
	}
	if len(exact) == 0 {
		return fallback
	}
	return toMatcher(&xdsmatcher.Matcher{
		MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{
			Input:    inputPeerPrincipal(),
			TreeType: &xdsmatcher.Matcher_MatcherTree_ExactMatchMap{ExactMatchMap: &xdsmatcher.Matcher_MatcherTree_MatchMap{Map: exact}},
		}},
		OnNoMatch: fallback,
	})
}

// namespaceIDMatcher matches the SPIFFE ids of a namespace, in any trust
// domain, as DubboAuthorizationPolicy's namespaces do.
func namespaceIDMatcher(ns string) *xdsmatcher.StringMatcher {
	return &xdsmatcher.StringMatcher{MatchPattern: &xdsmatcher.StringMatcher_SafeRegex{SafeRegex: &xdsmatcher.RegexMatcher{
		EngineType: &xdsmatcher.RegexMatcher_GoogleRe2{GoogleRe2: &xdsmatcher.RegexMatcher_GoogleRE2{}},
		Regex:      plugin.CallerNamespaceRegex(ns),
	}}}
}

// connectOriginateListener opens HBONE to the endpoint the chosen
// inbound-vip cluster put in the connection's metadata (or, for
// direct-tcp, in filter state): <pod IP>:15008 with :authority
// <pod IP>:<target port>.
func (w *waypoint) connectOriginateListener() *listenerv3.Listener {
	return internalListener(ListenerConnectOriginate, []*listenerv3.FilterChain{
		chain("default", tunnelProxy(ClusterConnectOriginate, ClusterConnectOriginate)),
	})
}
