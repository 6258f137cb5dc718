package trace

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// selectByFilterChainMatch applies Envoy's filter_chain_match rules: the
// criteria are applied in a fixed order, and at each one only the chains
// that match most specifically survive (a chain that leaves the criterion
// unset survives only when no chain matches it specifically):
//
//  1. destination port           5. application protocols (ALPN)
//  2. destination IP (longest)   6. direct source IP (longest)
//  3. server names (SNI)         7. source type
//  4. transport protocol         8. source IP (longest)
//  9. source port
//
// When a criterion leaves no chain, nothing matches (the listener's
// default_filter_chain applies): a more specific chain earlier in the order
// is never given up for a less specific one that would match later
// criteria.
func selectByFilterChainMatch(chains []*listenerv3.FilterChain, c *conn) (*listenerv3.FilterChain, string) {
	cands := chains
	var why []string
	for _, crit := range criteria {
		var next []*listenerv3.FilterChain
		next, note := crit.narrow(cands, c)
		if note != "" {
			why = append(why, crit.name+": "+note)
		}
		if len(next) == 0 {
			return nil, strings.Join(why, "; ")
		}
		cands = next
	}
	if len(why) == 0 {
		why = append(why, fmt.Sprintf("%s sets no criterion (matches every connection)", chainNames(cands[:1])))
	}
	return cands[0], strings.Join(why, "; ")
}

// criterion is one step of filter chain selection.
type criterion struct {
	name string
	// rank returns -1 when chain m does not match c, 0 when it leaves the
	// criterion unset (matches anything), and a positive specificity when
	// it matches specifically (higher is more specific).
	rank func(m *listenerv3.FilterChainMatch, c *conn) int
}

// narrow keeps the chains with the highest rank, or those leaving the
// criterion unset when no chain matches specifically.
func (cr criterion) narrow(chains []*listenerv3.FilterChain, c *conn) ([]*listenerv3.FilterChain, string) {
	best := 0
	for _, ch := range chains {
		best = max(best, cr.rank(ch.GetFilterChainMatch(), c))
	}
	var out []*listenerv3.FilterChain
	for _, ch := range chains {
		if cr.rank(ch.GetFilterChainMatch(), c) == best {
			out = append(out, ch)
		}
	}
	switch {
	case len(out) == 0:
		return nil, "no chain matches and none leaves it unset"
	case best > 0:
		return out, fmt.Sprintf("%s matched specifically", chainNames(out))
	case len(out) < len(chains):
		return out, fmt.Sprintf("%s left it unset", chainNames(out))
	}
	return out, ""
}

func chainNames(chains []*listenerv3.FilterChain) string {
	names := make([]string, len(chains))
	for i, c := range chains {
		names[i] = c.GetName()
		if names[i] == "" {
			names[i] = fmt.Sprintf("<unnamed #%d>", i)
		}
	}
	return strings.Join(names, ",")
}

var criteria = []criterion{
	{"destination_port", func(m *listenerv3.FilterChainMatch, c *conn) int {
		if m.GetDestinationPort() == nil {
			return 0
		}
		return boolRank(c.dst.IsValid() && m.GetDestinationPort().GetValue() == uint32(c.dst.Port()), 1)
	}},
	{"prefix_ranges (destination IP)", func(m *listenerv3.FilterChainMatch, c *conn) int {
		return prefixRank(m.GetPrefixRanges(), c.dst)
	}},
	{"server_names", func(m *listenerv3.FilterChainMatch, c *conn) int {
		if len(m.GetServerNames()) == 0 {
			return 0
		}
		sni := ""
		if c.tls != nil {
			sni = strings.ToLower(c.tls.sni)
		}
		best := -1
		for _, n := range m.GetServerNames() {
			n = strings.ToLower(n)
			switch {
			case n == sni && sni != "":
				best = max(best, 1000) // an exact name beats every wildcard
			case strings.HasPrefix(n, "*.") && strings.HasSuffix(sni, n[1:]):
				best = max(best, len(n)) // longer wildcard suffix is more specific
			}
		}
		return best
	}},
	{"transport_protocol", func(m *listenerv3.FilterChainMatch, c *conn) int {
		if m.GetTransportProtocol() == "" {
			return 0
		}
		return boolRank(m.GetTransportProtocol() == transportProtocol(c), 1)
	}},
	{"application_protocols", func(m *listenerv3.FilterChainMatch, c *conn) int {
		if len(m.GetApplicationProtocols()) == 0 {
			return 0
		}
		for _, p := range m.GetApplicationProtocols() {
			if c.tls != nil && slices.Contains(c.tls.alpn, p) {
				return 1
			}
		}
		return -1
	}},
	{"direct_source_prefix_ranges", func(m *listenerv3.FilterChainMatch, c *conn) int {
		return prefixRank(m.GetDirectSourcePrefixRanges(), c.src)
	}},
	{"source_type", func(m *listenerv3.FilterChainMatch, c *conn) int {
		local := c.src.IsValid() && (c.src.Addr() == c.dst.Addr() || c.src.Addr().IsLoopback())
		switch m.GetSourceType() {
		case listenerv3.FilterChainMatch_SAME_IP_OR_LOOPBACK:
			return boolRank(local, 1)
		case listenerv3.FilterChainMatch_EXTERNAL:
			return boolRank(!local, 1)
		}
		return 0
	}},
	{"source_prefix_ranges", func(m *listenerv3.FilterChainMatch, c *conn) int {
		return prefixRank(m.GetSourcePrefixRanges(), c.src)
	}},
	{"source_ports", func(m *listenerv3.FilterChainMatch, c *conn) int {
		if len(m.GetSourcePorts()) == 0 {
			return 0
		}
		return boolRank(c.src.IsValid() && slices.Contains(m.GetSourcePorts(), uint32(c.src.Port())), 1)
	}},
}

func boolRank(ok bool, rank int) int {
	if ok {
		return rank
	}
	return -1
}

// prefixRank ranks CIDR ranges by the longest one containing the
// address: longer prefixes are more specific.
func prefixRank(ranges []*corev3.CidrRange, ap netip.AddrPort) int {
	if len(ranges) == 0 {
		return 0
	}
	best := -1
	if !ap.IsValid() {
		return best
	}
	for _, r := range ranges {
		p, err := cidr(r.GetAddressPrefix(), r.GetPrefixLen().GetValue(), r.GetPrefixLen() != nil)
		if err == nil && p.Contains(ap.Addr()) {
			best = max(best, p.Bits()+1) // +1 so that /0 still beats "unset"
		}
	}
	return best
}
