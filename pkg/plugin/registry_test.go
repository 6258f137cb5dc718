package plugin_test

import (
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

type named struct {
	name   string
	protos []model.Protocol
}

func (n named) Name() string                { return n.name }
func (n named) Protocols() []model.Protocol { return n.protos }

func TestRegistryRefusesAmbiguity(t *testing.T) {
	cases := map[string]struct {
		plugins []plugin.Plugin
		want    string
	}{
		"same protocol": {[]plugin.Plugin{named{"a", []model.Protocol{"x"}}, named{"b", []model.Protocol{"x"}}}, `protocol "x" is claimed by both "a" and "b"`},
		"two wildcards": {[]plugin.Plugin{named{"a", []model.Protocol{plugin.AnyMetaProtocol}}, named{"b", []model.Protocol{plugin.AnyMetaProtocol}}}, "both claim every meta-protocol"},
		"bad name":      {[]plugin.Plugin{named{"Dubbo Plugin", nil}}, "invalid name"},
		"nil plugin":    {[]plugin.Plugin{nil}, "nil plugin"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := plugin.NewRegistry(c.plugins...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRegistryForPort(t *testing.T) {
	reg, err := plugin.NewRegistry(named{"dubbo", []model.Protocol{"dubbo"}}, named{"meta", []model.Protocol{plugin.AnyMetaProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, app, want string }{
		{"tcp-dubbo", "", "dubbo"},
		{"tcp-metaprotocol-dubbo", "", "dubbo"},
		{"tcp-metaprotocol-trpc-server", "", "meta"},
		{"http", "", ""},
		{"tcp-thrift", "", ""},
		{"web", "dubbo", "dubbo"},
	} {
		port := &model.Port{Name: c.name, ProtocolInfo: model.DetectProtocol(c.name, c.app)}
		got := ""
		if p := reg.ForPort(port); p != nil {
			got = p.Name()
		}
		if got != c.want {
			t.Errorf("port %s (appProtocol %q): owner %q, want %q", c.name, c.app, got, c.want)
		}
	}
}

func TestConfigureRoutesOptions(t *testing.T) {
	reg, _ := plugin.NewRegistry(named{"dubbo", nil})
	for opt, want := range map[string]string{
		"filter=x":      "write it as <plugin>.<key>=<value>",
		"thrift.filter": "no plugin named \"thrift\"",
		"dubbo.filter":  "takes no options",
	} {
		k, v, _ := strings.Cut(opt, "=")
		if err := reg.Configure(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("option %s: got %v, want %q", opt, err, want)
		}
	}
}
