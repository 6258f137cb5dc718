package builtin

import (
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/plugins/dubbo"
	"github.com/aeraki-ng/aeraki/plugins/hbone"
	"github.com/aeraki-ng/aeraki/plugins/metaprotocol"
	"github.com/aeraki-ng/aeraki/plugins/proxyless"
	"github.com/aeraki-ng/aeraki/plugins/redis"
	"github.com/aeraki-ng/aeraki/plugins/thrift"
)

// Plugins returns fresh instances of the default plugins, with their
// default options.
func Plugins() []plugin.Plugin {
	d, err := dubbo.New(dubbo.Options{})
	if err != nil {
		panic(err) // the zero Options are valid; an error is a bug here
	}
	return []plugin.Plugin{d, thrift.New(), redis.New(), metaprotocol.New(metaprotocol.Options{}), hbone.New(), proxyless.New()}
}

// Without returns plugins minus the ones named: the default set without
// hbone is Without(Plugins(), "hbone").
func Without(plugins []plugin.Plugin, names ...string) []plugin.Plugin {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []plugin.Plugin
	for _, p := range plugins {
		if !drop[p.Name()] {
			out = append(out, p)
		}
	}
	return out
}

// With returns the default plugins with the given ones added; a given
// plugin replaces the builtin of the same name (a custom build's own dubbo
// plugin), so the set never has two owners for one name.
func With(plugins ...plugin.Plugin) []plugin.Plugin {
	names := make([]string, len(plugins))
	for i, p := range plugins {
		names[i] = p.Name()
	}
	return append(Without(Plugins(), names...), plugins...)
}
