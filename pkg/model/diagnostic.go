package model

import (
	"fmt"
	"strings"
)

// Severity ranks a Diagnostic.
type Severity int

const (
	// SeverityInfo is a note, such as a skipped kind; nothing is wrong.
	SeverityInfo Severity = iota
	// SeverityWarning means the object is used, but part of it is not
	// programmed (a field the data plane cannot carry, a shadowed duplicate).
	SeverityWarning
	// SeverityError means the object, or the part named, is left out.
	SeverityError
)

// String is the lower-case name of the severity.
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	default:
		return "error"
	}
}

// Diagnostic is one finding about one object: what is wrong, where, and
// what to do. Diagnostics become status conditions on the object in
// Kubernetes mode and lines on stderr in `aeraki render`.
type Diagnostic struct {
	// Severity says whether the object was used.
	Severity Severity `json:"severity"`
	// Object is the object concerned. Zero for findings about a whole file.
	Object ObjectRef `json:"object"`
	// Origin is the file and document the object came from, if any.
	Origin Origin `json:"origin,omitempty"`
	// Field is the path of the offending field, such as "spec.routes[1].route[0].weight".
	Field string `json:"field,omitempty"`
	// Reason is a CamelCase machine-readable cause, used as the condition reason.
	Reason string `json:"reason"`
	// Message says what was wrong and what to do about it.
	Message string `json:"message"`
	// Plugin names the plugin that reported it; empty for the core.
	Plugin string `json:"plugin,omitempty"`
}

// Error implements error so diagnostics can travel as errors.
func (d Diagnostic) Error() string { return d.String() }

// String renders the diagnostic on one line:
// "error: MetaRouter ns/name (dir/file.yaml#0): spec.routes[0]: message [plugin dubbo]".
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Severity.String())
	b.WriteString(": ")
	if d.Object.Kind != "" {
		b.WriteString(d.Object.String())
		if o := d.Origin.String(); o != "" {
			fmt.Fprintf(&b, " (%s)", o)
		}
		b.WriteString(": ")
	} else if o := d.Origin.String(); o != "" {
		fmt.Fprintf(&b, "%s: ", o)
	}
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Plugin != "" {
		fmt.Fprintf(&b, " [plugin %s]", d.Plugin)
	}
	return b.String()
}
