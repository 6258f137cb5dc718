package model

import (
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func serviceFromK8s(o *corev1.Service, origin Origin, suffix string, claims ProtocolClaims) *Service {
	svc := &Service{
		Ref:       ObjectRef{Kind: "Service", Namespace: o.Namespace, Name: o.Name},
		Origin:    origin,
		Hostname:  o.Name + "." + o.Namespace + ".svc." + suffix,
		Namespace: o.Namespace,
		Labels:    o.Labels,
		Selector:  o.Spec.Selector,
	}
	for _, ip := range o.Spec.ClusterIPs {
		if isIP(ip) {
			svc.Addresses = append(svc.Addresses, ip)
		}
	}
	if len(svc.Addresses) == 0 && isIP(o.Spec.ClusterIP) {
		svc.Addresses = []string{o.Spec.ClusterIP}
	}
	for _, p := range o.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue // UDP and SCTP are not proxied
		}
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		port := &Port{
			Name:           p.Name,
			Number:         uint32(p.Port),
			TargetPort:     targetPortNumber(p.TargetPort, p.Port),
			TargetPortName: p.TargetPort.StrVal,
			AppProtocol:    app,
			ProtocolInfo:   DetectProtocolWith(claims, p.Name, app),
		}
		svc.Ports = append(svc.Ports, port)
	}
	svc.Revision = RevisionOf(svc)
	return svc
}

func servicesFromServiceEntry(o *networkingv1.ServiceEntry, origin Origin, claims ProtocolClaims) []*Service {
	var out []*Service
	var selector map[string]string
	if ws := o.Spec.GetWorkloadSelector(); ws != nil {
		selector = ws.GetLabels()
		if selector == nil {
			selector = map[string]string{}
		}
	}
	for _, h := range o.Spec.Hosts {
		svc := &Service{
			Ref:        ObjectRef{Group: "networking.istio.io", Kind: "ServiceEntry", Namespace: o.Namespace, Name: o.Name},
			Origin:     origin,
			Hostname:   strings.ToLower(h),
			Namespace:  o.Namespace,
			Labels:     o.Labels,
			Selector:   selector,
			Resolution: o.Spec.Resolution.String(),
		}
		for _, a := range o.Spec.Addresses {
			if isIP(a) {
				svc.Addresses = append(svc.Addresses, a)
			}
		}
		for _, p := range o.Spec.Ports {
			info := serviceEntryProtocol(claims, p.Name, p.Protocol)
			tp := p.TargetPort
			if tp == 0 {
				tp = p.Number
			}
			svc.Ports = append(svc.Ports, &Port{Name: p.Name, Number: p.Number, TargetPort: tp, DeclaredProtocol: p.Protocol, ProtocolInfo: info})
		}
		svc.Revision = RevisionOf(svc)
		out = append(out, svc)
	}
	return out
}

func workloadFromPod(o *corev1.Pod, rev Revision) *Workload {
	w := &Workload{
		Ref:            ObjectRef{Kind: "Pod", Namespace: o.Namespace, Name: o.Name},
		Name:           o.Name,
		Namespace:      o.Namespace,
		IP:             o.Status.PodIP,
		Node:           o.Spec.NodeName,
		ServiceAccount: o.Spec.ServiceAccountName,
		Labels:         o.Labels,
		Revision:       rev,
	}
	if w.ServiceAccount == "" {
		w.ServiceAccount = "default"
	}
	for _, c := range o.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				if w.NamedPorts == nil { // most pods name no port: no map each
					w.NamedPorts = map[string]uint32{}
				}
				w.NamedPorts[p.Name] = uint32(p.ContainerPort)
			}
		}
	}
	if o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
		return nil
	}
	return w
}

func workloadFromWorkloadEntry(o *networkingv1.WorkloadEntry, rev Revision) *Workload {
	w := &Workload{
		Ref:            ObjectRef{Group: "networking.istio.io", Kind: "WorkloadEntry", Namespace: o.Namespace, Name: o.Name},
		Name:           o.Name,
		Namespace:      o.Namespace,
		IP:             o.Spec.Address,
		ServiceAccount: o.Spec.ServiceAccount,
		Labels:         o.Spec.Labels,
		NamedPorts:     o.Spec.Ports,
		Revision:       rev,
	}
	if w.Labels == nil {
		w.Labels = o.Labels
	}
	if w.ServiceAccount == "" {
		w.ServiceAccount = "default"
	}
	return w
}

// k8sEndpoints lists a Kubernetes Service's endpoints per service port:
// from its EndpointSlices when it has any, else from the pods its selector
// matches.
//
// read is told the workload lookups made ("nn:Pod/<ns>/<name>",
// "ip:<address>", "sel:<namespace>" for a selector over the namespace's
// workloads), so an Edit knows which hosts a changed workload touches.
func (s *Snapshot) k8sEndpoints(svc *Service, slices []*discoveryv1.EndpointSlice, read func(string)) map[uint32][]Endpoint {
	out := map[uint32][]Endpoint{}
	if len(slices) > 0 {
		for _, sl := range slices {
			for _, sp := range svc.Ports {
				var num uint32
				for _, p := range sl.Ports {
					if p.Port != nil && ptrString(p.Name) == sp.Name {
						num = uint32(*p.Port)
					}
				}
				if num == 0 {
					continue
				}
				for _, ep := range sl.Endpoints {
					ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
					for _, addr := range ep.Addresses {
						e := Endpoint{Address: addr, Port: num, Ready: ready}
						if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
							read("nn:Pod/" + ep.TargetRef.Namespace + "/" + ep.TargetRef.Name)
							e.Workload = s.workloadByName(ep.TargetRef.Namespace, ep.TargetRef.Name)
						}
						if e.Workload == nil {
							read("ip:" + addr)
							e.Workload = s.workloadsByIP[addr]
						}
						if e.Workload != nil {
							e.Labels = e.Workload.Labels
						}
						out[sp.Number] = append(out[sp.Number], e)
					}
				}
			}
		}
		return out
	}
	if svc.Selector == nil {
		return out
	}
	read("sel:" + svc.Namespace)
	for _, w := range s.workloads {
		if w.Ref.Kind != "Pod" || w.Namespace != svc.Namespace || w.IP == "" || !LabelsMatch(svc.Selector, w.Labels) {
			continue
		}
		for _, sp := range svc.Ports {
			port := sp.TargetPort
			if port == 0 {
				port = w.NamedPorts[sp.TargetPortName]
			}
			if port == 0 {
				continue
			}
			out[sp.Number] = append(out[sp.Number], Endpoint{Address: w.IP, Port: port, Labels: w.Labels, Workload: w, Ready: true})
		}
	}
	return out
}

func (s *Snapshot) serviceEntryEndpoints(svc *Service, o *networkingv1.ServiceEntry, read func(string)) map[uint32][]Endpoint {
	out := map[uint32][]Endpoint{}
	for _, we := range o.Spec.Endpoints {
		if len(svc.Ports) > 0 {
			read("ip:" + we.Address)
		}
		for _, sp := range svc.Ports {
			port := sp.TargetPort
			if p, ok := we.Ports[sp.Name]; ok {
				port = p
			}
			e := Endpoint{Address: we.Address, Port: port, Labels: we.Labels, Ready: true}
			e.Workload = s.workloadsByIP[we.Address]
			out[sp.Number] = append(out[sp.Number], e)
		}
	}
	if svc.Selector == nil {
		return out
	}
	read("sel:" + svc.Namespace)
	for _, w := range s.workloads {
		if w.Namespace != svc.Namespace || w.IP == "" || !LabelsMatch(svc.Selector, w.Labels) {
			continue
		}
		for _, sp := range svc.Ports {
			port := sp.TargetPort
			if p, ok := w.NamedPorts[sp.Name]; ok && w.Ref.Kind == "WorkloadEntry" {
				port = p
			}
			out[sp.Number] = append(out[sp.Number], Endpoint{Address: w.IP, Port: port, Labels: w.Labels, Workload: w, Ready: true})
		}
	}
	return out
}

func (s *Snapshot) workloadByName(ns, name string) *Workload {
	return s.workloadsByNN["Pod/"+ns+"/"+name]
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// serviceEntryProtocol is the protocol of a ServiceEntry port. Its
// protocol field is Istio's word for it: HTTP, HTTP2 and GRPC ports are
// HTTP whatever their name. For TCP (or unset) the name may say more
// ("tcp-dubbo"), as on a Kubernetes Service.
func serviceEntryProtocol(claims ProtocolClaims, name, protocol string) ProtocolInfo {
	if p := detect(nil, source{"protocol", protocol}); p.Protocol == ProtocolHTTP {
		return p
	}
	return detect(claims, source{"name", name}, source{"protocol", protocol})
}
