package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"google.golang.org/protobuf/proto"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// revisionHash hashes encoded config into a model.Revision.
//
// It hashes the bytes themselves. model.RevisionOf must not be given
// protobuf bytes as Go strings: it hashes their JSON encoding, and JSON
// replaces every invalid UTF-8 byte with U+FFFD, so configs that differ
// only in varint bytes >= 0x80 (ports, durations, weights over 127) would
// get the same revision and the change would never be served.
type revisionHash struct {
	opts proto.MarshalOptions
	sum  hash.Hash
}

func newRevisionHash() *revisionHash {
	return &revisionHash{opts: proto.MarshalOptions{Deterministic: true}, sum: sha256.New()}
}

// bytes adds one length-prefixed part, so ("ab","c") and ("a","bc") differ.
func (r *revisionHash) bytes(b []byte) {
	var n [binary.MaxVarintLen64]byte
	r.sum.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	r.sum.Write(b)
}

// message adds a deterministically encoded message.
func (r *revisionHash) message(m proto.Message) {
	b, _ := r.opts.Marshal(m)
	r.bytes(b)
}

// revision returns the hash so far, in the form of model.RevisionOf.
func (r *revisionHash) revision() model.Revision {
	return model.Revision(hex.EncodeToString(r.sum.Sum(nil)[:8]))
}
