package model

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	dubbov1alpha1 "github.com/aeraki-ng/aeraki/api/dubbo/v1alpha1"
	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
	redisv1alpha1 "github.com/aeraki-ng/aeraki/api/redis/v1alpha1"
)

// meshKinds are kinds plugins bring, as the generated mesh uses them: a
// routing kind indexed by the hosts it names (short and full names), a
// routing kind that applies to its namespace, and a kind the model only
// holds.
var meshKinds = []Kind{
	{GVK: redisv1alpha1.SchemeGroupVersion.WithKind("RedisService"), Resource: "redisservices", Namespaced: true,
		New: func() runtime.Object { return &redisv1alpha1.RedisService{} }, AddToScheme: redisv1alpha1.AddToScheme,
		Routing: true, Hosts: func(o runtime.Object) []string { return o.(*redisv1alpha1.RedisService).Spec.Host }},
	{GVK: dubbov1alpha1.SchemeGroupVersion.WithKind("DubboAuthorizationPolicy"), Resource: "dubboauthorizationpolicies", Namespaced: true,
		New: func() runtime.Object { return &dubbov1alpha1.DubboAuthorizationPolicy{} }, AddToScheme: dubbov1alpha1.AddToScheme,
		Routing: true},
	{GVK: redisv1alpha1.SchemeGroupVersion.WithKind("RedisDestination"), Resource: "redisdestinations", Namespaced: true,
		New: func() runtime.Object { return &redisv1alpha1.RedisDestination{} }, AddToScheme: redisv1alpha1.AddToScheme},
}

var meshOptions = Options{Kinds: meshKinds}

// meshSlot is one object of the generated mesh, with the versions it may
// take (nil: absent). Objects are built once, so the same version is the
// same object in every snapshot, as in a source's cache.
type meshSlot struct{ versions []runtime.Object }

// generatedMesh returns slots over two namespaces that cover every index
// an Edit updates: Services and ServiceEntries sharing hosts, selectors
// and EndpointSlices naming pods by name and by address, pods moving
// between nodes and addresses (sharing one), waypoint pods, Gateways and
// their classes, namespaces' ambient labels, routing objects of every
// core kind with tied creation times, Secrets, ApplicationProtocols
// competing for a protocol name.
func generatedMesh() []meshSlot {
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(1700000000+int64(s), 0)) }
	var slots []meshSlot
	add := func(versions ...runtime.Object) {
		slots = append(slots, meshSlot{versions: append([]runtime.Object{nil}, versions...)})
	}
	nss := []string{"a", "b"}
	for _, ns := range nss {
		add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{LabelDataplaneMode: "ambient", LabelUseWaypoint: "wp"}}})
		add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}, Data: map[string][]byte{"p": []byte("1")}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: ns}, Data: map[string][]byte{"p": []byte("2")}})
		for i := range 3 {
			name := fmt.Sprintf("svc%d", i)
			host := name + "." + ns + ".svc.cluster.local"
			svc := func(sel map[string]string, port int32, labels map[string]string) *corev1.Service {
				return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
					Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", len(ns), i+1), Selector: sel,
						Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: port, TargetPort: intstr.FromString("dubbo")}, {Name: "http", Port: 80}}}}
			}
			add(svc(map[string]string{"app": name}, 20880, nil), svc(map[string]string{"app": "x"}, 20880, map[string]string{LabelUseWaypoint: "wp"}),
				svc(nil, 20881, nil))
			pn, pp := "tcp-dubbo", int32(20880)
			slice := func(addrs []string, ref string) *discoveryv1.EndpointSlice {
				ep := discoveryv1.Endpoint{Addresses: addrs}
				if ref != "" {
					ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: ref}
				}
				return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-s", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
					AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &pn, Port: &pp}}, Endpoints: []discoveryv1.Endpoint{ep}}
			}
			add(slice([]string{"10.1.0.1"}, "p0"), slice([]string{"10.1.0.2"}, ""), slice([]string{"10.1.0.3", "10.1.0.1"}, "p1"))
			router := func(created int, subset string, hosts ...string) *metaprotocolv1alpha1.MetaRouter {
				return &metaprotocolv1alpha1.MetaRouter{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: at(created)},
					Spec: metaprotocolv1alpha1.MetaRouterSpec{Hosts: hosts, Routes: []metaprotocolv1alpha1.MetaRoute{{Name: subset}}}}
			}
			add(router(1, "v1", name), router(1, "v2", name), router(0, "v1", "svc0", host), router(2, "v1", "svc0."+ns+".svc.cluster.local"))
			dr := func(created int, h string) *networkingv1.DestinationRule {
				return &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: at(created)},
					Spec: networkingv1alpha3.DestinationRule{Host: h, Subsets: []*networkingv1alpha3.Subset{{Name: "v1", Labels: map[string]string{"v": "1"}}}}}
			}
			add(dr(0, name), dr(1, "svc1"), dr(1, host))
		}
		add(&networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "vs", Namespace: ns}, Spec: networkingv1alpha3.VirtualService{Hosts: []string{"svc0", "svc1"}}},
			&networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "vs", Namespace: ns}, Spec: networkingv1alpha3.VirtualService{Hosts: []string{"svc2"}}})
		se := func(hosts []string, addrs []string, sel map[string]string) *networkingv1.ServiceEntry {
			o := &networkingv1.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Name: "se", Namespace: ns},
				Spec: networkingv1alpha3.ServiceEntry{Hosts: hosts, Ports: []*networkingv1alpha3.ServicePort{{Name: "tcp-dubbo", Number: 20880}}, Resolution: networkingv1alpha3.ServiceEntry_STATIC}}
			for _, a := range addrs {
				o.Spec.Endpoints = append(o.Spec.Endpoints, &networkingv1alpha3.WorkloadEntry{Address: a})
			}
			if sel != nil {
				o.Spec.WorkloadSelector = &networkingv1alpha3.WorkloadSelector{Labels: sel}
			}
			return o
		}
		add(se([]string{"svc0." + ns + ".svc.cluster.local", "ext.example.com"}, []string{"10.1.0.1"}, nil),
			se([]string{"ext.example.com", "EXT.example.com"}, nil, map[string]string{"app": "svc1"}),
			se([]string{"svc1." + ns + ".svc.cluster.local"}, []string{"10.1.0.9"}, nil))
		for i := range 3 {
			name := fmt.Sprintf("p%d", i)
			pod := func(ip, node string, labels map[string]string, phase corev1.PodPhase) *corev1.Pod {
				return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
					Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "dubbo", ContainerPort: 20881}}}}},
					Status: corev1.PodStatus{PodIP: ip, Phase: phase}}
			}
			add(pod(fmt.Sprintf("10.1.0.%d", i+1), "n1", map[string]string{"app": fmt.Sprintf("svc%d", i), "v": "1"}, corev1.PodRunning),
				pod("10.1.0.1", "n2", map[string]string{"app": "svc0", "v": "2"}, corev1.PodRunning),
				pod("", "n1", map[string]string{"app": "x"}, corev1.PodPending),
				pod("10.1.0.3", "n2", map[string]string{"app": "svc2"}, corev1.PodSucceeded),
				pod("10.1.0.100", "n3", map[string]string{LabelGatewayName: "wp"}, corev1.PodRunning))
		}
		add(&networkingv1.WorkloadEntry{ObjectMeta: metav1.ObjectMeta{Name: "we", Namespace: ns}, Spec: networkingv1alpha3.WorkloadEntry{Address: "10.1.0.2", Labels: map[string]string{"app": "svc1"}}},
			&networkingv1.WorkloadEntry{ObjectMeta: metav1.ObjectMeta{Name: "we", Namespace: ns}, Spec: networkingv1alpha3.WorkloadEntry{Address: "10.1.0.7"}})
		gw := func(class string, labels map[string]string) *gatewayv1.Gateway {
			return &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "wp", Namespace: ns, Labels: labels}, Spec: gatewayv1.GatewaySpec{GatewayClassName: gatewayv1.ObjectName(class)}}
		}
		add(gw(DefaultWaypointClass, nil), gw(IstioWaypointClass, map[string]string{LabelWaypointFor: "all"}), gw("other", nil))
		add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "wp", Namespace: ns}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.9.9", Ports: []corev1.ServicePort{{Name: "mesh", Port: 15008}}}})
	}
	for i, ns := range nss {
		at := metav1.NewTime(time.Unix(1700000000, 0))
		rs := func(name string, hosts ...string) *redisv1alpha1.RedisService {
			return &redisv1alpha1.RedisService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: at}, Spec: redisv1alpha1.RedisServiceSpec{Host: hosts}}
		}
		add(rs("rs", "svc0"), rs("rs", "svc0", "svc1."+ns+".svc.cluster.local"), rs("rs", "svc1."+nss[1-i]+".svc.cluster.local"))
		add(rs("rs2", "svc2"), rs("rs2", "svc0."+ns+".svc.cluster.local"))
		ap := func(action dubbov1alpha1.Action) *dubbov1alpha1.DubboAuthorizationPolicy {
			return &dubbov1alpha1.DubboAuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "ap", Namespace: ns, CreationTimestamp: at}, Spec: dubbov1alpha1.DubboAuthorizationPolicySpec{Action: action}}
		}
		add(ap("ALLOW"), ap("DENY"))
		add(&redisv1alpha1.RedisDestination{ObjectMeta: metav1.ObjectMeta{Name: "rd", Namespace: ns}, Spec: redisv1alpha1.RedisDestinationSpec{Host: "svc0"}},
			&redisv1alpha1.RedisDestination{ObjectMeta: metav1.ObjectMeta{Name: "rd", Namespace: ns}, Spec: redisv1alpha1.RedisDestinationSpec{Host: "svc1"}})
	}
	add(&gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: DefaultWaypointClass, Labels: map[string]string{LabelWaypointFor: "workload"}}},
		&gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: DefaultWaypointClass}})
	for i := range 2 {
		ap := func(proto string) *metaprotocolv1alpha1.ApplicationProtocol {
			return &metaprotocolv1alpha1.ApplicationProtocol{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ap%d", i), Namespace: nss[i]},
				Spec: metaprotocolv1alpha1.ApplicationProtocolSpec{Protocol: proto, Codec: "c"}}
		}
		add(ap("trpc"), ap("TRPC"), ap("qza"))
	}
	return slots
}

// TestEditEqualsBuild: after random sequences of adds, updates and
// deletes, a snapshot derived by Edit (and by BuildFrom) equals the one
// Build makes from the same objects: objects, every index, every
// revision; and Diff from each recent ancestor, which works from the
// recorded changes, equals the diff that compares every key.
func TestEditEqualsBuild(t *testing.T) {
	slots := generatedMesh()
	seeds := []int64{1, 2, 3, 4, time.Now().UnixNano()}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			state := make([]int, len(slots))
			for i := range state {
				state[i] = rng.Intn(len(slots[i].versions))
			}
			scratch := func() *Snapshot {
				b := NewBuilder(meshOptions)
				for i, v := range state {
					if o := slots[i].versions[v]; o != nil {
						if err := b.Add(o, Origin{}); err != nil {
							t.Fatal(err)
						}
					}
				}
				return b.Build()
			}
			cur := scratch()
			history := []*Snapshot{cur}
			derivedSteps := 0
			var prevW *Snapshot
			for step := range 60 {
				e := cur.Edit()
				for range 1 + rng.Intn(3) {
					i := rng.Intn(len(slots))
					state[i] = rng.Intn(len(slots[i].versions))
					if o := slots[i].versions[state[i]]; o != nil {
						if err := e.Put(o, Origin{}); err != nil {
							t.Fatal(err)
						}
					} else {
						ref, _, err := cur.kinds.refOf(firstNonNil(slots[i].versions))
						if err != nil {
							t.Fatal(err)
						}
						e.Delete(ref)
					}
				}
				next := cur.derive(e.changes, 0) // never from scratch: exercise every path
				want := scratch()
				if diff := compareSnapshots(next, want); diff != "" {
					t.Fatalf("seed %d step %d: the derived snapshot differs from a build: %s", seed, step, diff)
				}
				if next != cur {
					derivedSteps++
				}
				history = append(history, next)
				for back := 1; back <= 4 && back < len(history); back++ {
					old := history[len(history)-1-back]
					if got, full := Diff(old, next), Diff(old, want); !slices.Equal(got, full) {
						t.Fatalf("seed %d step %d: Diff from %d back = %v, comparing every key = %v", seed, step, back, got, full)
					}
					// Back in time (a rollback to an ancestor).
					if got, full := Diff(next, old), diffAll(next, old); !slices.Equal(got, full) {
						t.Fatalf("seed %d step %d: Diff to %d back = %v, comparing every key = %v", seed, step, back, got, full)
					}
				}
				// A sibling: another Edit of the same snapshot; the two
				// differ by both Edits' changes.
				sib := cur.Edit()
				i := rng.Intn(len(slots))
				if o := slots[i].versions[rng.Intn(len(slots[i].versions))]; o != nil {
					if err := sib.Put(o, Origin{}); err != nil {
						t.Fatal(err)
					}
				} else {
					ref, _, _ := cur.kinds.refOf(firstNonNil(slots[i].versions))
					sib.Delete(ref)
				}
				sibling := cur.derive(sib.changes, 0)
				if got, full := Diff(sibling, next), diffAll(sibling, next); !slices.Equal(got, full) {
					t.Fatalf("seed %d step %d: Diff between two Edits of one snapshot = %v, comparing every key = %v", seed, step, got, full)
				}
				// The translator's way: rejected objects left out of
				// consecutive snapshots, and the change between the two.
				drop := map[string]bool{}
				for _, e := range next.entries {
					if rng.Intn(8) == 0 {
						drop[e.key] = true
					}
				}
				w := next.Without(drop)
				if diff := compareSnapshots(w, scratchWithout(t, slots, state, drop)); diff != "" {
					t.Fatalf("seed %d step %d: Without differs from a build without the objects: %s", seed, step, diff)
				}
				if prevW != nil {
					if got, full := Diff(prevW, w), Diff(prevW, scratchWithout(t, slots, state, drop)); !slices.Equal(got, full) {
						t.Fatalf("seed %d step %d: Diff between Without snapshots = %v, comparing every key = %v", seed, step, got, full)
					}
				}
				prevW = w
				// The file source's way: every object added again.
				b := NewBuilder(meshOptions)
				for i, v := range state {
					if o := slots[i].versions[v]; o != nil {
						if err := b.Add(o, Origin{}); err != nil {
							t.Fatal(err)
						}
					}
				}
				if diff := compareSnapshots(b.BuildFrom(cur), want); diff != "" {
					t.Fatalf("seed %d step %d: BuildFrom differs from a build: %s", seed, step, diff)
				}
				cur = next
			}
			if derivedSteps < 30 {
				t.Fatalf("only %d of 60 steps changed the snapshot", derivedSteps)
			}
		})
	}
}

// diffAll is Diff comparing every key of both snapshots.
func diffAll(a, b *Snapshot) []string {
	var out []string
	for k, r := range b.revs.all() {
		if o, ok := a.revs.get(k); !ok || o != r {
			out = append(out, k)
		}
	}
	for k := range a.revs.all() {
		if _, ok := b.revs.get(k); !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func scratchWithout(t *testing.T, slots []meshSlot, state []int, drop map[string]bool) *Snapshot {
	b := NewBuilder(meshOptions)
	for i, v := range state {
		if o := slots[i].versions[v]; o != nil {
			ref, _, err := b.kinds.refOf(o)
			if err != nil {
				t.Fatal(err)
			}
			if !drop[ref.Key()] {
				if err := b.Add(o, Origin{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return b.Build()
}

func firstNonNil(l []runtime.Object) runtime.Object {
	for _, o := range l {
		if o != nil {
			return o
		}
	}
	return nil
}

// compareSnapshots returns where two snapshots differ ("" when they do
// not), treating nil and empty slices and maps alike and the reverse
// lookup index as sets.
func compareSnapshots(a, b *Snapshot) string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		switch name {
		case "kinds", "lineage", "touched", "opts", "derivable":
			continue
		case "unset": // strings to record reads as, not content
			continue
		case "objects": // an overlay: compare what it holds
			keys := map[string]bool{}
			for _, e := range append(slices.Clone(a.entries), b.entries...) {
				keys[e.key] = true
			}
			for k := range b.objects.base {
				keys[k] = true
			}
			for k := range keys {
				x, okx := a.objects.get(k)
				y, oky := b.objects.get(k)
				if okx != oky {
					return "objects[" + k + "]: present in one only"
				}
				if p := deepDiff(reflect.ValueOf(x), reflect.ValueOf(y), "objects["+k+"]", map[[2]uintptr]bool{}); p != "" {
					return p
				}
			}
			continue
		case "revs": // an overlay: compare what it holds
			if a.revs.len() != b.revs.len() {
				return fmt.Sprintf("revs: %d keys vs %d", a.revs.len(), b.revs.len())
			}
			if d := diffAll(a, b); len(d) > 0 {
				return fmt.Sprintf("revs: %v", d)
			}
			continue
		case "epReaders":
			if !sameSets(a.epReaders, b.epReaders) {
				return "epReaders"
			}
			continue
		}
		if path := deepDiff(va.Field(i), vb.Field(i), name, map[[2]uintptr]bool{}); path != "" {
			return path
		}
	}
	return ""
}

// diffCowMaps compares two cowMaps by their entries: which shards a
// map made itself (owned) depends on how it was derived, not on what it
// holds.
func diffCowMaps(a, b reflect.Value, path string, seen map[[2]uintptr]bool) string {
	entries := func(m reflect.Value) map[string]reflect.Value {
		out := map[string]reflect.Value{}
		shards := m.FieldByName("shards")
		for i := range shards.Len() {
			it := shards.Index(i).MapRange()
			for it.Next() {
				out[it.Key().String()] = it.Value()
			}
		}
		return out
	}
	ea, eb := entries(a), entries(b)
	if len(ea) != len(eb) || a.FieldByName("n").Int() != b.FieldByName("n").Int() {
		return fmt.Sprintf("%s: %d entries (n %d) vs %d (n %d)", path, len(ea), a.FieldByName("n").Int(), len(eb), b.FieldByName("n").Int())
	}
	for k, va := range ea {
		vb, ok := eb[k]
		if !ok {
			return fmt.Sprintf("%s[%s]: missing", path, k)
		}
		if p := deepDiff(va, vb, path+"["+k+"]", seen); p != "" {
			return p
		}
	}
	return ""
}

func sameSets(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, l := range a {
		x, y := slices.Clone(l), slices.Clone(b[k])
		sort.Strings(x)
		sort.Strings(y)
		if !slices.Equal(x, y) {
			return false
		}
	}
	return true
}

func deepDiff(a, b reflect.Value, path string, seen map[[2]uintptr]bool) string {
	if a.Kind() != b.Kind() {
		return path + ": kinds differ"
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil vs not"
			}
			return ""
		}
		k := [2]uintptr{a.Pointer(), b.Pointer()}
		if k[0] == k[1] || seen[k] {
			return ""
		}
		seen[k] = true
		return deepDiff(a.Elem(), b.Elem(), path, seen)
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil vs not"
			}
			return ""
		}
		return deepDiff(a.Elem(), b.Elem(), path, seen)
	case reflect.Struct:
		if strings.HasPrefix(a.Type().Name(), "cowMap[") {
			return diffCowMaps(a, b, path, seen)
		}
		for i := range a.NumField() {
			if p := deepDiff(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name, seen); p != "" {
				return p
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if p := deepDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), seen); p != "" {
				return p
			}
		}
		return ""
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d entries vs %d", path, a.Len(), b.Len())
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() {
				return fmt.Sprintf("%s[%v]: missing", path, it.Key())
			}
			if p := deepDiff(it.Value(), bv, fmt.Sprintf("%s[%v]", path, it.Key()), seen); p != "" {
				return p
			}
		}
		return ""
	case reflect.Func:
		return ""
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q vs %q", path, a.String(), b.String())
		}
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return path + ": bools differ"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %d vs %d", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %d vs %d", path, a.Uint(), b.Uint())
		}
	case reflect.Float32, reflect.Float64:
		if a.Float() != b.Float() {
			return path + ": floats differ"
		}
	}
	return ""
}

// TestEditPutOfABadUpdateRemovesTheOldVersion: an update the model
// refuses (a port out of range) is not put, and the version it replaces
// is not served on in its place: the snapshot is the one a build without
// the object makes, and the caller is told why.
func TestEditPutOfABadUpdateRemovesTheOldVersion(t *testing.T) {
	svc := func(port int32) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "a"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: port}}}}
	}
	other := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "a"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.2", Ports: []corev1.ServicePort{{Name: "tcp-dubbo", Port: 20880}}}}
	b := NewBuilder(Options{})
	for _, o := range []runtime.Object{svc(20880), other} {
		if err := b.Add(o, Origin{}); err != nil {
			t.Fatal(err)
		}
	}
	prev := b.Build()
	e := prev.Edit()
	if err := e.Put(svc(70000), Origin{}); err == nil {
		t.Fatal("a Service with port 70000 was put without an error")
	}
	got := e.Build()
	if _, ok := got.Object(ObjectRef{Kind: "Service", Namespace: "a", Name: "s"}); ok {
		t.Fatal("the version the refused update replaces is still in the snapshot")
	}
	want := NewBuilder(Options{})
	if err := want.Add(other, Origin{}); err != nil {
		t.Fatal(err)
	}
	if d := compareSnapshots(got, want.Build()); d != "" {
		t.Fatalf("the snapshot differs from a build without the refused object: %s", d)
	}
}
