package thrift

import (
	"fmt"
	"strings"

	thriftv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/thrift_proxy/v3"
)

// framing is what a name says about a port's Thrift transport and protocol.
type framing struct {
	transport thriftv3.TransportType
	protocol  thriftv3.ProtocolType
	// conflicts describes words that contradict each other, for a report.
	conflicts []string
}

var transportWords = map[string]thriftv3.TransportType{
	"framed":   thriftv3.TransportType_FRAMED,
	"unframed": thriftv3.TransportType_UNFRAMED,
	"header":   thriftv3.TransportType_HEADER,
}

var protocolWords = map[string]thriftv3.ProtocolType{
	"binary":    thriftv3.ProtocolType_BINARY,
	"laxbinary": thriftv3.ProtocolType_LAX_BINARY,
	"compact":   thriftv3.ProtocolType_COMPACT,
	"twitter":   thriftv3.ProtocolType_TWITTER,
}

// parseFraming reads transport and protocol words from a port name, an
// appProtocol or an ApplicationProtocol codec. Words are separated by "-",
// "." or "_"; "lax" followed by "binary" is laxbinary.
func parseFraming(name string) framing {
	var f framing
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '-' || r == '.' || r == '_' })
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "lax" && i+1 < len(words) && words[i+1] == "binary" {
			w, i = "laxbinary", i+1
		}
		if t, ok := transportWords[w]; ok {
			if f.transport != thriftv3.TransportType_AUTO_TRANSPORT && f.transport != t {
				f.conflicts = append(f.conflicts, fmt.Sprintf("transports %s and %s", lower(f.transport.String()), w))
			}
			f.transport = t
		}
		if p, ok := protocolWords[w]; ok {
			if f.protocol != thriftv3.ProtocolType_AUTO_PROTOCOL && f.protocol != p {
				f.conflicts = append(f.conflicts, fmt.Sprintf("protocols %s and %s", lower(f.protocol.String()), w))
			}
			f.protocol = p
		}
	}
	// A contradiction leaves that part to auto-detection.
	for _, c := range f.conflicts {
		if strings.HasPrefix(c, "transports") {
			f.transport = thriftv3.TransportType_AUTO_TRANSPORT
		} else {
			f.protocol = thriftv3.ProtocolType_AUTO_PROTOCOL
		}
	}
	return f
}

// over fills what f leaves to auto-detection from g.
func (f framing) over(g framing) framing {
	if f.transport == thriftv3.TransportType_AUTO_TRANSPORT {
		f.transport = g.transport
	}
	if f.protocol == thriftv3.ProtocolType_AUTO_PROTOCOL {
		f.protocol = g.protocol
	}
	return f
}

// carriesHeaders reports whether calls on the port can have Thrift
// headers: true unless both parts are known and neither is header-capable.
func (f framing) carriesHeaders() bool {
	if f.transport == thriftv3.TransportType_HEADER || f.protocol == thriftv3.ProtocolType_TWITTER {
		return true
	}
	return f.transport == thriftv3.TransportType_AUTO_TRANSPORT || f.protocol == thriftv3.ProtocolType_AUTO_PROTOCOL
}

// String names the transport and protocol for reports.
func (f framing) String() string {
	return fmt.Sprintf("transport %s, protocol %s", lower(f.transport.String()), lower(f.protocol.String()))
}

func lower(s string) string { return strings.ToLower(s) }
