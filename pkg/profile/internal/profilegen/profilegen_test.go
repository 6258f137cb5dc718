package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aeraki-ng/aeraki/pkg/profile"
)

const istioShape = `ENVOY_EXTENSIONS = {
    # Network filters
    "envoy.filters.network.dubbo_proxy":   "//source/extensions/filters/network/dubbo_proxy:config",
    # "envoy.filters.network.commented_out": "//x:config",
    "envoy.transport_sockets.tcp_stats":   "//source/extensions/transport_sockets/tcp_stats:config",
    # Disabled by default
    "envoy.filters.http.kill_request":     "//source/extensions/filters/http/kill_request:kill_request_config",
}

ENVOY_CONTRIB_EXTENSIONS = {
    "envoy.filters.network.mysql_proxy":   "//contrib/mysql_proxy/filters/network/source:config",
    "envoy.filters.network.kafka_broker":  "//contrib/kafka/filters/network/source:kafka_broker_config_lib",
}

ISTIO_DISABLED_EXTENSIONS = [
    # kernel >= 4.6
    "envoy.transport_sockets.tcp_stats",
]

ISTIO_ENABLED_CONTRIB_EXTENSIONS = [
    "envoy.filters.network.mysql_proxy",
    # "envoy.filters.network.kafka_broker",
]

EXTENSIONS = dict([(k,v) for k,v in ENVOY_EXTENSIONS.items() if not k in ISTIO_DISABLED_EXTENSIONS])
EXTENSION_CONFIG_VISIBILITY = ["//visibility:public"]
`

const envoyShape = `# See bazel/README.md for details on how this system works.
EXTENSIONS = {
    "envoy.filters.network.generic_proxy":  "//source/extensions/filters/network/generic_proxy:config",
    "envoy.generic_proxy.codecs.dubbo":     "//source/extensions/filters/network/generic_proxy/codecs/dubbo:config",
}
`

// TestBuildExtensionsReadsBothShapes reads istio/proxy's shape (with its
// disabled and contrib lists) and upstream Envoy's.
func TestBuildExtensionsReadsBothShapes(t *testing.T) {
	got, err := buildExtensions(istioShape)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "envoy.filters.network.dubbo_proxy,envoy.filters.network.mysql_proxy" {
		t.Errorf("istio/proxy shape: %v", got)
	}
	got, err = buildExtensions(envoyShape)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "envoy.filters.network.generic_proxy,envoy.generic_proxy.codecs.dubbo" {
		t.Errorf("Envoy shape: %v", got)
	}
	if _, err := buildExtensions("FOO = 1\n"); err == nil {
		t.Error("a file with no extension dict is not an error")
	}
}

// TestExtensionTypesFollowsTheAPITags maps a small proto tree: a
// file-level tag, message-level tags, an untagged sub-package of a tagged
// extension, a v2 file and a core file.
func TestExtensionTypesFollowsTheAPITags(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("envoy/extensions/filters/network/gp/v3/gp.proto", `syntax = "proto3";
package envoy.extensions.filters.network.gp.v3;
option go_package = "x";

// [#protodoc-title: GP]
// [#extension: envoy.filters.network.gp]

// The filter. { braces in comments are ignored }
message GP {
  string name = 1; // "}" in a comment
  message Nested {}
}

message Other {}
`)
	write("envoy/extensions/filters/network/gp/matcher/v3/m.proto", `syntax = "proto3";
package envoy.extensions.filters.network.gp.matcher.v3;
message HostInput {}
`)
	write("envoy/extensions/filters/network/gp/codecs/dubbo/v3/d.proto", `syntax = "proto3";
package envoy.extensions.filters.network.gp.codecs.dubbo.v3;
// [#extension: envoy.gp.codecs.dubbo]

message DubboCodec {}
`)
	write("envoy/extensions/matching/inputs/v3/in.proto", `syntax = "proto3";
package envoy.extensions.matching.inputs.v3;
// The destination IP.
// [#extension: envoy.matching.inputs.destination_ip]
message DestinationIPInput {}

// [#extension: envoy.matching.inputs.source_ip]
message SourceIPInput {}
`)
	write("envoy/config/filter/network/gp/v2/old.proto", `syntax = "proto3";
package envoy.config.filter.network.gp.v2;
// [#extension: envoy.filters.network.gp]

message OldGP {}
`)
	write("envoy/config/core/v3/base.proto", `syntax = "proto3";
package envoy.config.core.v3;
message Metadata {}
`)
	got, err := extensionTypes(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"envoy.filters.network.gp":             "envoy.extensions.filters.network.gp.matcher.v3.HostInput,envoy.extensions.filters.network.gp.v3.GP,envoy.extensions.filters.network.gp.v3.Other",
		"envoy.gp.codecs.dubbo":                "envoy.extensions.filters.network.gp.codecs.dubbo.v3.DubboCodec",
		"envoy.matching.inputs.destination_ip": "envoy.extensions.matching.inputs.v3.DestinationIPInput",
		"envoy.matching.inputs.source_ip":      "envoy.extensions.matching.inputs.v3.SourceIPInput",
	}
	if len(got) != len(want) {
		t.Errorf("got %d extensions, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if strings.Join(got[k], ",") != v {
			t.Errorf("%s: %v, want %s", k, got[k], v)
		}
	}
}

// TestRunWritesAProfileThatParses runs the generator end to end.
func TestRunWritesAProfileThatParses(t *testing.T) {
	dir := t.TempDir()
	bzl := filepath.Join(dir, "x.bzl")
	if err := os.WriteFile(bzl, []byte(envoyShape), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p.yaml")
	err := run([]string{"-name", "test", "-description", "a test build", "-source", "extension list|example.com/envoy|x.bzl|abc123|2026-01-01|", "-bzl", bzl, "-o", out})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Has("envoy.filters.network.generic_proxy") || !strings.HasPrefix(string(b), "# Profile test: generated") {
		t.Errorf("unexpected output:\n%s", b)
	}
	if err := run([]string{"-name", "test", "-description", "d", "-source", "bad", "-bzl", bzl}); err == nil {
		t.Error("a malformed -source is not an error")
	}
}
