package model

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The Kubernetes source keeps every object of the mesh in its informer
// cache, and the snapshots hold those same objects: at 10,000 services
// that is 50,000 objects for as long as the process runs, all of it
// memory every garbage collection has to scan. Of the kinds no plugin
// reads (plugins see them only as this package's Services, Endpoints and
// Workloads), Pods, EndpointSlices and Services are the numerous ones,
// and the model reads only a few fields of each (a Pod's spec and status
// carry the containers' images, commands, environment, probes, volumes
// and the kubelet's container statuses), so their Kind.Trim keeps only
// what this package reads of them, as istiod's informers do for Pods
// (StripPodUnusedFields in istio/istio pkg/kube/util.go).
// TestTrimKeepsWhatTheModelReads builds a snapshot from objects with
// every field set and from their trimmed copies and requires the same
// services, endpoints and workloads of both.

// Trim clears the fields of obj its kind's Kind.Trim says the model does
// not read; an object of a kind without one, or of no kind of the set, is
// left alone. It modifies obj: call it before obj is shared (the
// Kubernetes source calls it from its cache's transform).
func (ks *KindIndex) Trim(obj runtime.Object) {
	if k, ok := ks.ofObject(obj); ok && k.Trim != nil {
		k.Trim(obj)
	}
}

// trimMeta keeps what the model and the sources read of an object's
// metadata: its name, namespace and labels, the resourceVersion the
// Kubernetes source tells updates from resyncs by, and the generation and
// timestamps (values, no allocation of their own; a deletionTimestamp is
// set only on objects about to go). Annotations, owner references,
// finalizers and the UID go.
func trimMeta(m *metav1.ObjectMeta, labels map[string]string) {
	*m = metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		Labels:            labels,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
	}
}

// trimPod keeps what workloadFromPod and checkBounds read of a Pod: its
// labels, node, service account, the named ports of its containers, its
// phase and IPs (Kind.ReadStatus).
func trimPod(obj runtime.Object) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	var containers []corev1.Container
	for _, c := range p.Spec.Containers {
		if len(c.Ports) > 0 {
			containers = append(containers, corev1.Container{Ports: c.Ports})
		}
	}
	p.Spec = corev1.PodSpec{Containers: containers, NodeName: p.Spec.NodeName, ServiceAccountName: p.Spec.ServiceAccountName}
	p.Status = corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs}
	trimMeta(&p.ObjectMeta, p.Labels)
}

// trimEndpointSlice keeps what k8sEndpoints and checkBounds read of an
// EndpointSlice: the Service it belongs to (its only label the model
// reads), its ports' names and numbers, and each endpoint's addresses,
// readiness and the Pod it names.
func trimEndpointSlice(obj runtime.Object) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	var labels map[string]string
	if svc, ok := s.Labels[discoveryv1.LabelServiceName]; ok {
		if len(s.Labels) == 1 {
			labels = s.Labels
		} else {
			labels = map[string]string{discoveryv1.LabelServiceName: svc}
		}
	}
	trimMeta(&s.ObjectMeta, labels)
	for i := range s.Ports {
		p := &s.Ports[i]
		*p = discoveryv1.EndpointPort{Name: p.Name, Port: p.Port}
	}
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		ref := e.TargetRef
		if ref != nil {
			ref = &corev1.ObjectReference{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
			if *ref == *e.TargetRef {
				ref = e.TargetRef // nothing to drop: no new allocation
			}
		}
		*e = discoveryv1.Endpoint{Addresses: e.Addresses, Conditions: discoveryv1.EndpointConditions{Ready: e.Conditions.Ready}, TargetRef: ref}
	}
}

// trimService keeps what serviceFromK8s and checkBounds read of a
// Service: its labels, selector, cluster IPs (which the waypoint
// controller also reads, from the Kubernetes source's cache) and its
// ports' names, protocols, numbers and target ports.
func trimService(obj runtime.Object) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	trimMeta(&s.ObjectMeta, s.Labels)
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		*p = corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port, TargetPort: p.TargetPort}
	}
	s.Spec = corev1.ServiceSpec{Ports: s.Spec.Ports, Selector: s.Spec.Selector, ClusterIP: s.Spec.ClusterIP, ClusterIPs: s.Spec.ClusterIPs}
	s.Status = corev1.ServiceStatus{}
}
