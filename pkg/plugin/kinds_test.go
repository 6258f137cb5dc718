package plugin_test

import (
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// kinded is a plugin that brings kinds.
type kinded struct {
	name  string
	kinds []model.Kind
}

func (k kinded) Name() string                { return k.name }
func (k kinded) Protocols() []model.Protocol { return nil }
func (k kinded) Kinds() []model.Kind         { return k.kinds }

func cacheKind() model.Kind {
	return model.Kind{GVK: redisv1alpha1.SchemeGroupVersion.WithKind("RedisService"), Resource: "redisservices", Namespaced: true,
		New: func() runtime.Object { return &redisv1alpha1.RedisService{} }, AddToScheme: redisv1alpha1.AddToScheme, Routing: true}
}

func TestRegistryCollectsKinds(t *testing.T) {
	reg, err := plugin.NewRegistry(kinded{name: "a", kinds: []model.Kind{cacheKind()}}, kinded{name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Kinds(); len(got) != 1 || got[0].GroupKind() != cacheKind().GroupKind() {
		t.Fatalf("Kinds() = %v", got)
	}
	if o := reg.KindOwner(cacheKind().GroupKind()); o == nil || o.Name() != "a" {
		t.Fatalf("KindOwner = %v, want plugin a", o)
	}
	if o := reg.Bind(model.Options{}); len(o.Kinds) != 1 || o.Protocols == nil {
		t.Fatalf("Bind = %+v, want the kinds and the registry's claims", o)
	}
}

func TestRegistryRefusesKindConflicts(t *testing.T) {
	core := model.Kind{GVK: networkingv1.SchemeGroupVersion.WithKind("DestinationRule"), Resource: "destinationrules", Namespaced: true,
		New: func() runtime.Object { return &networkingv1.DestinationRule{} }, AddToScheme: networkingv1.AddToScheme}
	incomplete := cacheKind()
	incomplete.Resource = ""
	for _, c := range []struct {
		name    string
		plugins []plugin.Plugin
		want    string
	}{
		{"two owners", []plugin.Plugin{kinded{name: "a", kinds: []model.Kind{cacheKind()}}, kinded{name: "b", kinds: []model.Kind{cacheKind()}}},
			`kind RedisService.redis.aeraki.io is brought by both "a" and "b"`},
		{"a core kind", []plugin.Plugin{kinded{name: "a", kinds: []model.Kind{core}}}, "which the core reads already"},
		{"incomplete", []plugin.Plugin{kinded{name: "a", kinds: []model.Kind{incomplete}}}, "Resource (the plural name) is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := plugin.NewRegistry(c.plugins...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewRegistry: %v, want an error containing %q", err, c.want)
			}
		})
	}
}
