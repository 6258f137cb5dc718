package plugin

import (
	"errors"
	"fmt"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Error is a failure inside a plugin, tied to the object it concerns, so
// it can land in that object's status and in `aeraki render`'s errors.
type Error struct {
	// Plugin is the name of the plugin that failed.
	Plugin string
	// Object is the object concerned (often the Service being built).
	Object model.ObjectRef
	// Reason is a CamelCase cause for the status condition.
	Reason string
	// Err is what went wrong.
	Err error
}

// Error renders "plugin dubbo: MetaRouter ns/name: message".
func (e *Error) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", e.Plugin, e.Object, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Diagnostic turns the error into an error-severity diagnostic.
func (e *Error) Diagnostic() model.Diagnostic {
	reason := e.Reason
	if reason == "" {
		reason = "PluginError"
	}
	var d model.Diagnostic
	if errors.As(e.Err, &d) {
		d.Plugin = e.Plugin
		if d.Object.Kind == "" {
			d.Object = e.Object
		}
		return d
	}
	return model.Diagnostic{Severity: model.SeverityError, Object: e.Object, Reason: reason, Message: e.Err.Error(), Plugin: e.Plugin}
}

// Errorf builds an Error for an object.
func Errorf(plugin string, obj model.ObjectRef, reason, format string, args ...any) *Error {
	return &Error{Plugin: plugin, Object: obj, Reason: reason, Err: fmt.Errorf(format, args...)}
}
