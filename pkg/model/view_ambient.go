package model

// This file holds the View's ambient-mesh lookups. Like every View method
// they record what they read, so a ztunnel or waypoint is rebuilt when, and
// only when, something it was built from changes.

// Captured reports whether a workload is in the ambient mesh (ztunnel
// captures its traffic), and why or why not, in words fit for a trace.
func (v *View) Captured(w *Workload) (bool, string) {
	if w != nil {
		v.track("ns:", w.Namespace)
	}
	v.track("waypoints")
	return v.snap.captured(w)
}

// Waypoints returns every waypoint (Gateway of class istio-waypoint or of
// aeraki's waypoint class), sorted by namespace and name.
func (v *View) Waypoints() []*Waypoint {
	v.track("waypoints")
	return v.snap.ambient.list
}

// Waypoint returns the waypoint Gateway namespace/name, or nil when there
// is none (or the Gateway is of neither waypoint class).
func (v *View) Waypoint(namespace, name string) *Waypoint {
	v.track("waypoint:", namespace, "/", name)
	return v.snap.ambient.waypoints[namespace+"/"+name]
}

// ServiceWaypoint says whether traffic addressed to a service goes through
// a waypoint: the service's istio.io/use-waypoint label, else its
// namespace's, for waypoints that handle services.
func (v *View) ServiceWaypoint(svc *Service) Binding {
	return v.bindingOf(svc.Ref, svc.Labels, true)
}

// WorkloadWaypoint says whether traffic addressed to a workload's own IP
// goes through a waypoint: the workload's istio.io/use-waypoint label,
// else its namespace's, for waypoints that handle workloads.
func (v *View) WorkloadWaypoint(w *Workload) Binding {
	return v.bindingOf(w.Ref, w.Labels, false)
}

func (v *View) bindingOf(ref ObjectRef, labels map[string]string, forServices bool) Binding {
	v.track("ns:", ref.Namespace)
	b := v.snap.binding(ref, labels, forServices)
	if b.Gateway.Name != "" {
		v.track("waypoint:", b.Gateway.Namespace, "/", b.Gateway.Name)
	}
	return b
}

// Nodes returns the names of the Kubernetes nodes pods run on, sorted:
// one ztunnel each.
func (v *View) Nodes() []string {
	v.track("workloads")
	return v.snap.ambient.nodes
}

// NodeWorkloads returns the pods scheduled on a node, sorted by namespace
// and name, captured or not.
func (v *View) NodeWorkloads(node string) []*Workload {
	v.track("node:", node)
	return v.snap.ambient.byNode[node]
}

// Identity is a workload's SPIFFE id in the mesh's trust domain.
func (v *View) Identity(w *Workload) string {
	return SPIFFEID(v.snap.opts.TrustDomain, w.Namespace, w.ServiceAccount)
}

// WaypointIdentity is a waypoint's SPIFFE id.
func (v *View) WaypointIdentity(wp *Waypoint) string {
	return SPIFFEID(v.snap.opts.TrustDomain, wp.Namespace, wp.ServiceAccount)
}

// WaypointAt returns the waypoint one of whose addresses is ip, or nil.
// Tools use it to name the proxy an HBONE connection reaches; it records
// no dependency.
func (v *View) WaypointAt(ip string) *Waypoint {
	for _, wp := range v.snap.ambient.list {
		for _, a := range wp.Addresses {
			if a == ip {
				return wp
			}
		}
		for _, a := range wp.ServiceAddresses {
			if a == ip {
				return wp
			}
		}
	}
	return nil
}
