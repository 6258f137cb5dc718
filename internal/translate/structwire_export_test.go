package translate

import (
	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// PatchWriter is structWire with one writer's buffers kept from call to
// call, as unit builds use it.
func PatchWriter() func(proto.Message, *xds.Unpacked) ([]byte, error) {
	w := &wireConv{}
	return w.encode
}
