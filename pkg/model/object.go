package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// ObjectRef names the object a piece of config, an error or a status
// condition belongs to, so users can find it with kubectl or in their files.
type ObjectRef struct {
	// Group is the API group ("" for core, "networking.istio.io", "metaprotocol.aeraki.io", ...).
	Group string `json:"group,omitempty"`
	// Kind is the object's kind, for example MetaRouter.
	Kind string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	// Name is the object's metadata.name.
	Name string `json:"name"`
}

// String renders the reference the way kubectl users read it: "MetaRouter meta-dubbo/route".
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// AppendText appends String's text to b, so that a list of objects
// (an annotation naming them all) is written into one buffer rather than
// a string per object.
func (r ObjectRef) AppendText(b []byte) []byte {
	b = append(append(b, r.Kind...), ' ')
	if r.Namespace != "" {
		b = append(append(b, r.Namespace...), '/')
	}
	return append(b, r.Name...)
}

// Key is a stable map key for the object, group-qualified so kinds that share
// a name across groups (Istio's Gateway and Gateway API's Gateway) stay apart.
func (r ObjectRef) Key() string {
	return r.Group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Origin says where an object came from, so errors can point at the file and
// document a user has to fix. It is empty for objects read from Kubernetes.
type Origin struct {
	// File is the path of the YAML file, relative to the loaded directory.
	File string `json:"file,omitempty"`
	// Index is the 0-based position of the document within File;
	// negative for a finding about the file as a whole (see FileOrigin).
	Index int `json:"index,omitempty"`
}

// FileOrigin is the origin of a finding about a whole file, such as one
// that could not be read.
func FileOrigin(file string) Origin { return Origin{File: file, Index: -1} }

// String renders the origin as "file, document N" (N counted from 1, as
// an editor shows documents), "file" for a whole file, or "" when there
// is none.
func (o Origin) String() string {
	if o.File == "" {
		return ""
	}
	if o.Index < 0 {
		return o.File
	}
	return fmt.Sprintf("%s, document %d", o.File, o.Index+1)
}

// Revision is a content hash of an object's meaningful fields. Two
// snapshots holding an object with the same Revision hold the same object,
// whichever source produced it, which is what lets the translator reuse
// config across snapshots and keeps versions stable across restarts.
type Revision string

// RevisionOf hashes the JSON encoding of v. It panics only if v cannot be
// encoded as JSON, which would be a programming error in the caller.
func RevisionOf(v any) Revision {
	if rs, ok := v.([]Revision); ok {
		if r, ok := plainListRevision(rs); ok {
			return r
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("model: cannot hash %T: %v", v, err))
	}
	sum := sha256.Sum256(b)
	return Revision(hex.EncodeToString(sum[:8]))
}

// plainListRevision is RevisionOf of a list of revisions when none needs
// escaping in JSON (revisions are hex): the hash of the bytes json.Marshal
// writes, written into the hash a piece at a time, without reflection and
// without the list's encoding in memory. Lists of every MetaRouter's or
// every service's revision are hashed on every change to one of them (200
// KB of JSON at 10,000 MetaRouters, made and dropped per edit).
func plainListRevision(rs []Revision) (Revision, bool) {
	for _, r := range rs {
		for j := 0; j < len(r); j++ {
			if c := r[j]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return "", false
			}
		}
	}
	h := sha256.New()
	var buf [2048]byte
	b := buf[:0]
	if rs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range rs {
			if len(b)+len(r)+3 > cap(b) {
				h.Write(b)
				b = buf[:0]
			}
			if i > 0 {
				b = append(b, ',')
			}
			if len(r)+2 > cap(b)-len(b) { // longer than the buffer
				h.Write(append(b, '"'))
				h.Write([]byte(r))
				b = append(buf[:0], '"')
				continue
			}
			b = append(b, '"')
			b = append(b, r...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	h.Write(b)
	var sum [sha256.Size]byte
	return Revision(hex.EncodeToString(h.Sum(sum[:0])[:8])), true
}
