package trace

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Each test names the filter_chain_match rule of Envoy's listener it
// checks (docs: "Filter chain match" in the listener architecture
// overview): criteria in a fixed order, most specific match per criterion,
// no fallback to a less specific chain once a criterion has narrowed.

func pick(t *testing.T, c *conn, chains ...*listenerv3.FilterChain) string {
	t.Helper()
	ch, _ := selectByFilterChainMatch(chains, c)
	if ch == nil {
		return ""
	}
	return ch.GetName()
}

func TestFilterChainMatch_DestinationPortBeatsSourceIP(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("by-source", &listenerv3.FilterChainMatch{SourcePrefixRanges: cidrs("10.0.0.1/32")}),
		namedChain("by-port", &listenerv3.FilterChainMatch{DestinationPort: port(80)}),
	}
	if got := pick(t, connTo("10.0.0.1:1234", "10.1.1.1:80"), chains...); got != "by-port" {
		t.Fatalf("got %q: destination port is the first criterion, so it must win over a matching source IP", got)
	}
}

func TestFilterChainMatch_NoFallbackAfterMoreSpecificCriterion(t *testing.T) {
	// Port 80 narrows to "port-80-from-a"; its source range then fails.
	// Envoy does not fall back to the catch-all chain: nothing matches.
	chains := []*listenerv3.FilterChain{
		namedChain("port-80-from-a", &listenerv3.FilterChainMatch{DestinationPort: port(80), SourcePrefixRanges: cidrs("10.0.0.1/32")}),
		namedChain("catch-all", nil),
	}
	if got := pick(t, connTo("10.9.9.9:1234", "10.1.1.1:80"), chains...); got != "" {
		t.Fatalf("got %q, want no chain (default_filter_chain)", got)
	}
	if got := pick(t, connTo("10.9.9.9:1234", "10.1.1.1:81"), chains...); got != "catch-all" {
		t.Fatalf("got %q on another port, want catch-all", got)
	}
}

func TestFilterChainMatch_DestinationIPLongestPrefix(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("wide", &listenerv3.FilterChainMatch{PrefixRanges: cidrs("10.0.0.0/8")}),
		namedChain("narrow", &listenerv3.FilterChainMatch{PrefixRanges: cidrs("10.1.0.0/16")}),
		namedChain("any", nil),
	}
	if got := pick(t, connTo("1.1.1.1:1", "10.1.2.3:80"), chains...); got != "narrow" {
		t.Fatalf("got %q, want the longest destination prefix", got)
	}
	if got := pick(t, connTo("1.1.1.1:1", "192.168.0.1:80"), chains...); got != "any" {
		t.Fatalf("got %q, want the chain without prefix_ranges", got)
	}
}

func TestFilterChainMatch_ServerNameExactBeatsWildcard(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("wildcard", &listenerv3.FilterChainMatch{ServerNames: []string{"*.example.com"}}),
		namedChain("exact", &listenerv3.FilterChainMatch{ServerNames: []string{"api.example.com"}}),
		namedChain("no-sni", nil),
	}
	c := connTo("1.1.1.1:1", "2.2.2.2:443")
	c.tls = &tlsInfo{sni: "api.example.com"}
	if got := pick(t, c, chains...); got != "exact" {
		t.Fatalf("got %q, want exact server name", got)
	}
	c.tls.sni = "www.example.com"
	if got := pick(t, c, chains...); got != "wildcard" {
		t.Fatalf("got %q, want wildcard server name", got)
	}
}

func TestFilterChainMatch_TransportProtocolThenApplicationProtocols(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("tls-h2", &listenerv3.FilterChainMatch{TransportProtocol: "tls", ApplicationProtocols: []string{"h2"}}),
		namedChain("tls", &listenerv3.FilterChainMatch{TransportProtocol: "tls"}),
		namedChain("plain", nil),
	}
	c := connTo("1.1.1.1:1", "2.2.2.2:443")
	if got := pick(t, c, chains...); got != "plain" {
		t.Fatalf("plaintext: got %q", got)
	}
	c.tls = &tlsInfo{alpn: []string{"h2"}}
	if got := pick(t, c, chains...); got != "tls-h2" {
		t.Fatalf("tls+h2: got %q", got)
	}
	c.tls = &tlsInfo{alpn: []string{"http/1.1"}}
	if got := pick(t, c, chains...); got != "tls" {
		t.Fatalf("tls+http/1.1: got %q", got)
	}
}

func TestFilterChainMatch_DirectSourceIPBeforeSourceType(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("local", &listenerv3.FilterChainMatch{SourceType: listenerv3.FilterChainMatch_SAME_IP_OR_LOOPBACK}),
		namedChain("direct", &listenerv3.FilterChainMatch{DirectSourcePrefixRanges: cidrs("127.0.0.0/8")}),
	}
	if got := pick(t, connTo("127.0.0.1:1", "127.0.0.1:80"), chains...); got != "direct" {
		t.Fatalf("got %q: direct source IP is checked before source type", got)
	}
}

func TestFilterChainMatch_SourceTypeLocalVsExternal(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("local", &listenerv3.FilterChainMatch{SourceType: listenerv3.FilterChainMatch_SAME_IP_OR_LOOPBACK}),
		namedChain("external", &listenerv3.FilterChainMatch{SourceType: listenerv3.FilterChainMatch_EXTERNAL}),
	}
	if got := pick(t, connTo("10.0.0.1:1", "10.0.0.1:80"), chains...); got != "local" {
		t.Fatalf("same IP: got %q", got)
	}
	if got := pick(t, connTo("10.0.0.2:1", "10.0.0.1:80"), chains...); got != "external" {
		t.Fatalf("other IP: got %q", got)
	}
}

func TestFilterChainMatch_SourceIPLongestPrefixThenSourcePort(t *testing.T) {
	chains := []*listenerv3.FilterChain{
		namedChain("net", &listenerv3.FilterChainMatch{SourcePrefixRanges: cidrs("10.0.0.0/24")}),
		namedChain("host", &listenerv3.FilterChainMatch{SourcePrefixRanges: cidrs("10.0.0.7/32")}),
		namedChain("host-port", &listenerv3.FilterChainMatch{SourcePrefixRanges: cidrs("10.0.0.7/32"), SourcePorts: []uint32{5555}}),
	}
	if got := pick(t, connTo("10.0.0.7:5555", "1.1.1.1:80"), chains...); got != "host-port" {
		t.Fatalf("got %q, want the host range, then the exact source port", got)
	}
	if got := pick(t, connTo("10.0.0.7:4444", "1.1.1.1:80"), chains...); got != "host" {
		t.Fatalf("got %q, want the host range without source port", got)
	}
	if got := pick(t, connTo("10.0.0.8:4444", "1.1.1.1:80"), chains...); got != "net" {
		t.Fatalf("got %q, want the network range", got)
	}
}

func TestFilterChainMatch_DefaultFilterChainWhenNothingMatches(t *testing.T) {
	l := portListener("l", 15001, namedChain("only-81", &listenerv3.FilterChainMatch{DestinationPort: port(81)}, tcp("c")))
	l.DefaultFilterChain = namedChain("default", nil, tcp("c"))
	c := connTo("1.1.1.1:1", "2.2.2.2:80")
	c.listener = l
	ch, why, err := selectChain(c)
	if err != nil || ch.GetName() != "default" {
		t.Fatalf("got %v (%s, %v), want default_filter_chain", ch.GetName(), why, err)
	}
}
