package server

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/go-logr/logr"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Cache keys. Envoy config is cached per proxy, not per node: every
// replica of a waypoint shares its Gateway's config, and every proxyless
// client shares one config.
const (
	// mcpKey is the key of the MCP collections, shared by every istiod.
	mcpKey = "mcp"
	// unmatchedKey is the key of nodes no plugin claims. Their Envoy
	// requests are refused (authorize), so no cache holds it; it exists
	// so that go-control-plane's NodeHash never returns "".
	unmatchedKey = "unmatched"
)

// proxyKey is the cache key of one proxy built by one plugin.
func proxyKey(pluginName, id string) string { return pluginName + "|" + id }

// nodeMapper maps a connecting node to the proxy it is, by asking each
// plugin.ProxyBuilder in registry order. It is go-control-plane's NodeHash
// for the Envoy cache. Plugins are trusted with a node for no longer than
// MatchNode: a panic is logged and counts as no match.
type nodeMapper struct {
	builders []namedBuilder
	log      logr.Logger
}

type namedBuilder struct {
	name string
	b    plugin.ProxyBuilder
}

var _ cachev3.NodeHash = (*nodeMapper)(nil)

func newNodeMapper(reg *plugin.Registry, log logr.Logger) *nodeMapper {
	m := &nodeMapper{log: log}
	for _, p := range reg.Plugins() {
		if b, ok := p.(plugin.ProxyBuilder); ok {
			m.builders = append(m.builders, namedBuilder{name: p.Name(), b: b})
		}
	}
	return m
}

// nodeMatch is who a node is.
type nodeMatch struct {
	key     string // cache key
	plugin  string // the ProxyBuilder that claimed it, "" when none did
	proxyID string // the proxy id it was mapped to
}

// builder returns the ProxyBuilder registered under name.
func (m *nodeMapper) builder(name string) plugin.ProxyBuilder {
	for _, nb := range m.builders {
		if nb.name == name {
			return nb.b
		}
	}
	return nil
}

// ID implements cachev3.NodeHash.
func (m *nodeMapper) ID(node *corev3.Node) string { return m.match(node).key }

func (m *nodeMapper) match(node *corev3.Node) nodeMatch {
	for _, nb := range m.builders {
		if id, ok := m.safeMatch(nb, node); ok {
			return nodeMatch{key: proxyKey(nb.name, id), plugin: nb.name, proxyID: id}
		}
	}
	return nodeMatch{key: unmatchedKey}
}

func (m *nodeMapper) safeMatch(nb namedBuilder, node *corev3.Node) (id string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Error(nil, "plugin panicked in MatchNode; the node is treated as not the plugin's", "plugin", nb.name, "node", node.GetId(), "panic", r)
			id, ok = "", false
		}
	}()
	return nb.b.MatchNode(node)
}
