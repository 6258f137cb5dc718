package redis

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aeraki-ng/aeraki/api/conditions"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// The kinds the plugin reads, by group and kind.
var (
	// RedisServiceKind is redis.aeraki.io's RedisService.
	RedisServiceKind = schema.GroupKind{Group: redisv1alpha1.GroupName, Kind: "RedisService"}
	// RedisDestinationKind is redis.aeraki.io's RedisDestination.
	RedisDestinationKind = schema.GroupKind{Group: redisv1alpha1.GroupName, Kind: "RedisDestination"}
)

var _ plugin.KindProvider = (*Plugin)(nil)

// Kinds implements plugin.KindProvider: RedisService (routing, indexed by
// spec.host) and RedisDestination (indexed by its one host), both with
// status.
func (*Plugin) Kinds() []model.Kind {
	gv := redisv1alpha1.SchemeGroupVersion
	return []model.Kind{
		{GVK: gv.WithKind(RedisServiceKind.Kind), Resource: "redisservices", Namespaced: true,
			New: func() runtime.Object { return &redisv1alpha1.RedisService{} }, AddToScheme: redisv1alpha1.AddToScheme,
			Routing: true, Hosts: func(o runtime.Object) []string { return o.(*redisv1alpha1.RedisService).Spec.Host },
			Status: func(o runtime.Object) *conditions.Status { return &o.(*redisv1alpha1.RedisService).Status }},
		{GVK: gv.WithKind(RedisDestinationKind.Kind), Resource: "redisdestinations", Namespaced: true,
			New: func() runtime.Object { return &redisv1alpha1.RedisDestination{} }, AddToScheme: redisv1alpha1.AddToScheme,
			Routing: true, Hosts: func(o runtime.Object) []string { return []string{o.(*redisv1alpha1.RedisDestination).Spec.Host} },
			Status: func(o runtime.Object) *conditions.Status { return &o.(*redisv1alpha1.RedisDestination).Status }},
	}
}

// RedisServices returns the RedisServices that name a hostname, oldest
// first; the read is tracked like every model lookup.
func RedisServices(v *model.View, hostname string) []*redisv1alpha1.RedisService {
	return model.ForHost[*redisv1alpha1.RedisService](v, RedisServiceKind, hostname)
}

// RedisDestinations returns the RedisDestinations for a hostname, oldest first.
func RedisDestinations(v *model.View, hostname string) []*redisv1alpha1.RedisDestination {
	return model.ForHost[*redisv1alpha1.RedisDestination](v, RedisDestinationKind, hostname)
}
