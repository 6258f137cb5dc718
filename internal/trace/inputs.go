package trace

import (
	"fmt"
	"strconv"
	"strings"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	gpmatcherv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/generic_proxy/matcher/v3"
	networkinputv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
)

// networkInputs reads the connection-level matcher inputs Envoy offers
// filter chain matchers: addresses and ports (after listener filters
// restored them), SNI, transport and application protocols, source type
// and filter state.
func networkInputs(c *conn) inputFunc {
	return func(in *xdscore.TypedExtensionConfig) (string, bool, error) {
		msg, err := unpack(in.GetTypedConfig())
		if err != nil {
			return "", false, err
		}
		switch i := msg.(type) {
		case *networkinputv3.DestinationIPInput:
			return addrValue(c.dst.IsValid(), c.dst.Addr().String())
		case *networkinputv3.DestinationPortInput:
			return addrValue(c.dst.IsValid(), strconv.Itoa(int(c.dst.Port())))
		case *networkinputv3.SourceIPInput, *networkinputv3.DirectSourceIPInput:
			return addrValue(c.src.IsValid(), c.src.Addr().String())
		case *networkinputv3.SourcePortInput:
			return addrValue(c.src.IsValid(), strconv.Itoa(int(c.src.Port())))
		case *networkinputv3.SourceTypeInput:
			if c.src.IsValid() && (c.src.Addr() == c.dst.Addr() || c.src.Addr().IsLoopback()) {
				return "local", true, nil
			}
			return "", false, nil
		case *networkinputv3.ServerNameInput:
			if c.tls == nil || c.tls.sni == "" {
				return "", false, nil
			}
			return c.tls.sni, true, nil
		case *networkinputv3.TransportProtocolInput:
			return transportProtocol(c), true, nil
		case *networkinputv3.ApplicationProtocolInput:
			if c.tls == nil || len(c.tls.alpn) == 0 {
				return "", false, nil
			}
			quoted := make([]string, len(c.tls.alpn))
			for k, p := range c.tls.alpn {
				quoted[k] = "'" + p + "'"
			}
			return strings.Join(quoted, ","), true, nil
		case *networkinputv3.FilterStateInput:
			v, ok := c.state.get(i.GetKey())
			return v, ok, nil
		}
		return "", false, fmt.Errorf("matcher input %s is not a network input the trace simulates", in.GetTypedConfig().GetTypeUrl())
	}
}

func addrValue(valid bool, v string) (string, bool, error) {
	if !valid {
		return "", false, nil
	}
	return v, true, nil
}

// transportProtocol is what tls_inspector would report.
func transportProtocol(c *conn) string {
	if c.tls != nil {
		return "tls"
	}
	return "raw_buffer"
}

// request is one L7 request as generic_proxy's codec decodes it.
type request struct {
	service, host, path, method string
	properties                  map[string]string
}

// Attribute names a trace request may use for the fields generic_proxy
// codecs expose; any other attribute is a property (a Dubbo attachment).
const (
	// AttrInterface is a Dubbo interface; the codec reports it as service, host and path.
	AttrInterface = "interface"
	// AttrService is generic_proxy's service input.
	AttrService = "service"
	// AttrHost is generic_proxy's host input.
	AttrHost = "host"
	// AttrPath is generic_proxy's path input.
	AttrPath = "path"
	// AttrMethod is generic_proxy's method input (the Dubbo method).
	AttrMethod = "method"
)

// newRequest maps call attributes onto a request. For Dubbo, Envoy's
// codec reports the interface as service, host and path alike.
func newRequest(attrs map[string]string) *request {
	r := &request{properties: map[string]string{}}
	for k, v := range attrs {
		switch k {
		case AttrInterface:
			r.service, r.host, r.path = v, v, v
		case AttrService:
			r.service = v
		case AttrHost:
			r.host = v
		case AttrPath:
			r.path = v
		case AttrMethod:
			r.method = v
		default:
			r.properties[k] = v
		}
	}
	return r
}

// genericInputs reads generic_proxy's request inputs.
func genericInputs(r *request) inputFunc {
	opt := func(v string) (string, bool, error) { return v, v != "", nil }
	return func(in *xdscore.TypedExtensionConfig) (string, bool, error) {
		msg, err := unpack(in.GetTypedConfig())
		if err != nil {
			return "", false, err
		}
		switch i := msg.(type) {
		case *gpmatcherv3.ServiceMatchInput:
			return opt(r.service)
		case *gpmatcherv3.HostMatchInput:
			return opt(r.host)
		case *gpmatcherv3.PathMatchInput:
			return opt(r.path)
		case *gpmatcherv3.MethodMatchInput:
			return opt(r.method)
		case *gpmatcherv3.PropertyMatchInput:
			v, ok := r.properties[i.GetPropertyName()]
			return v, ok, nil
		}
		return "", false, fmt.Errorf("matcher input %s is not a generic_proxy input the trace simulates", in.GetTypedConfig().GetTypeUrl())
	}
}
