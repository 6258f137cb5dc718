package model

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// Group/kinds of the core kinds the indexer treats specially (services,
// workloads, waypoints) or the core's own lookups read.
var (
	gkService             = schema.GroupKind{Kind: "Service"}
	gkDestinationRule     = schema.GroupKind{Group: "networking.istio.io", Kind: "DestinationRule"}
	gkVirtualService      = schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}
	gkMetaRouter          = schema.GroupKind{Group: "metaprotocol.aeraki.io", Kind: "MetaRouter"}
	gkApplicationProtocol = schema.GroupKind{Group: "metaprotocol.aeraki.io", Kind: "ApplicationProtocol"}
)

// istioVersions are the served versions of Istio's networking kinds; their
// schemas are identical, so files may use any.
var istioVersions = []string{"v1alpha3", "v1beta1"}

// CoreKinds are the kinds the core reads whatever plugins are built in:
// Kubernetes' services, endpoints, pods, namespaces and secrets, Istio's
// networking kinds, Gateway API's Gateways and aeraki's generic routing
// kinds (MetaRouter, ApplicationProtocol). Protocol-specific kinds come
// from the plugins that read them (plugin.KindProvider).
func CoreKinds() []Kind {
	return []Kind{
		{GVK: v1("", "Namespace"), Resource: "namespaces", New: func() runtime.Object { return &corev1.Namespace{} }, AddToScheme: corev1.AddToScheme},
		{GVK: v1("", "Service"), Resource: "services", Namespaced: true, New: func() runtime.Object { return &corev1.Service{} }, AddToScheme: corev1.AddToScheme,
			Trim: trimService},
		{GVK: v1("", "Pod"), Resource: "pods", Namespaced: true, New: func() runtime.Object { return &corev1.Pod{} }, AddToScheme: corev1.AddToScheme,
			ReadStatus: []string{"podIP", "podIPs", "phase"}, Trim: trimPod},
		{GVK: v1("", "Secret"), Resource: "secrets", Namespaced: true, New: func() runtime.Object { return &corev1.Secret{} }, AddToScheme: corev1.AddToScheme},
		{GVK: v1("discovery.k8s.io", "EndpointSlice"), Resource: "endpointslices", Namespaced: true, New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, AddToScheme: discoveryv1.AddToScheme,
			Trim: trimEndpointSlice},
		{GVK: v1("networking.istio.io", "ServiceEntry"), FileVersions: istioVersions, Resource: "serviceentries", Namespaced: true,
			New: func() runtime.Object { return &networkingv1.ServiceEntry{} }, AddToScheme: networkingv1.AddToScheme},
		{GVK: v1("networking.istio.io", "WorkloadEntry"), FileVersions: istioVersions, Resource: "workloadentries", Namespaced: true,
			New: func() runtime.Object { return &networkingv1.WorkloadEntry{} }, AddToScheme: networkingv1.AddToScheme},
		{GVK: v1("networking.istio.io", "DestinationRule"), FileVersions: istioVersions, Resource: "destinationrules", Namespaced: true,
			New: func() runtime.Object { return &networkingv1.DestinationRule{} }, AddToScheme: networkingv1.AddToScheme,
			Routing: true, Hosts: func(o runtime.Object) []string { return []string{o.(*networkingv1.DestinationRule).Spec.Host} }},
		{GVK: v1("networking.istio.io", "VirtualService"), FileVersions: istioVersions, Resource: "virtualservices", Namespaced: true,
			New: func() runtime.Object { return &networkingv1.VirtualService{} }, AddToScheme: networkingv1.AddToScheme,
			Routing: true, Hosts: func(o runtime.Object) []string { return o.(*networkingv1.VirtualService).Spec.Hosts }},
		{GVK: v1("gateway.networking.k8s.io", "GatewayClass"), FileVersions: []string{"v1beta1"}, Resource: "gatewayclasses",
			New: func() runtime.Object { return &gatewayv1.GatewayClass{} }, AddToScheme: gatewayv1.AddToScheme},
		{GVK: v1("gateway.networking.k8s.io", "Gateway"), FileVersions: []string{"v1beta1"}, Resource: "gateways", Namespaced: true,
			New: func() runtime.Object { return &gatewayv1.Gateway{} }, AddToScheme: gatewayv1.AddToScheme, ReadStatus: []string{"addresses"}},
		{GVK: metaprotocolv1alpha1.SchemeGroupVersion.WithKind("MetaRouter"), Resource: "metarouters", Namespaced: true,
			New: func() runtime.Object { return &metaprotocolv1alpha1.MetaRouter{} }, AddToScheme: metaprotocolv1alpha1.AddToScheme,
			Routing: true, Hosts: func(o runtime.Object) []string { return o.(*metaprotocolv1alpha1.MetaRouter).Spec.Hosts },
			Status: func(o runtime.Object) *conditions.Status { return &o.(*metaprotocolv1alpha1.MetaRouter).Status }},
		{GVK: metaprotocolv1alpha1.SchemeGroupVersion.WithKind("ApplicationProtocol"), Resource: "applicationprotocols",
			New: func() runtime.Object { return &metaprotocolv1alpha1.ApplicationProtocol{} }, AddToScheme: metaprotocolv1alpha1.AddToScheme,
			Routing: true,
			Status: func(o runtime.Object) *conditions.Status {
				return &o.(*metaprotocolv1alpha1.ApplicationProtocol).Status
			}},
	}
}

func v1(group, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}
}
