package plugin

import (
	"regexp"
	"strings"
)

// Caller is a class of callers that a proxy can tell apart before it picks
// a protocol plugin's chain, by the caller's identity alone. Exactly one
// field is set.
//
// An aeraki-served waypoint picks its main_internal chain by the HBONE
// peer's SPIFFE id (filter state FilterStatePeerPrincipal, read by Envoy's
// filter-state matching input in the filter_chain_matcher), so a plugin
// whose chain depends on who calls (DubboAuthorizationPolicy rules with
// both from and to) can build one chain per class and be exact per call.
type Caller struct {
	// Principal is one caller's SPIFFE id, "spiffe://<td>/ns/<ns>/sa/<sa>".
	Principal string
	// Namespace is every caller whose SPIFFE id is in this namespace
	// ("spiffe://<any td>/ns/<ns>/sa/<any sa>") and that no Principal class
	// of the same set names: principals are matched first.
	Namespace string
}

// String names the class in chain names, stats and traces:
// "principal:<SPIFFE id>" or "namespace:<ns>".
func (c Caller) String() string {
	if c.Principal != "" {
		return "principal:" + c.Principal
	}
	return "namespace:" + c.Namespace
}

// CallerNamespaceRegex is the RE2 regex (matched in full) of the SPIFFE
// ids of a Namespace class: any trust domain, any service account. Proxies
// match a Namespace class with it, and plugins must check it against the
// proxies' RE2 program size limit before returning the class.
func CallerNamespaceRegex(ns string) string {
	return `spiffe://[^/]+/ns/` + regexp.QuoteMeta(ns) + `/sa/[^/]+`
}

// CallerNamespace is the namespace of a SPIFFE id
// ("spiffe://<td>/ns/<ns>/sa/<sa>"), and false for an id of another form.
func CallerNamespace(spiffeID string) (string, bool) {
	rest, ok := strings.CutPrefix(spiffeID, "spiffe://")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[0] == "" || parts[1] != "ns" || parts[2] == "" || parts[3] != "sa" || parts[4] == "" {
		return "", false
	}
	return parts[2], true
}

// CallerClassifier is implemented by protocol plugins whose chain for a
// port differs by caller class, on proxies that pick chains by caller
// (L7Request.ByCaller). The core asks it once per port, on the build of
// the default chain (BuildContext.ByCaller set, Caller nil), and then
// builds one chain per class it returns with BuildContext.Caller set.
// Return nil when one chain is exact for every caller: the proxy then
// gets one chain, as without ByCaller.
type CallerClassifier interface {
	// CallerClasses lists the classes that need a chain of their own, in
	// the order the proxy must try them (principals first). Keep the list
	// bounded by the objects that ask for it (one class per distinct
	// principal or namespace named), never by traffic.
	CallerClasses(ctx *BuildContext) []Caller
}
