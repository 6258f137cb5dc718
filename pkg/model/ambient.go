package model

import (
	"sort"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Labels and values of Istio's ambient mesh, read as Istio defines them so
// that manifests written for istiod's ambient mode mean the same here.
const (
	// LabelDataplaneMode on a Namespace (or a Pod) puts its pods in the
	// ambient mesh ("ambient") or keeps a pod out of it ("none").
	LabelDataplaneMode = "istio.io/dataplane-mode"
	// DataplaneModeAmbient is the LabelDataplaneMode value that captures pods.
	DataplaneModeAmbient = "ambient"
	// DataplaneModeNone is the LabelDataplaneMode value that opts a pod out.
	DataplaneModeNone = "none"
	// LabelUseWaypoint on a Service, ServiceEntry, Pod, WorkloadEntry or
	// Namespace names the waypoint Gateway its traffic goes through; "none"
	// opts the object out of its namespace's waypoint.
	LabelUseWaypoint = "istio.io/use-waypoint"
	// LabelUseWaypointNamespace, next to LabelUseWaypoint, is the namespace
	// of that Gateway when it is not the object's own.
	LabelUseWaypointNamespace = "istio.io/use-waypoint-namespace"
	// LabelWaypointFor on a waypoint Gateway (or its GatewayClass) says
	// which traffic it handles: WaypointForService (the default),
	// WaypointForWorkload, WaypointForAll or WaypointForNone.
	LabelWaypointFor = "istio.io/waypoint-for"
	// LabelGatewayName is the label Gateway API implementations put on a
	// Gateway's pods; it is how a waypoint's pods are found.
	LabelGatewayName = "gateway.networking.k8s.io/gateway-name"
	// IstioWaypointClass is the GatewayClass of the waypoints istiod
	// deploys and serves itself (istio-proxy). aeraki reaches them the way
	// it reaches sidecars, through istiod.
	IstioWaypointClass = "istio-waypoint"
	// DefaultWaypointClass is the default name of aeraki's own GatewayClass
	// (Options.WaypointClass): waypoints aeraki serves over ADS itself.
	DefaultWaypointClass = "aeraki-waypoint"
	// UseWaypointNone is the LabelUseWaypoint value that opts out.
	UseWaypointNone = "none"
)

// WaypointFor is which traffic a waypoint handles.
type WaypointFor string

// Values of the istio.io/waypoint-for label.
const (
	// WaypointForService handles traffic addressed to bound services (the default).
	WaypointForService WaypointFor = "service"
	// WaypointForWorkload handles traffic addressed to bound workloads' own IPs.
	WaypointForWorkload WaypointFor = "workload"
	// WaypointForAll handles both.
	WaypointForAll WaypointFor = "all"
	// WaypointForNone handles nothing: bindings to it are ignored.
	WaypointForNone WaypointFor = "none"
)

// ServesServices reports whether traffic addressed to a bound service goes through the waypoint.
func (f WaypointFor) ServesServices() bool { return f == WaypointForService || f == WaypointForAll }

// ServesWorkloads reports whether traffic addressed to a bound workload's own IP goes through the waypoint.
func (f WaypointFor) ServesWorkloads() bool { return f == WaypointForWorkload || f == WaypointForAll }

// WaypointServer is who serves a waypoint its config.
type WaypointServer string

// Who serves a waypoint, decided by its GatewayClass.
const (
	// ServedByIstiod is a waypoint of class istio-waypoint: istiod deploys
	// it and serves its whole config; aeraki only patches it through istiod.
	ServedByIstiod WaypointServer = "istiod"
	// ServedByAeraki is a waypoint of aeraki's own class
	// (Options.WaypointClass): aeraki serves its whole config over ADS.
	ServedByAeraki WaypointServer = "aeraki"
)

// Waypoint is a Gateway API Gateway of class istio-waypoint or of aeraki's
// own waypoint class: an L7 proxy that traffic to the services (or
// workloads) bound to it passes through. Bindings work the same for both;
// ServedBy says which control plane gives the proxy its config.
type Waypoint struct {
	// Ref is the Gateway.
	Ref ObjectRef
	// Name and Namespace of the Gateway.
	Name, Namespace string
	// Class is the Gateway's gatewayClassName.
	Class string
	// ServedBy says whether istiod or aeraki serves the waypoint's config.
	ServedBy WaypointServer
	// For says which traffic it handles, from the Gateway's label, else
	// its GatewayClass's, else WaypointForService.
	For WaypointFor
	// Addresses are the IPs of the waypoint's running pods (labeled
	// gateway.networking.k8s.io/gateway-name=<name>), sorted. HBONE to the
	// waypoint goes to <address>:15008.
	Addresses []string
	// ServiceAddresses are the virtual IPs of the Service named like the
	// Gateway, or the Gateway's status addresses; used when no pod is known.
	ServiceAddresses []string
	// ServiceAccount is the identity the waypoint runs as: its pods'
	// service account, else the Gateway's name (what Istio deploys).
	ServiceAccount string
	// Problem is set when the waypoint cannot receive traffic (no address).
	Problem string
}

// AerakiServed reports whether aeraki serves the waypoint's whole config
// (its own class) rather than istiod.
func (w *Waypoint) AerakiServed() bool { return w.ServedBy == ServedByAeraki }

// HBONEAddresses are the addresses ztunnels send HBONE to: the pod IPs,
// else the service addresses.
func (w *Waypoint) HBONEAddresses() []string {
	if len(w.Addresses) > 0 {
		return w.Addresses
	}
	return w.ServiceAddresses
}

// Binding says whether, and through which waypoint, traffic to a service
// or workload must go.
type Binding struct {
	// Bound is true when traffic must go through a waypoint. When Bound is
	// true and Waypoint is nil the named waypoint does not exist: traffic
	// fails closed rather than skip the policy the user asked for.
	Bound bool
	// Gateway names the Gateway the label points at, when a label does.
	Gateway ObjectRef
	// Via is the object whose label decided: the object itself or its Namespace.
	Via ObjectRef
	// Waypoint is the resolved waypoint, nil when none.
	Waypoint *Waypoint
	// Problem explains a binding that is broken or ignored, for a
	// diagnostic on Via; empty when all is well.
	Problem string
}

// SPIFFEID is the identity of a service account in a trust domain, as
// Istio writes it: "spiffe://<td>/ns/<ns>/sa/<sa>".
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// ambientIndex is what a Snapshot knows about the ambient mesh: waypoints
// and which pods run on which node.
type ambientIndex struct {
	classes   map[string]*gatewayv1.GatewayClass
	waypoints map[string]*Waypoint // ns/name
	list      []*Waypoint
	byNode    map[string][]*Workload // pods per node, sorted by key
	nodes     []string
	gwPods    map[string]string // pod key -> waypoint ns/name, for pods that are waypoints
}

func (s *Snapshot) indexAmbient() {
	a := &ambientIndex{classes: map[string]*gatewayv1.GatewayClass{}, waypoints: map[string]*Waypoint{},
		byNode: map[string][]*Workload{}, gwPods: map[string]string{}}
	for _, e := range s.entries {
		if gc, ok := e.obj.(*gatewayv1.GatewayClass); ok {
			a.classes[gc.Name] = gc
		}
	}
	for _, gw := range s.gateways {
		class := string(gw.Spec.GatewayClassName)
		var by WaypointServer
		switch class {
		case s.opts.WaypointClass:
			by = ServedByAeraki
		case IstioWaypointClass:
			by = ServedByIstiod
		default:
			continue
		}
		wp := s.waypointFromGateway(gw, a.classes[class])
		wp.Class, wp.ServedBy = class, by
		key := wp.Namespace + "/" + wp.Name
		a.waypoints[key] = wp
		a.list = append(a.list, wp)
		s.setRev("waypoint:"+key, RevisionOf(wp))
		for _, w := range s.workloads {
			if w.Ref.Kind == "Pod" && w.Namespace == wp.Namespace && w.Labels[LabelGatewayName] == wp.Name {
				a.gwPods[w.Ref.Key()] = key
			}
		}
	}
	sort.Slice(a.list, func(i, j int) bool { return a.list[i].Ref.Key() < a.list[j].Ref.Key() })
	revs := make([]Revision, len(a.list))
	for i, wp := range a.list {
		revs[i] = s.revs.at("waypoint:" + wp.Namespace + "/" + wp.Name)
	}
	s.setRev("waypoints", RevisionOf(revs))
	for _, w := range s.workloads {
		if w.Node != "" {
			a.byNode[w.Node] = append(a.byNode[w.Node], w)
		}
	}
	for node, list := range a.byNode {
		a.nodes = append(a.nodes, node)
		nrevs := make([]Revision, len(list))
		for i, w := range list {
			nrevs[i] = w.Revision
		}
		s.setRev("node:"+node, RevisionOf(nrevs))
	}
	sort.Strings(a.nodes)
	s.ambient = a
}

func (s *Snapshot) waypointFromGateway(gw *gatewayv1.Gateway, class *gatewayv1.GatewayClass) *Waypoint {
	wp := &Waypoint{
		Ref:       ObjectRef{Group: gatewayv1.GroupName, Kind: "Gateway", Namespace: gw.Namespace, Name: gw.Name},
		Name:      gw.Name,
		Namespace: gw.Namespace,
		For:       WaypointForService,
	}
	if class != nil && class.Labels[LabelWaypointFor] != "" {
		wp.For = WaypointFor(strings.ToLower(class.Labels[LabelWaypointFor]))
	}
	if v := gw.Labels[LabelWaypointFor]; v != "" {
		wp.For = WaypointFor(strings.ToLower(v))
	}
	switch wp.For {
	case WaypointForService, WaypointForWorkload, WaypointForAll, WaypointForNone:
	default:
		wp.Problem = "label " + LabelWaypointFor + "=" + string(wp.For) + " is not one of service, workload, all, none; the waypoint handles services"
		wp.For = WaypointForService
	}
	for _, w := range s.workloads {
		if w.Ref.Kind != "Pod" || w.Namespace != gw.Namespace || w.Labels[LabelGatewayName] != gw.Name || w.IP == "" {
			continue
		}
		wp.Addresses = append(wp.Addresses, w.IP)
		if wp.ServiceAccount == "" {
			wp.ServiceAccount = w.ServiceAccount
		}
	}
	sort.Strings(wp.Addresses)
	if l := s.services[gw.Name+"."+gw.Namespace+".svc."+s.opts.DomainSuffix]; len(l) > 0 {
		wp.ServiceAddresses = append(wp.ServiceAddresses, l[0].Addresses...)
	}
	if len(wp.ServiceAddresses) == 0 {
		for _, a := range gw.Status.Addresses {
			if isIP(a.Value) {
				wp.ServiceAddresses = append(wp.ServiceAddresses, a.Value)
			}
		}
	}
	if wp.ServiceAccount == "" {
		wp.ServiceAccount = gw.Name
	}
	if len(wp.Addresses) == 0 && len(wp.ServiceAddresses) == 0 && wp.Problem == "" {
		wp.Problem = "the waypoint has no address: no running pod is labeled " + LabelGatewayName + "=" + gw.Name +
			" and there is no Service " + gw.Name + " with a cluster IP; deploy the waypoint (istioctl waypoint apply) so traffic bound to it can flow"
	}
	return wp
}

// captured decides whether a pod is in the ambient mesh: its own
// istio.io/dataplane-mode label first, then its namespace's. Waypoint
// pods are never captured (Istio labels them out too).
func (s *Snapshot) captured(w *Workload) (bool, string) {
	if w == nil || w.Ref.Kind != "Pod" {
		return false, "only pods are captured by ztunnel"
	}
	if w.IP == "" {
		return false, "the pod has no IP yet"
	}
	if _, ok := s.ambient.gwPods[w.Ref.Key()]; ok {
		return false, "the pod is a waypoint"
	}
	switch w.Labels[LabelDataplaneMode] {
	case DataplaneModeNone:
		return false, "the pod is labeled " + LabelDataplaneMode + "=none"
	case DataplaneModeAmbient:
		return true, "the pod is labeled " + LabelDataplaneMode + "=ambient"
	}
	ns := s.namespaces[w.Namespace]
	if ns != nil && ns.Labels[LabelDataplaneMode] == DataplaneModeAmbient {
		return true, "namespace " + w.Namespace + " is labeled " + LabelDataplaneMode + "=ambient"
	}
	return false, "namespace " + w.Namespace + " is not labeled " + LabelDataplaneMode + "=ambient"
}

// binding applies the istio.io/use-waypoint rule to an object's labels
// and its namespace's: the object's own label wins, "none" opts out, and
// the waypoint must handle the kind of traffic (services or workloads).
func (s *Snapshot) binding(ref ObjectRef, labels map[string]string, forServices bool) Binding {
	b := Binding{Via: ref}
	name, nsName := labels[LabelUseWaypoint], labels[LabelUseWaypointNamespace]
	own := name != ""
	if !own {
		ns := s.namespaces[ref.Namespace]
		if ns == nil || ns.Labels[LabelUseWaypoint] == "" {
			return Binding{}
		}
		b.Via = ObjectRef{Kind: "Namespace", Name: ref.Namespace}
		name, nsName = ns.Labels[LabelUseWaypoint], ns.Labels[LabelUseWaypointNamespace]
	}
	if name == UseWaypointNone {
		return Binding{Via: b.Via}
	}
	if nsName == "" {
		nsName = ref.Namespace
	}
	b.Gateway = ObjectRef{Group: gatewayv1.GroupName, Kind: "Gateway", Namespace: nsName, Name: name}
	wp := s.ambient.waypoints[nsName+"/"+name]
	if wp == nil {
		b.Bound = true
		b.Problem = "label " + LabelUseWaypoint + "=" + name + " names Gateway " + nsName + "/" + name +
			", which does not exist or is not of class " + IstioWaypointClass + " or " + s.opts.WaypointClass +
			"; connections to it are refused until the waypoint exists or the label is removed"
		return b
	}
	serves := wp.For.ServesWorkloads()
	what := "workloads"
	if forServices {
		serves, what = wp.For.ServesServices(), "services"
	}
	if !serves {
		if own {
			b.Problem = "waypoint " + nsName + "/" + name + " is labeled " + LabelWaypointFor + "=" + string(wp.For) +
				" and does not handle " + what + "; traffic skips it (set " + LabelWaypointFor + "=all on the Gateway to use it)"
		}
		return Binding{Via: b.Via, Gateway: b.Gateway, Problem: b.Problem}
	}
	b.Bound, b.Waypoint = true, wp
	return b
}
