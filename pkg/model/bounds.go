package model

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// MinPort and MaxPort bound every port number Envoy takes (port_value is
// a uint32 validated lte 65535, and a TCP port is 16 bits): a number
// outside them is an error on the object that names it, never wrapped.
const (
	MinPort = 1
	MaxPort = 65535
)

// ValidPort reports whether n is a TCP port number, 1..65535.
func ValidPort(n int64) bool { return n >= MinPort && n <= MaxPort }

// FieldErrors is the error Builder.Add returns for an object with field
// values out of the range the data plane takes (a port of 86416, say):
// each is an error Diagnostic on the object, naming the field. The
// object is left out, as the API server would refuse it.
type FieldErrors []Diagnostic

func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, d := range e {
		msgs[i] = d.Field + ": " + d.Message
	}
	return strings.Join(msgs, "; ")
}

// AddError turns an error of Builder.Add into the diagnostics a source
// reports: one per field for FieldErrors, else one for the object.
func AddError(err error, origin Origin) []Diagnostic {
	var fe FieldErrors
	if errors.As(err, &fe) {
		out := make([]Diagnostic, len(fe))
		for i, d := range fe {
			d.Origin = origin
			out[i] = d
		}
		return out
	}
	return []Diagnostic{{Severity: SeverityError, Origin: origin, Reason: "InvalidObject", Message: err.Error()}}
}

// checkBounds returns the out-of-range fields of the objects the model
// reads numbers from. Objects from an API server were validated there
// already; files given to `aeraki render` or `--config-dir` never were.
func checkBounds(ref ObjectRef, obj runtime.Object) FieldErrors {
	b := bounds{ref: ref}
	switch o := obj.(type) {
	case *corev1.Service:
		for i, p := range o.Spec.Ports {
			f := fmt.Sprintf("spec.ports[%d]", i)
			b.port(f+".port", int64(p.Port), false)
			if p.TargetPort.Type == intstr.Int {
				b.port(f+".targetPort", int64(p.TargetPort.IntVal), true)
			}
		}
	case *networkingv1.ServiceEntry:
		for i, p := range o.Spec.Ports {
			f := fmt.Sprintf("spec.ports[%d]", i)
			b.port(f+".number", int64(p.Number), false)
			b.port(f+".targetPort", int64(p.TargetPort), true)
		}
		for i, e := range o.Spec.Endpoints {
			if e == nil {
				continue
			}
			b.portMap(fmt.Sprintf("spec.endpoints[%d].ports", i), e.Ports)
		}
	case *networkingv1.WorkloadEntry:
		b.portMap("spec.ports", o.Spec.Ports)
	case *corev1.Pod:
		for i, c := range o.Spec.Containers {
			for j, p := range c.Ports {
				b.port(fmt.Sprintf("spec.containers[%d].ports[%d].containerPort", i, j), int64(p.ContainerPort), false)
			}
		}
	case *discoveryv1.EndpointSlice:
		for i, p := range o.Ports {
			if p.Port != nil {
				b.port(fmt.Sprintf("ports[%d].port", i), int64(*p.Port), false)
			}
		}
	case *gatewayv1.Gateway:
		for i, l := range o.Spec.Listeners {
			b.port(fmt.Sprintf("spec.listeners[%d].port", i), int64(l.Port), false)
		}
	}
	return b.errs
}

type bounds struct {
	ref  ObjectRef
	errs FieldErrors
}

// port checks one port number; zero is allowed where it means "unset".
func (b *bounds) port(field string, n int64, zeroUnset bool) {
	if ValidPort(n) || (zeroUnset && n == 0) {
		return
	}
	b.errs = append(b.errs, Diagnostic{Severity: SeverityError, Object: b.ref, Field: field, Reason: "InvalidPort",
		Message: fmt.Sprintf("port %d is outside %d..%d; the object is left out", n, MinPort, MaxPort)})
}

func (b *bounds) portMap(field string, ports map[string]uint32) {
	names := make([]string, 0, len(ports))
	for name := range ports {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b.port(field+"."+name, int64(ports[name]), false)
	}
}
