package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// header is the part of a document every Kubernetes object has.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// decodeHeader reads apiVersion, kind and metadata's name and namespace.
// Only a document with neither apiVersion nor kind is "not a Kubernetes
// object" and skipped; one whose header has the wrong type (`namespace:
// no`, which YAML reads as false, `name: 8080`, `apiVersion: 1`) is an
// error, as kubectl makes it ("cannot unmarshal bool into ... string"),
// never a silent skip.
func decodeHeader(doc []byte, origin model.Origin) (header, *model.Diagnostic) {
	var h header
	err := json.Unmarshal(doc, &h)
	if err == nil && h.APIVersion != "" && h.Kind != "" {
		return h, nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(doc, &top) != nil {
		// A scalar document (a bare string or number): not an object.
		return h, &model.Diagnostic{Severity: model.SeverityInfo, Origin: origin, Reason: "Skipped",
			Message: "not a Kubernetes object (not a mapping); skipped"}
	}
	_, hasVersion := top["apiVersion"]
	_, hasKind := top["kind"]
	if !hasVersion && !hasKind {
		return h, &model.Diagnostic{Severity: model.SeverityInfo, Origin: origin, Reason: "Skipped",
			Message: "not a Kubernetes object (no apiVersion and kind); skipped"}
	}
	if err != nil {
		d := model.Diagnostic{Severity: model.SeverityError, Origin: origin, Reason: "InvalidObject",
			Message: fmt.Sprintf("cannot decode the object's header: %s", cleanJSONError(err))}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			d.Field = te.Field
			d.Message = fmt.Sprintf("want a %s, got a %s%s", jsonTypeName(te.Type), jsonValueName(te.Value), yamlTypeHint(te))
		}
		return h, &d
	}
	return h, &model.Diagnostic{Severity: model.SeverityError, Origin: origin, Reason: "InvalidObject",
		Message: "document has no apiVersion or no kind; every Kubernetes object needs both"}
}

// jsonTypeName names a Go type the way a manifest author thinks of it.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "mapping"
	case reflect.Slice, reflect.Array:
		return "list"
	}
	return t.String()
}

// jsonValueName names the kind of value a decoder found, in YAML's terms.
func jsonValueName(v string) string {
	switch v {
	case "object":
		return "mapping"
	case "array":
		return "list"
	}
	return v
}

// yamlTypeHint explains the usual cause of a header of the wrong type:
// YAML reads unquoted no, yes, on, off, true and false as booleans and
// digits as numbers.
func yamlTypeHint(te *json.UnmarshalTypeError) string {
	if te.Type == nil || te.Type.Kind() != reflect.String {
		return ""
	}
	switch te.Value {
	case "bool":
		return " (YAML reads an unquoted no, yes, on, off, true or false as a boolean); quote the value"
	case "number":
		return "; quote the value"
	}
	return ""
}

// decoded is the outcome of decoding one document.
type decoded struct {
	obj  runtime.Object
	note *model.Diagnostic // set for skipped documents and errors
}

// decode turns one JSON document into a typed object, or says why not.
func decode(doc []byte, origin model.Origin, kinds *model.KindIndex, defaultNamespace string) decoded {
	h, note := decodeHeader(doc, origin)
	if note != nil {
		return decoded{note: note}
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return decoded{note: &model.Diagnostic{Severity: model.SeverityError, Origin: origin, Reason: "InvalidObject", Field: "apiVersion",
			Message: fmt.Sprintf("invalid apiVersion %q: %v", h.APIVersion, err)}}
	}
	ref := model.ObjectRef{Group: gv.Group, Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name}
	k, ok := kinds.Lookup(gv.Group, h.Kind)
	if !ok {
		return decoded{note: &model.Diagnostic{Severity: model.SeverityInfo, Object: ref, Origin: origin, Reason: "Skipped",
			Message: fmt.Sprintf("skipped: aeraki does not use %s objects (neither the core nor a plugin of this build reads them)", displayGK(gv.Group, h.Kind))}}
	}
	if !k.AcceptsVersion(gv.Version) {
		versions := append([]string{k.GVK.Version}, k.FileVersions...)
		return decoded{note: &model.Diagnostic{Severity: model.SeverityError, Object: ref, Origin: origin, Reason: "InvalidObject", Field: "apiVersion",
			Message: fmt.Sprintf("version %q of %s is not supported; use %s", gv.Version, displayGK(gv.Group, h.Kind), strings.Join(prefixAll(gv.Group, versions), " or "))}}
	}
	if !k.Namespaced {
		ref.Namespace = ""
	} else if ref.Namespace == "" {
		ref.Namespace = defaultNamespace
	}
	errf := func(field, format string, args ...any) decoded {
		return decoded{note: &model.Diagnostic{Severity: model.SeverityError, Object: ref, Origin: origin, Reason: "InvalidObject", Field: field, Message: fmt.Sprintf(format, args...)}}
	}
	if h.Metadata.Name == "" {
		return errf("metadata.name", "name is required")
	}
	obj := k.New()
	strict, err := kjson.UnmarshalStrict(doc, obj)
	if err != nil {
		return errf("", "cannot decode: %s", cleanJSONError(err))
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = cleanJSONError(e)
		}
		return errf("", "%s; fix or remove the field (see `kubectl explain %s`)", strings.Join(msgs, "; "), strings.ToLower(h.Kind))
	}
	meta := obj.(metav1.Object)
	if !k.Namespaced {
		meta.SetNamespace("")
	} else if meta.GetNamespace() == "" {
		meta.SetNamespace(defaultNamespace)
	}
	ref.Namespace = meta.GetNamespace()
	if ns := meta.GetNamespace(); ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			hint := ""
			if strings.ContainsAny(ns, "${}") {
				hint = "; it looks like an unexpanded shell variable: run the file through envsubst first"
			}
			return errf("metadata.namespace", "invalid namespace %q: %s%s", ns, strings.Join(errs, ", "), hint)
		}
	}
	if errs := validation.IsDNS1123Subdomain(meta.GetName()); len(errs) > 0 {
		return errf("metadata.name", "invalid name %q: %s", meta.GetName(), strings.Join(errs, ", "))
	}
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: h.Kind})
	return decoded{obj: obj}
}

func cleanJSONError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	s = strings.TrimPrefix(s, "error unmarshaling JSON: while decoding JSON: json: ")
	return s
}

func displayGK(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

func prefixAll(group string, versions []string) []string {
	out := make([]string, len(versions))
	for i, v := range versions {
		if group == "" {
			out[i] = v
		} else {
			out[i] = group + "/" + v
		}
	}
	return out
}
