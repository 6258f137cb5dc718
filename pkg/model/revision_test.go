package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// TestRevisionCountsOnlyStatusTheModelReads: a Pod that gets its IP is a
// change (the model reads it), a Pod condition or a status written on a
// MetaRouter is not.
func TestRevisionCountsOnlyStatusTheModelReads(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	before := rev(t, pod)
	withIP := pod.DeepCopy()
	withIP.Status.PodIP = "10.0.0.7"
	if rev(t, withIP) == before {
		t.Error("a Pod that got its IP has the same revision")
	}
	ready := withIP.DeepCopy()
	ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if rev(t, ready) != rev(t, withIP) {
		t.Error("a Pod condition changed the revision; the model does not read conditions")
	}
	mr := &metaprotocolv1alpha1.MetaRouter{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
	written := mr.DeepCopy()
	written.Status.ObservedGeneration = 3
	if rev(t, mr) != rev(t, written) {
		t.Error("a status write on a MetaRouter changed its revision")
	}
}

func rev(t *testing.T, obj interface {
	runtime.Object
	metav1.Object
}) Revision {
	t.Helper()
	r, err := revisionOfObject(obj, obj, NewKindIndex(nil))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// unencodable is a Pod whose JSON encoding fails.
type unencodable struct{ *corev1.Pod }

func (unencodable) MarshalJSON() ([]byte, error) { return nil, errors.New("no encoding") }

// TestRevisionOfUnencodableObjectIsRefused: an object without a JSON form
// gets no revision, rather than a fallback that prints pointers (equal
// objects would then differ on every build, and be rebuilt forever).
func TestRevisionOfUnencodableObjectIsRefused(t *testing.T) {
	a := unencodable{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}}
	b := unencodable{a.Pod.DeepCopy()}
	ra, errA := revisionOfObject(a, a.Pod, NewKindIndex(nil))
	rb, _ := revisionOfObject(b, b.Pod, NewKindIndex(nil))
	if ra != rb {
		t.Fatalf("equal objects got revisions %q and %q: the hash is not deterministic", ra, rb)
	}
	if errA == nil || ra != "" {
		t.Fatalf("revision %q, error %v: want no revision and the encoding error", ra, errA)
	}
}

// TestRevisionOfAListIsItsJSONHash: lists of revisions take a path
// without encoding/json; the revision is the same as through it, for
// plain and for escaped strings.
func TestRevisionOfAListIsItsJSONHash(t *testing.T) {
	viaJSON := func(v any) Revision {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		return Revision(hex.EncodeToString(sum[:8]))
	}
	for _, l := range [][]Revision{nil, {}, {"0123456789abcdef"}, {"a", "", "b"}, {"<&>"}, {"q\"x"}, {"\u2028", "é"}, {"\n"}} {
		if got, want := RevisionOf(l), viaJSON(l); got != want {
			t.Errorf("RevisionOf(%q) = %s, through encoding/json %s", l, got, want)
		}
	}
}

// TestFastRevisionTellsTheSameChanges: the one-pass revision of an
// object tells two versions apart exactly when the three-pass one does,
// over every kind of the generated mesh and, for each object, versions
// that differ only in what the model does not read (bookkeeping
// metadata, apiVersion, status it ignores) or in what it does (labels,
// the status it reads). Every kind of the mesh takes the one pass.
func TestFastRevisionTellsTheSameChanges(t *testing.T) {
	ks := NewKindIndex(meshKinds)
	var objs []runtime.Object
	for _, s := range generatedMesh() {
		for _, o := range s.versions {
			if o == nil {
				continue
			}
			objs = append(objs, o)
			for i, change := range []func(metav1.Object){
				func(m metav1.Object) { m.SetResourceVersion("42") },
				func(m metav1.Object) { m.SetUID("u-1"); m.SetGeneration(7) },
				func(m metav1.Object) {
					m.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}})
				},
				func(m metav1.Object) {
					m.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"})
				},
				func(m metav1.Object) { m.SetAnnotations(map[string]string{"a": "b"}) },
				func(m metav1.Object) { m.SetLabels(map[string]string{"changed": "yes"}) },
			} {
				c := o.DeepCopyObject()
				change(c.(metav1.Object))
				if i == 0 {
					gvk := c.GetObjectKind().GroupVersionKind()
					gvk.Version = "v0"
					c.GetObjectKind().SetGroupVersionKind(gvk)
				}
				objs = append(objs, c)
			}
			if p, ok := o.(*corev1.Pod); ok {
				c := p.DeepCopy()
				c.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				objs = append(objs, c)
				c = p.DeepCopy()
				c.Status.PodIP = "10.9.9.9"
				objs = append(objs, c)
			}
			if mr, ok := o.(*metaprotocolv1alpha1.MetaRouter); ok {
				c := mr.DeepCopy()
				c.Status.ObservedGeneration = 9
				objs = append(objs, c)
			}
		}
	}
	fast := make([]Revision, len(objs))
	slow := make([]Revision, len(objs))
	for i, o := range objs {
		k, _ := ks.ofObject(o)
		r, ok, err := fastRevision(o, k.ReadStatus)
		if !ok || err != nil {
			t.Fatalf("%T takes the three passes (%v)", o, err)
		}
		fast[i] = r
		if slow[i], err = threePassRevision(o, k.ReadStatus); err != nil {
			t.Fatal(err)
		}
	}
	for i := range objs {
		for j := i + 1; j < len(objs); j++ {
			if (fast[i] == fast[j]) != (slow[i] == slow[j]) {
				t.Fatalf("%T %s and %s: one-pass revisions equal %v, three-pass %v",
					objs[i], objs[i].(metav1.Object).GetName(), objs[j].(metav1.Object).GetName(), fast[i] == fast[j], slow[i] == slow[j])
			}
		}
	}
}

// BenchmarkObjectRevision: the revision of each kind of object the
// Kubernetes source hashes most, in one pass and in three.
func BenchmarkObjectRevision(b *testing.B) {
	ks := NewKindIndex(nil)
	seen := map[string]bool{}
	for _, s := range generatedMesh() {
		o := s.versions[1]
		switch o.(type) {
		case *corev1.Pod, *corev1.Service, *metaprotocolv1alpha1.MetaRouter, *networkingv1.DestinationRule, *discoveryv1.EndpointSlice:
		default:
			continue
		}
		name := fmt.Sprintf("%T", o)
		if seen[name] {
			continue
		}
		seen[name] = true
		k, _ := ks.ofObject(o)
		b.Run(name+"/one-pass", func(b *testing.B) {
			for b.Loop() {
				fastRevision(o, k.ReadStatus)
			}
		})
		b.Run(name+"/three-pass", func(b *testing.B) {
			for b.Loop() {
				threePassRevision(o, k.ReadStatus)
			}
		})
	}
}
