package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
