// Package file is the source for `aeraki render` and `aeraki serve
// --config-dir`: it reads a directory of YAML (or JSON) manifests, the same
// files users `kubectl apply`, into a model.Builder.
//
// Files are read recursively in lexical path order, like `kubectl apply -R
// -f DIR`, so when two documents define the same object the later file
// wins (with a warning). Documents the model does not use (Deployments,
// ConfigMaps, CRDs) are skipped with a one-line note; a document that is
// not a Kubernetes object at all is noted and skipped too. A malformed
// document is an error that names the file, the document index, the object
// and the field; every other document still loads. A document with a
// header of the wrong type (`namespace: no`, which YAML reads as a
// boolean) is such an error too; only a document with neither apiVersion
// nor kind is "not a Kubernetes object".
//
// Only regular files are read, directly or through a symlink. Anything
// else on the path with a manifest's extension (a FIFO, a socket, a device
// such as a symlink to /dev/zero, a looping symlink) is an error naming
// it, and is never opened for reading in a way that could block. Each
// file is bounded by Options.MaxFileSize and all of one load together by
// Options.MaxTotalSize (`--max-file-size`, `--max-total-size`); files past
// a limit are errors too. Loading stops with the context's error as soon
// as the context ends, between two documents or two chunks of a file.
package file
