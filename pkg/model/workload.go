package model

// Workload is one instance that can receive traffic: a Pod or an Istio
// WorkloadEntry.
type Workload struct {
	// Ref is the Pod or WorkloadEntry.
	Ref ObjectRef
	// Name and Namespace of the workload.
	Name, Namespace string
	// IP is the workload's address (status.podIP, or a WorkloadEntry's address).
	IP string
	// Node is the Kubernetes node the pod runs on; empty for WorkloadEntries.
	Node string
	// ServiceAccount is the identity the workload runs as.
	ServiceAccount string
	// Labels select the workload into services and subsets.
	Labels map[string]string
	// NamedPorts maps container (or WorkloadEntry) port names to numbers,
	// for services whose targetPort is a name.
	NamedPorts map[string]uint32
	// Revision changes whenever anything above changes.
	Revision Revision
}

// Namespace is the part of a Kubernetes Namespace the mesh cares about.
type Namespace struct {
	// Name of the namespace.
	Name string
	// Labels carry istio.io/dataplane-mode and istio.io/use-waypoint.
	Labels map[string]string
}
