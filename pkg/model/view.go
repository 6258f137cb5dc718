package model

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	metaprotocolv1alpha1 "github.com/aeraki-ng/aeraki/api/metaprotocol/v1alpha1"
)

// View is the read-only window plugins get on a Snapshot. Every lookup is
// recorded when the View is tracked, which is how aeraki knows what to
// rebuild after a change without plugins declaring their inputs.
//
// Objects returned are shared with other readers: never modify them.
type View struct {
	snap *Snapshot
	deps Deps
	mu   *sync.Mutex // guards deps when the build reads from several goroutines
}

// track records a read of the key that is parts joined. The key is built
// in a buffer and made a string only when deps gets it and the snapshot
// does not hold it (deps otherwise gets the snapshot's string, shared by
// every view that reads the key; unset has those of the namespace
// lookups that find nothing): an untracked view builds nothing, and a key
// read again (with the same revision) costs no allocation.
func (v *View) track(parts ...string) {
	if v.deps == nil {
		return
	}
	var buf [160]byte
	k := buf[:0]
	for _, p := range parts {
		k = append(k, p...)
	}
	v.trackBytes(k)
}

func (v *View) trackBytes(k []byte) {
	if v.mu != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	key, rev, found := v.snap.revs.entryBytes(k)
	if old, ok := v.deps[string(k)]; ok && old == rev {
		return
	}
	if !found {
		key = v.snap.unset.intern(k)
	}
	v.deps[key] = rev
}

// Untrack stops the view's recording: what it reads from now on is not
// recorded. A build whose record was sealed (Deps.Seal) calls it so that
// the map it recorded into can record the next build, with nothing a
// context kept past its build writing into it meanwhile.
func (v *View) Untrack() {
	if v.mu != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	v.deps = nil
}

// Options returns the mesh settings (domain suffix, root namespace, trust domain).
func (v *View) Options() Options { return v.snap.opts }

// ResolveHost completes a short host name relative to namespace
// ("reviews" in "bookinfo" is "reviews.bookinfo.svc.cluster.local").
func (v *View) ResolveHost(host, namespace string) string {
	return ResolveHost(host, namespace, v.snap.opts.DomainSuffix)
}

// Service returns the service with this exact hostname, or nil.
func (v *View) Service(hostname string) *Service {
	v.track(serviceKeyPrefix, hostname)
	if l := v.snap.services[hostname]; len(l) > 0 {
		return l[0]
	}
	return nil
}

// serviceKeyPrefix starts the dependency key of a service, "svc:<host>".
const serviceKeyPrefix = "svc:"

// LookupService finds the service a routing object in namespace means by
// host: the completed name first, then the host exactly as written (a
// ServiceEntry may declare a short host literally).
func (v *View) LookupService(host, namespace string) *Service {
	h := strings.ToLower(strings.TrimSpace(host))
	if h == "" || strings.Contains(h, ".") || h == "*" || namespace == "" {
		// ResolveHost leaves it as it is.
		if s := v.Service(h); s != nil {
			return s
		}
		return v.Service(host)
	}
	// ResolveHost's name, "<host>.<namespace>.svc.<suffix>", built after
	// the key's prefix in one buffer: the service is looked up by the
	// name, the read recorded by the key, neither made a string.
	var buf [160]byte
	k := append(append(append(append(append(append(buf[:0], serviceKeyPrefix...), h...), '.'), namespace...), ".svc."...), v.snap.opts.DomainSuffix...)
	if v.deps != nil {
		v.trackBytes(k)
	}
	if l := v.snap.services[string(k[len(serviceKeyPrefix):])]; len(l) > 0 {
		return l[0]
	}
	return v.Service(host)
}

// Services returns every service, sorted by hostname. Reading the whole
// list makes the caller depend on every service.
func (v *View) Services() []*Service {
	v.track("services")
	return v.snap.serviceList
}

// Endpoints returns the endpoints of a service port, sorted by address.
func (v *View) Endpoints(hostname string, port uint32) []Endpoint {
	key := hostname + "|" + strconv.FormatUint(uint64(port), 10)
	v.track("ep:", key)
	return v.snap.endpoints[key]
}

// DestinationRules returns the DestinationRules for a hostname, oldest first.
func (v *View) DestinationRules(hostname string) []*networkingv1.DestinationRule {
	v.trackHost(gkDestinationRule, hostname)
	return v.snap.drs.get(hostname)
}

// Subsets returns the subsets declared for a hostname. When several
// DestinationRules declare the same subset name, the oldest wins.
func (v *View) Subsets(hostname string) []Subset {
	var out []Subset
	seen := map[string]bool{}
	for _, dr := range v.DestinationRules(hostname) {
		for _, ss := range dr.Spec.Subsets {
			if ss == nil || seen[ss.Name] {
				continue
			}
			seen[ss.Name] = true
			out = append(out, Subset{Name: ss.Name, Labels: ss.Labels})
		}
	}
	return out
}

// Subset returns the named subset of a hostname.
func (v *View) Subset(hostname, name string) (Subset, bool) {
	for _, s := range v.Subsets(hostname) {
		if s.Name == name {
			return s, true
		}
	}
	return Subset{}, false
}

// VirtualServices returns the VirtualServices that name a hostname, oldest first.
func (v *View) VirtualServices(hostname string) []*networkingv1.VirtualService {
	v.trackHost(gkVirtualService, hostname)
	return v.snap.vss.get(hostname)
}

// MetaRouters returns the MetaRouters that name a hostname, oldest first.
func (v *View) MetaRouters(hostname string) []*metaprotocolv1alpha1.MetaRouter {
	v.trackHost(gkMetaRouter, hostname)
	return v.snap.mrs.get(hostname)
}

// AllMetaRouters returns every MetaRouter; the core uses it to report
// routers whose hosts match no service.
func (v *View) AllMetaRouters() []*metaprotocolv1alpha1.MetaRouter {
	v.trackList(gkMetaRouter)
	return v.snap.mrList
}

// ApplicationProtocol returns the ApplicationProtocol that defines a
// meta-protocol name (its spec.protocol), or nil.
func (v *View) ApplicationProtocol(protocol Protocol) *metaprotocolv1alpha1.ApplicationProtocol {
	v.track(routingPrefix, protocolPrefix, string(protocol))
	return v.snap.aps[string(protocol)]
}

// ApplicationProtocols returns every ApplicationProtocol.
func (v *View) ApplicationProtocols() []*metaprotocolv1alpha1.ApplicationProtocol {
	v.trackList(gkApplicationProtocol)
	return v.snap.apList
}

// Secret returns a Secret, for plugins that read credentials (Redis auth).
// Never log or echo its data.
func (v *View) Secret(namespace, name string) *corev1.Secret {
	v.track("secret:", namespace, "/", name)
	return v.snap.secrets[namespace+"/"+name]
}

// Namespace returns a namespace's labels, or nil when it is unknown.
func (v *View) Namespace(name string) *Namespace {
	v.track("ns:", name)
	return v.snap.namespaces[name]
}

// Workloads returns every pod and WorkloadEntry, sorted.
func (v *View) Workloads() []*Workload {
	v.track("workloads")
	return v.snap.workloads
}

// WorkloadByIP returns the workload with this address, or nil.
func (v *View) WorkloadByIP(ip string) *Workload {
	v.track("ip:", ip)
	return v.snap.workloadsByIP[ip]
}

// Gateways returns the Gateway API Gateways of the snapshot.
func (v *View) Gateways() []*gatewayv1.Gateway {
	v.track("gateways")
	return v.snap.gateways
}

// keyTable holds the strings of dependency keys a snapshot does not
// have, made once for every view that records a read of one. It holds
// namespace keys of routing kinds only (a few per kind and namespace);
// other keys missing from the snapshot (a host's, read by few units) are
// recorded as copies.
type keyTable struct {
	mu   sync.RWMutex
	keys map[string]string
}

// intern returns k as a string: the table's when k is a namespace key of
// a routing kind.
func (t *keyTable) intern(k []byte) string {
	if t == nil || !bytes.HasPrefix(k, []byte(routingPrefix)) || bytes.IndexByte(k, '#') < 0 {
		return string(k)
	}
	t.mu.RLock()
	s, ok := t.keys[string(k)]
	t.mu.RUnlock()
	if ok {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.keys[string(k)]; ok {
		return s
	}
	s = string(k)
	t.keys[s] = s
	return s
}
