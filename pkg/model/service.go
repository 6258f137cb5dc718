package model

import (
	"fmt"
	"strconv"
)

// Service is one hostname with ports, as a Kubernetes Service or an Istio
// ServiceEntry declares it. A ServiceEntry with several hosts becomes
// several Services sharing one Ref.
type Service struct {
	// Ref is the Service or ServiceEntry that declared this host.
	Ref ObjectRef
	// Origin is where Ref was read from, when it came from a file.
	Origin Origin
	// Hostname is the fully qualified name clients use and Istio names
	// clusters after: "name.namespace.svc.cluster.local" for Kubernetes
	// Services, the host as written for ServiceEntries.
	Hostname string
	// Namespace is the namespace of Ref.
	Namespace string
	// Addresses are the service's virtual IPs (ClusterIPs, or a
	// ServiceEntry's addresses). Empty when the service has none.
	Addresses []string
	// Ports are the service ports, in declaration order.
	Ports []*Port
	// Labels are the labels of Ref; waypoint binding reads istio.io/use-waypoint here.
	Labels map[string]string
	// Selector selects the workloads behind the service (a Service's
	// selector, a ServiceEntry's workloadSelector). Nil when the service
	// has no selector and its endpoints are listed explicitly.
	Selector map[string]string
	// Resolution is the ServiceEntry resolution (STATIC, DNS, NONE, ...);
	// empty for Kubernetes Services.
	Resolution string
	// Revision changes whenever anything above changes.
	Revision Revision
}

// Port returns the service port with the given number, or nil.
func (s *Service) Port(number uint32) *Port {
	for _, p := range s.Ports {
		if p.Number == number {
			return p
		}
	}
	return nil
}

// String is the hostname, which is how users and Istio refer to a service.
func (s *Service) String() string { return s.Hostname }

// Port is one port of a Service with the protocol aeraki detected on it.
type Port struct {
	// Name is the port name as written; it carries the protocol when
	// appProtocol is empty ("tcp-dubbo", "tcp-metaprotocol-trpc").
	Name string
	// Number is the service port clients connect to.
	Number uint32
	// TargetPort is the port on the workload; equal to Number when the
	// service does not say otherwise.
	TargetPort uint32
	// TargetPortName is set when the target port is a named container
	// port; TargetPort is then 0 and each workload resolves the name.
	TargetPortName string
	// AppProtocol is the appProtocol field as written (Kubernetes only).
	AppProtocol string
	// DeclaredProtocol is a ServiceEntry port's protocol field as written
	// ("TCP", "HTTP", or empty): istiod reads such a port's protocol from
	// it alone, not from the name.
	DeclaredProtocol string
	// ProtocolInfo is the protocol aeraki detected for this port.
	ProtocolInfo
}

// String renders the port the way errors mention it: "20880/tcp-dubbo".
func (p *Port) String() string {
	if p.Name == "" {
		return strconv.Itoa(int(p.Number))
	}
	return fmt.Sprintf("%d/%s", p.Number, p.Name)
}

// Subset is a named group of a service's endpoints, selected by labels, as
// a DestinationRule declares it.
type Subset struct {
	// Name is the subset name routes refer to ("v1").
	Name string
	// Labels select the endpoints that belong to the subset.
	Labels map[string]string
}

// Endpoint is one address that serves a service port.
type Endpoint struct {
	// Address is the IP (or, for DNS ServiceEntries, the hostname).
	Address string
	// Port is the port on the workload (the service port's target port).
	Port uint32
	// Labels are the workload's labels; subsets select on them.
	Labels map[string]string
	// Workload is the Pod or WorkloadEntry behind the address, when known.
	Workload *Workload
	// Ready is false for endpoints Kubernetes reports as not ready.
	Ready bool
}

// ClusterName builds Istio's cluster name for a host, port and optional
// subset, for example "outbound|20880|v2|demo.ns.svc.cluster.local".
// direction is "outbound", "inbound" or "inbound-vip".
func ClusterName(direction string, port uint32, subset, host string) string {
	// Written in one buffer: the port as a string of its own was a
	// second allocation of every route destination's cluster.
	var buf [128]byte
	b := append(append(buf[:0], direction...), '|')
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(append(append(append(b, '|'), subset...), '|'), host...)
	return string(b)
}

// LabelsMatch reports whether labels contain every key and value of selector.
// An empty selector matches everything, as in Kubernetes.
func LabelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
