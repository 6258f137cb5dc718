package translate_test

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// sameStruct fails unless the direct conversion of m gives exactly the
// Struct of the JSON round trip (same content, same bytes).
func sameStruct(t *testing.T, what string, m proto.Message) {
	t.Helper()
	want := translate.StructByJSON(m)
	got, err := translate.StructOf(m)
	if err != nil {
		t.Errorf("%s: not converted directly: %v", what, err)
		return
	}
	opts := proto.MarshalOptions{Deterministic: true}
	gb, _ := opts.Marshal(got)
	wb, _ := opts.Marshal(want)
	if !proto.Equal(got, want) || string(gb) != string(wb) {
		t.Errorf("%s: the direct conversion differs from the JSON round trip\ndirect: %v\njson:   %v", what, got, want)
	}
	sameWire(t, what, m, wb)
}

// sameWire fails unless the encoding written straight from m (what unit
// builds publish) is want, proto.Marshal's of the Struct of the JSON round
// trip, byte for byte.
func sameWire(t *testing.T, what string, m proto.Message, want []byte) {
	t.Helper()
	b, err := translate.StructWire(m)
	if err != nil {
		t.Errorf("%s: not encoded directly: %v", what, err)
		return
	}
	if string(b) != string(want) {
		var got structpb.Struct
		derr := proto.Unmarshal(b, &got)
		t.Errorf("%s: the direct encoding differs from proto.Marshal of the Struct (%d bytes, %d wanted)\ndecodes to (%v): %v", what, len(b), len(want), derr, &got)
	}
}

// TestStructOfMatchesTheJSONRoundTrip: on every filter, cluster patch,
// route table and proxy resource that the golden inputs (and the examples)
// translate to, the direct proto -> Struct conversion gives what the JSON
// round trip gives, so EnvoyFilters are byte-identical. And every
// EnvoyFilter's Secret (worked out from the protos) says what redacting its
// Struct patches says.
func TestStructOfMatchesTheJSONRoundTrip(t *testing.T) {
	var inputs []string
	for _, pattern := range []string{"../../plugins/*/testdata/in/*.yaml", "../../examples/*/*.yaml"} {
		m, _ := filepath.Glob(pattern)
		inputs = append(inputs, m...)
	}
	if len(inputs) < 20 {
		t.Fatalf("found only %d golden inputs and examples", len(inputs))
	}
	messages, secrets := 0, 0
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		b := model.NewBuilder(model.Options{Kinds: builtinKinds(t)})
		file.LoadBytes(filepath.Base(in), data, b, file.Options{}) // bad inputs are part of the goldens
		out := builtinTranslator(t).Translate(b.Build())
		name := strings.TrimPrefix(in, "../../")
		check := func(what string, m proto.Message) {
			messages++
			sameStruct(t, name+": "+what, m)
		}
		for _, u := range out.Units {
			if u.RouteConfig != nil {
				check(u.Key+" route config", u.RouteConfig)
			}
			for _, f := range u.Filters {
				check(u.Key+" filter "+f.GetName(), f)
			}
			for _, p := range u.ClusterPatches {
				check(u.Key+" cluster patch "+p.Name, p.Patch)
			}
		}
		for _, ef := range out.EnvoyFilters {
			if redacted := translate.RedactEnvoyFilter(ef) != ef; ef.Secret != redacted {
				t.Errorf("%s: EnvoyFilter %s/%s: Secret is %v, but redacting it changes it: %v", name, ef.Namespace, ef.Name, ef.Secret, redacted)
			}
			if ef.Secret {
				secrets++
			}
		}
		for _, p := range out.Proxies {
			for _, r := range p.Listeners {
				check(p.ID+" listener "+r.Name, r)
			}
			for _, r := range p.Clusters {
				check(p.ID+" cluster "+r.Name, r)
			}
			for _, r := range p.Routes {
				check(p.ID+" route "+r.Name, r)
			}
		}
	}
	if secrets == 0 {
		t.Fatal("no golden EnvoyFilter holds a secret: Secret is not checked")
	}
	if messages < 100 {
		t.Fatalf("compared only %d messages", messages)
	}
	t.Logf("%d inputs, %d messages compared", len(inputs), messages)
}

// TestStructOfEdgeCases reaches each rule of the conversion with values
// the goldens may not have: well-known types in and out of Any, 64-bit
// integers, floats that do not survive a float64 widening, NaN, unknown
// enum numbers, bytes, empty messages.
func TestStructOfEdgeCases(t *testing.T) {
	pack := func(m proto.Message) *anypb.Any {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	st, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", true, nil, map[string]any{"c": -3.0}}, "d": map[string]any{}})
	cases := map[string]proto.Message{
		"durations": &clusterv3.Cluster{ConnectTimeout: durationpb.New(1500 * time.Millisecond), DnsRefreshRate: durationpb.New(-2 * time.Nanosecond),
			CleanupInterval: &durationpb.Duration{Seconds: 3}, DnsJitter: durationpb.New(7 * time.Microsecond)},
		"wrappers and enums": &clusterv3.Cluster{PerConnectionBufferLimitBytes: wrapperspb.UInt32(0), LbPolicy: 99, DnsLookupFamily: clusterv3.Cluster_V6_ONLY,
			RespectDnsTtl: true, AltStatName: "é-ü"},
		"metadata": &clusterv3.Cluster{Metadata: &corev3.Metadata{
			FilterMetadata: map[string]*structpb.Struct{"m": st, "empty": {}},
			TypedFilterMetadata: map[string]*anypb.Any{
				"duration": pack(durationpb.New(time.Second)), "ts": pack(timestamppb.New(time.Unix(1700000000, 120000000))),
				"float": pack(wrapperspb.Float(0.1)), "double": pack(wrapperspb.Double(0.1)), "i64": pack(wrapperspb.Int64(math.MinInt64)),
				"u64": pack(wrapperspb.UInt64(math.MaxUint64)), "bytes": pack(wrapperspb.Bytes([]byte{0, 0xff, 'a'})), "struct": pack(st),
				"value": pack(structpb.NewNullValue()), "list": pack(&structpb.ListValue{}), "empty": pack(&emptypb.Empty{}), "none": {},
				"message": pack(&typev3.Int64Range{Start: -1, End: 1 << 40}),
			}}},
		"doubles": &clusterv3.Cluster{CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{Value: math.NaN()}},
			LbConfig: &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{
				ActiveRequestBias: &corev3.RuntimeDouble{DefaultValue: 1e-7, RuntimeKey: "k"}}}},
		"inf":   &typev3.Percent{Value: math.Inf(-1)},
		"bytes": &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("secret\x00\xfe")}},
		"empty": &clusterv3.Cluster{},
	}
	for name, m := range cases {
		sameStruct(t, name, m)
	}
}

// BenchmarkPatchStruct compares, in one run, the two ways of turning a
// mesh's sidecar filters and cluster patches into EnvoyFilter patch
// Structs (docs/performance.md):
//
//	go test ./internal/translate -run '^$' -bench PatchStruct -benchtime 3x
//
// and the two ways of finding out whether an EnvoyFilter holds a secret.
func BenchmarkPatchStruct(b *testing.B) {
	var docs []string
	for i := range 1000 {
		docs = append(docs, strings.NewReplacer("@NAME@", "svc-"+strconv.Itoa(i), "@ADDR@", "10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1)).Replace(`apiVersion: v1
kind: Service
metadata: {name: @NAME@, namespace: bench}
spec:
  clusterIP: @ADDR@
  selector: {app: @NAME@}
  ports: [{name: tcp-dubbo, port: 20880}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: @NAME@, namespace: bench}
spec:
  host: @NAME@
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: @NAME@, namespace: bench}
spec:
  hosts: [@NAME@]
  routes:
  - {name: hello, match: {attributes: {method: {exact: sayHello}}}, route: [{destination: {host: @NAME@, subset: v2}, weight: 90}, {destination: {host: @NAME@, subset: v1}, weight: 10}]}
  - {name: default, route: [{destination: {host: @NAME@, subset: v1}}]}`))
	}
	bld := model.NewBuilder(model.Options{Kinds: builtinKinds(b)})
	for _, d := range file.LoadBytes("mesh.yaml", []byte(strings.Join(docs, "\n---\n")), bld, file.Options{}) {
		if d.Severity == model.SeverityError {
			b.Fatal(d)
		}
	}
	out := builtinTranslator(b).Translate(bld.Build())
	var msgs []proto.Message
	for _, u := range out.Units {
		for _, f := range u.Filters {
			msgs = append(msgs, f)
		}
		for _, p := range u.ClusterPatches {
			msgs = append(msgs, p.Patch)
		}
	}
	if len(msgs) == 0 || len(out.EnvoyFilters) == 0 {
		b.Fatalf("the mesh translated to no filters: %v", out.Diagnostics)
	}
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				translate.StructByJSON(m)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				if _, err := translate.StructOf(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		// The Anys decoded already, as the gates leave them.
		unpacked := make([]*xds.Unpacked, len(msgs))
		for i, m := range msgs {
			unpacked[i] = xds.NewUnpacked(xds.NewReach())
			unpacked[i].HasSecret(m)
		}
		write := translate.PatchWriter()
		b.ReportAllocs()
		for b.Loop() {
			for i, m := range msgs {
				if _, err := write(m, unpacked[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fidelity-check", func(b *testing.B) {
		build := profile.MustGet(profile.IstioProxy)
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				fidelity.Check(build, m)
			}
		}
	})
	b.Run("secret-by-redacting", func(b *testing.B) {
		for b.Loop() {
			for _, ef := range out.EnvoyFilters {
				_ = translate.RedactEnvoyFilter(ef) != ef
			}
		}
	})
	b.Run("secret-from-protos", func(b *testing.B) {
		for b.Loop() {
			for _, m := range msgs {
				xds.HasSecret(m)
			}
		}
	})
}

// TestEncodedSpecDecodesToTheSpec: the encoding every golden EnvoyFilter
// is published with (written by hand, not by proto.Marshal) decodes to
// its spec; a redacted copy has none of its own (the publisher encodes
// it), so the unredacted bytes are never sent for it.
func TestEncodedSpecDecodesToTheSpec(t *testing.T) {
	inputs, _ := filepath.Glob("../../plugins/*/testdata/in/*.yaml")
	examples, _ := filepath.Glob("../../examples/*/*.yaml")
	inputs = append(inputs, examples...)
	efs, redacted := 0, 0
	opts := proto.MarshalOptions{Deterministic: true}
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		b := model.NewBuilder(model.Options{Kinds: builtinKinds(t)})
		file.LoadBytes(filepath.Base(in), data, b, file.Options{})
		for _, ef := range builtinTranslator(t).Translate(b.Build()).EnvoyFilters {
			efs++
			enc := ef.EncodedSpec()
			if enc == nil {
				t.Errorf("%s: EnvoyFilter %s has no encoding", in, ef.Name)
				continue
			}
			got := &networkingv1alpha3.EnvoyFilter{}
			if err := proto.Unmarshal(enc, got); err != nil {
				t.Errorf("%s: EnvoyFilter %s: encoding does not decode: %v", in, ef.Name, err)
				continue
			}
			gb, _ := opts.Marshal(got)
			wb, _ := opts.Marshal(ef.Spec())
			if !proto.Equal(got, ef.Spec()) || string(gb) != string(wb) {
				t.Errorf("%s: EnvoyFilter %s: the encoding decodes to\n%v\nnot\n%v", in, ef.Name, got, ef.Spec())
			}
			if r := translate.RedactEnvoyFilter(ef); r != ef {
				redacted++
				if r.EncodedSpec() != nil {
					t.Errorf("%s: the redacted copy of %s carries the encoding of the unredacted spec", in, ef.Name)
				}
			}
		}
	}
	if efs < 50 || redacted == 0 {
		t.Fatalf("checked %d EnvoyFilters, %d redacted", efs, redacted)
	}
	t.Logf("%d EnvoyFilters, %d redacted", efs, redacted)
}

// TestEncodedSpecEdgeCases: Structs with every kind of value, long
// strings (lengths of several bytes), empty and nested Structs and lists,
// NaN, a priority below zero: the hand-written encoding decodes to the
// spec.
func TestEncodedSpecEdgeCases(t *testing.T) {
	long := strings.Repeat("x", 70000)
	v, err := structpb.NewStruct(map[string]any{"a": 1.5, "nan": math.NaN(), "neg": math.Inf(-1), "long": long, "t": true, "f": false, "n": nil,
		"s": map[string]any{}, "l": []any{}, "deep": map[string]any{"x": []any{map[string]any{"y": []any{1.0, "z", nil, long}}}}})
	if err != nil {
		t.Fatal(err)
	}
	v.Fields["nilvalue"] = nil
	v.Fields["nilstruct"] = &structpb.Value{Kind: &structpb.Value_StructValue{}}
	v.Fields["nolist"] = &structpb.Value{Kind: &structpb.Value_ListValue{}}
	v.Fields["nokind"] = &structpb.Value{}
	spec := &networkingv1alpha3.EnvoyFilter{Priority: -3, WorkloadSelector: &networkingv1alpha3.WorkloadSelector{Labels: map[string]string{"app": "a"}},
		TargetRefs: []*typev1beta1.PolicyTargetReference{{Kind: "Gateway", Name: "w"}},
		ConfigPatches: []*networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectPatch{
			{ApplyTo: networkingv1alpha3.EnvoyFilter_CLUSTER, Patch: &networkingv1alpha3.EnvoyFilter_Patch{Operation: networkingv1alpha3.EnvoyFilter_Patch_MERGE, Value: v, FilterClass: networkingv1alpha3.EnvoyFilter_Patch_AUTHZ}},
			{ApplyTo: networkingv1alpha3.EnvoyFilter_LISTENER, Match: &networkingv1alpha3.EnvoyFilter_EnvoyConfigObjectMatch{Context: networkingv1alpha3.EnvoyFilter_GATEWAY}},
			{Patch: &networkingv1alpha3.EnvoyFilter_Patch{Value: &structpb.Struct{}}},
		}}
	enc := translate.EncodeSpec(spec)
	if enc == nil {
		t.Fatal("not encoded")
	}
	got := &networkingv1alpha3.EnvoyFilter{}
	if err := proto.Unmarshal(enc, got); err != nil {
		t.Fatal(err)
	}
	opts := proto.MarshalOptions{Deterministic: true}
	gb, _ := opts.Marshal(got)
	wb, _ := opts.Marshal(spec)
	if string(gb) != string(wb) {
		t.Errorf("decoded\n%v\nwant\n%v", got, spec)
	}
	bad := proto.Clone(spec).(*networkingv1alpha3.EnvoyFilter)
	bad.ConfigPatches[0].Patch.Value.Fields["bad"] = structpb.NewStringValue("\xff")
	if translate.EncodeSpec(bad) != nil {
		t.Errorf("a string that is not UTF-8 was encoded (proto.Marshal refuses it)")
	}
}
