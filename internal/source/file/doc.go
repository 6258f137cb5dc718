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
// and the field; every other document still loads.
package file
