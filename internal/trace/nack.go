package trace

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/fidelity"
	"github.com/aeraki-ng/aeraki/pkg/profile"
)

// A proxy NACKs a resource that names an extension its build lacks: the
// registry lookup fails ("Didn't find a registered implementation for
// name: ...", source/common/config/registry_utils.h), LdsApiImpl rejects
// the update with "Error adding/updating listener(s) <name>: <error>"
// (source/common/listener_manager/lds_api.cc) and the listener does not
// exist on the proxy; CdsApiHelper does the same for clusters
// ("Error adding/updating cluster(s)",
// source/common/upstream/cds_api_helper.cc). The simulator checks each
// listener and cluster it uses against the proxy's build
// (Simulator.Profiles) and stops there when the proxy would have NACKed it.

// nack returns the error a proxy running build p would reject m with, or
// "" when it accepts it. kind is "listener" or "cluster".
func nack(p *profile.Profile, kind, name string, m proto.Message) string {
	if p == nil {
		return ""
	}
	for _, f := range fidelity.Check(p, m) {
		if f.Reason == fidelity.ReasonExtensionMissing {
			return fmt.Sprintf("Error adding/updating %s(s) %s: %s", kind, name, fidelity.EnvoyError(f.Extension, f.Type))
		}
	}
	return ""
}

// profileOf is the build a proxy runs, nil when unknown (nothing is
// checked then).
func (r *run) profileOf(proxy string) *profile.Profile {
	if r.s.Profiles == nil {
		return nil
	}
	return r.s.Profiles[proxy]
}
