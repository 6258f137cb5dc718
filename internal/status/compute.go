package status

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aeraki-ng/aeraki/api/conditions"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
)

// refReasons are the reasons that mean a reference does not resolve.
var refReasons = map[string]bool{
	conditions.ReasonHostNotFound:   true,
	conditions.ReasonSubsetNotFound: true,
	conditions.ReasonRefNotFound:    true,
}

// maxMessage bounds a condition message; the API allows 32768 bytes, but
// a message is read by people, in `kubectl describe`.
const maxMessage = 4096

// Result is the status one object should have.
type Result struct {
	// Ref names the object.
	Ref model.ObjectRef
	// Generation is the metadata.generation the conditions were computed
	// from.
	Generation int64
	// Conditions are Accepted, ResolvedRefs and Programmed, in that order,
	// without lastTransitionTime (the writer keeps or sets it). Results
	// may share the slice: it is read-only.
	Conditions []metav1.Condition
}

// Compute returns the status of every object in snap whose kind has a
// status (model.Kind.Status) (the
// snapshot as the source delivered it, before the translator left rejected
// objects out), from the diagnostics of the source and the translation
// and from what the translation built. The result is keyed by
// ObjectRef.Key. It assumes out was published (see the package
// documentation).
func Compute(snap *model.Snapshot, sourceDiags []model.Diagnostic, out *translate.Output) map[string]Result {
	byObject := map[string][]model.Diagnostic{}
	for _, list := range [][]model.Diagnostic{sourceDiags, out.Diagnostics} {
		for _, d := range list {
			if d.Severity >= model.SeverityWarning && d.Object.Kind != "" {
				byObject[d.Object.Key()] = append(byObject[d.Object.Key()], d)
			}
		}
	}
	failed := map[string]model.Diagnostic{} // object -> a failure of a unit built from it
	for _, u := range out.Units {
		if !u.FailedClosed && !u.Stale {
			continue
		}
		d := unitFailure(u)
		for _, r := range u.Objects {
			if _, ok := failed[r.Key()]; !ok {
				failed[r.Key()] = d
			}
		}
	}
	// This runs after every generation, over every object with a status
	// (10,000 MetaRouters in a large mesh): only the kinds with one are
	// listed, and the objects without findings, nearly all of them,
	// share the conditions of their generation (Results are read-only).
	results := map[string]Result{}
	fine := map[int64][]metav1.Condition{}
	for _, k := range snap.Kinds().All() {
		if k.Status == nil {
			continue
		}
		for _, o := range snap.ObjectsOfKind(k.GVK.Group, k.GVK.Kind) {
			var gen int64
			if m, ok := o.Object.(metav1.Object); ok {
				gen = m.GetGeneration()
			}
			key := o.Ref.Key()
			diags := byObject[key]
			d, failedUnit := failed[key]
			if len(diags) == 0 && !failedUnit {
				c, ok := fine[gen]
				if !ok {
					c = conditionsFor(gen, nil, nil)
					fine[gen] = c
				}
				results[key] = Result{Ref: o.Ref, Generation: gen, Conditions: c}
				continue
			}
			var fail *model.Diagnostic
			if failedUnit {
				fail = &d
			}
			results[key] = Result{Ref: o.Ref, Generation: gen, Conditions: conditionsFor(gen, diags, fail)}
		}
	}
	return results
}

// unitFailure is the diagnostic that says why a unit failed.
func unitFailure(u *translate.Unit) model.Diagnostic {
	for _, d := range u.Diagnostics {
		if d.Severity == model.SeverityError {
			return d
		}
	}
	return model.Diagnostic{Severity: model.SeverityError, Reason: "PluginError", Plugin: u.Plugin,
		Message: fmt.Sprintf("building %s for %s failed", u.Key, u.Role)}
}

// conditionsFor computes the three conditions from an object's findings
// (warnings and errors) and, if a unit built from it failed, that failure.
func conditionsFor(gen int64, diags []model.Diagnostic, unitFail *model.Diagnostic) []metav1.Condition {
	var errs, warns, refs []model.Diagnostic
	for _, d := range diags {
		if d.Severity == model.SeverityError {
			errs = append(errs, d)
		} else {
			warns = append(warns, d)
		}
		if refReasons[d.Reason] {
			refs = append(refs, d)
		}
	}
	cond := func(t string, ok bool, reason, msg string) metav1.Condition {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		return metav1.Condition{Type: t, Status: st, Reason: reason, Message: truncate(msg), ObservedGeneration: gen}
	}
	var accepted metav1.Condition
	switch {
	case len(errs) > 0:
		accepted = cond(conditions.TypeAccepted, false, reasonOf(errs[0]), "Not accepted, so nothing is built from it and proxies keep their last good config: "+list(errs, false))
	case len(warns) > 0:
		accepted = cond(conditions.TypeAccepted, true, conditions.ReasonAccepted, fmt.Sprintf("Accepted with %s: %s", plural(len(warns), "warning"), list(warns, true)))
	default:
		accepted = cond(conditions.TypeAccepted, true, conditions.ReasonAccepted, "Accepted")
	}
	resolved := cond(conditions.TypeResolvedRefs, true, conditions.ReasonResolvedRefs, "Every reference resolves")
	if len(refs) > 0 {
		resolved = cond(conditions.TypeResolvedRefs, false, reasonOf(refs[0]), list(refs, false))
	}
	var programmed metav1.Condition
	switch {
	case len(errs) > 0:
		programmed = cond(conditions.TypeProgrammed, false, conditions.ReasonInvalid, "Not programmed: the object is not accepted (see the Accepted condition)")
	case unitFail != nil:
		programmed = cond(conditions.TypeProgrammed, false, reasonOf(*unitFail), "Not programmed: "+describe(*unitFail, false))
	default:
		programmed = cond(conditions.TypeProgrammed, true, conditions.ReasonProgrammed, "The config built from it is served to istiod and the proxies")
	}
	return []metav1.Condition{accepted, resolved, programmed}
}

// reasonPattern is what the API server accepts as a condition reason.
var reasonPattern = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

func reasonOf(d model.Diagnostic) string {
	if len(d.Reason) <= 1024 && reasonPattern.MatchString(d.Reason) {
		return d.Reason
	}
	return "Invalid"
}

// list renders findings for a condition message, one after the other.
func list(ds []model.Diagnostic, withReason bool) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = describe(d, withReason)
	}
	return strings.Join(parts, "; ")
}

// describe renders one finding without the object, which the condition
// is on already: "spec.hosts[0]: host ... [plugin dubbo]".
func describe(d model.Diagnostic, withReason bool) string {
	var b strings.Builder
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if withReason && d.Reason != "" {
		fmt.Fprintf(&b, " (%s)", d.Reason)
	}
	if d.Plugin != "" {
		fmt.Fprintf(&b, " [plugin %s]", d.Plugin)
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("... (truncated)")
	for cut > 0 && (s[cut]&0xC0) == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "... (truncated)"
}
