package testenv

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// SidecarIstioVersion is the ISTIO_VERSION SidecarNode reports: the version
// of the pinned istiod (tools/istio), as a pilot-agent of the same build would.
const SidecarIstioVersion = "1.31.0"

// Sidecar describes the workload an xDS test client pretends to be.
type Sidecar struct {
	IP        string            // pod IP, e.g. "10.1.0.5" (must be a valid IP)
	Pod       string            // pod name
	Namespace string            // pod namespace
	Labels    map[string]string // pod labels (used by workloadSelector / Sidecar)
	// Meta holds extra or overriding node metadata fields.
	Meta map[string]any
}

// ID returns the node id pilot-agent sends: sidecar~IP~pod.ns~ns.svc.cluster.local.
func (s Sidecar) ID() string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", s.IP, s.Pod, s.Namespace, s.Namespace)
}

// Node returns an Envoy node with the id and the metadata a sidecar's
// pilot-agent sends to istiod (see ISTIOD.md), enough for istiod to build
// sidecar listeners (virtualOutbound, <vip>_<port>, virtualInbound, ...).
func (s Sidecar) Node() *corev3.Node {
	labels := map[string]any{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	meta := map[string]any{
		"NAMESPACE":         s.Namespace,
		"NAME":              s.Pod,
		"WORKLOAD_NAME":     s.Pod,
		"ISTIO_VERSION":     SidecarIstioVersion,
		"CLUSTER_ID":        IstiodClusterID,
		"MESH_ID":           "cluster.local",
		"INSTANCE_IPS":      s.IP,
		"INTERCEPTION_MODE": "REDIRECT",
		"SERVICE_ACCOUNT":   "default",
		"LABELS":            labels,
	}
	for k, v := range s.Meta {
		meta[k] = v
	}
	st, err := structpb.NewStruct(meta)
	if err != nil {
		panic(fmt.Sprintf("testenv: sidecar metadata: %v", err))
	}
	return &corev3.Node{
		Id:            s.ID(),
		Cluster:       s.Pod + "." + s.Namespace,
		Metadata:      st,
		UserAgentName: "envoy",
	}
}
