package waypoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// DefaultControllerName is the spec.controllerName of aeraki's waypoint
// GatewayClass.
const DefaultControllerName = "aeraki.io/waypoint-controller"

// FieldOwner is the server-side apply field manager of everything the
// controller writes.
const FieldOwner = "aeraki-waypoint-controller"

// DefaultTemplate is the built-in template of a waypoint's objects.
//
//go:embed waypoint.yaml.tmpl
var DefaultTemplate string

// DefaultResync is how often every Gateway's objects are applied again
// even without a change, which repairs hand edits and deletions; between
// resyncs a wake applies only the Gateways whose objects changed.
const DefaultResync = 30 * time.Second

// Options configure a Controller.
type Options struct {
	// Client reads Gateways, GatewayClasses and Services (an informer
	// cache's client) and writes through the API server. Required.
	Client client.Client
	// ClassName is the GatewayClass of the waypoints aeraki serves;
	// model.DefaultWaypointClass when empty.
	ClassName string
	// ControllerName is that class's spec.controllerName;
	// DefaultControllerName when empty. A GatewayClass of ClassName that
	// names another controller is not aeraki's: its Gateways are left
	// alone.
	ControllerName string
	// Template is the text/template of the objects; DefaultTemplate when
	// empty.
	Template string
	// Values fill the template.
	Values Values
	// Resync is how often everything is applied again, changed or not;
	// DefaultResync when zero.
	Resync time.Duration
	// Log receives structured logs.
	Log logr.Logger
}

// Values are the settings every waypoint's objects share.
type Values struct {
	// EnvoyImage runs the waypoint (upstream Envoy: the envoy profile).
	EnvoyImage string
	// AgentImage runs `aeraki agent` beside it (aeraki's own image).
	AgentImage string
	// XDSAddress is aeraki's TLS address as waypoints reach it
	// (aeraki.<namespace>.svc:15012).
	XDSAddress string
	// XDSIdentity is aeraki's SPIFFE id, which waypoints check.
	XDSIdentity string
	// CAAddress is Istio's CA, for the agent.
	CAAddress string
	// TrustDomain of the mesh's identities.
	TrustDomain string
	// SDSSocket is the agent's socket path, in a directory the two
	// containers share.
	SDSSocket string
	// RegexMaxProgramSize goes into the bootstrap's runtime.
	RegexMaxProgramSize int
}

// TemplateData is what the template sees for one Gateway.
type TemplateData struct {
	Values
	// Name and Namespace of the Gateway; the objects get the same.
	Name, Namespace string
	// ServiceAccount the waypoint runs as: the Gateway's name, as Istio's
	// waypoints do (and as aeraki authorizes them).
	ServiceAccount string
	// Bootstrap is the generated Envoy bootstrap, JSON.
	Bootstrap string
	// SDSDir is the directory of SDSSocket (the shared volume's mount).
	SDSDir string
	// HBONEPort and StatusPort are the waypoint's ports.
	HBONEPort, StatusPort int
}

// Controller deploys the Gateways of aeraki's waypoint class and writes
// their status. Run it only on the replica that leads.
type Controller struct {
	opts Options
	tmpl *template.Template
	wake chan struct{}
	// applied is, by Gateway, the fingerprint of the objects last applied
	// for it without error: a Wake (one per generation) then skips the
	// server-side applies of Gateways whose objects did not change. Read
	// and written by Run's goroutine only; emptied every Resync, so drift
	// (an object edited or deleted by hand) is repaired within one.
	applied map[string]string
}

// New parses the template.
func New(opts Options) (*Controller, error) {
	if opts.Client == nil {
		return nil, errors.New("waypoint controller: a client is required")
	}
	if opts.ClassName == "" {
		opts.ClassName = model.DefaultWaypointClass
	}
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	if opts.Template == "" {
		opts.Template = DefaultTemplate
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	t, err := ParseTemplate(opts.Template)
	if err != nil {
		return nil, err
	}
	return &Controller{opts: opts, tmpl: t, wake: make(chan struct{}, 1), applied: map[string]string{}}, nil
}

// ParseTemplate parses a waypoint template (DefaultTemplate when
// empty), so a broken --waypoint-template fails at start-up.
func ParseTemplate(text string) (*template.Template, error) {
	if text == "" {
		text = DefaultTemplate
	}
	t, err := template.New("waypoint").Option("missingkey=error").Funcs(template.FuncMap{
		"toJSON": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
	}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("waypoint template: %w", err)
	}
	return t, nil
}

// Wake asks for a reconcile soon (a new generation was published: a
// Gateway or Service may have changed). It never blocks.
func (c *Controller) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run reconciles at once, after every Wake and every Resync, until ctx
// ends.
func (c *Controller) Run(ctx context.Context) error {
	c.opts.Log.Info("deploying waypoints", "gatewayClass", c.opts.ClassName, "controllerName", c.opts.ControllerName)
	t := time.NewTicker(c.opts.Resync)
	defer t.Stop()
	last := ""
	for {
		// The same failure (Gateway API not installed, RBAC missing) is
		// logged once, not every resync.
		if err := c.reconcile(ctx); err != nil && ctx.Err() == nil {
			if err.Error() != last {
				c.opts.Log.Error(err, "waypoint reconcile failed; retrying", "every", c.opts.Resync)
			}
			last = err.Error()
		} else if err == nil && last != "" {
			c.opts.Log.Info("waypoint reconcile recovered")
			last = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-t.C:
			clear(c.applied) // apply everything again: repairs drift
		}
	}
}

// reconcile brings the class and every Gateway of it to what it should be.
func (c *Controller) reconcile(ctx context.Context) error {
	ours, err := c.gatewayClass(ctx)
	if err != nil || !ours {
		return err
	}
	var gws gatewayv1.GatewayList
	if err := c.opts.Client.List(ctx, &gws); err != nil {
		return fmt.Errorf("listing Gateways: %w", err)
	}
	var errs []error
	seen := map[string]bool{}
	for i := range gws.Items {
		gw := &gws.Items[i]
		if string(gw.Spec.GatewayClassName) != c.opts.ClassName || gw.DeletionTimestamp != nil {
			continue
		}
		seen[gw.Namespace+"/"+gw.Name] = true
		if err := c.reconcileGateway(ctx, gw); err != nil {
			errs = append(errs, fmt.Errorf("Gateway %s/%s: %w", gw.Namespace, gw.Name, err))
		}
	}
	for k := range c.applied {
		if !seen[k] {
			delete(c.applied, k)
		}
	}
	return errors.Join(errs...)
}

// gatewayClass creates the class when missing and accepts it; it reports
// whether the class is aeraki's.
func (c *Controller) gatewayClass(ctx context.Context) (bool, error) {
	gc := &gatewayv1.GatewayClass{}
	err := c.opts.Client.Get(ctx, client.ObjectKey{Name: c.opts.ClassName}, gc)
	if apierrors.IsNotFound(err) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": gatewayv1.GroupVersion.String(), "kind": "GatewayClass",
			"metadata": map[string]any{"name": c.opts.ClassName},
			"spec": map[string]any{"controllerName": c.opts.ControllerName,
				"description": "Waypoints aeraki deploys and serves"},
		}}
		if err := c.opts.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner)); err != nil {
			return false, fmt.Errorf("creating GatewayClass %s: %w", c.opts.ClassName, err)
		}
		c.opts.Log.Info("created GatewayClass", "name", c.opts.ClassName)
		return false, nil // the cache sees it soon; the next pass accepts it
	}
	if err != nil {
		return false, fmt.Errorf("GatewayClass %s: %w", c.opts.ClassName, err)
	}
	if string(gc.Spec.ControllerName) != c.opts.ControllerName {
		c.opts.Log.Info("the waypoint GatewayClass names another controller; its Gateways are not deployed by aeraki",
			"gatewayClass", gc.Name, "controllerName", gc.Spec.ControllerName, "want", c.opts.ControllerName)
		return false, nil
	}
	want := metav1.Condition{Type: string(gatewayv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionTrue,
		Reason: string(gatewayv1.GatewayClassReasonAccepted), Message: "Handled by aeraki's waypoint controller", ObservedGeneration: gc.Generation}
	if conditionsEqual(gc.Status.Conditions, []metav1.Condition{want}) {
		return true, nil
	}
	return true, c.applyStatus(ctx, "GatewayClass", "", gc.Name, map[string]any{
		"conditions": conditionsFor(gc.Status.Conditions, []metav1.Condition{want}),
	})
}

// reconcileGateway deploys one Gateway and writes its status.
func (c *Controller) reconcileGateway(ctx context.Context, gw *gatewayv1.Gateway) error {
	objs, renderErr := c.Render(gw)
	var applyErr error
	key := gw.Namespace + "/" + gw.Name
	if renderErr == nil {
		fp, fpErr := fingerprint(objs)
		if fpErr != nil || c.applied[key] != fp {
			delete(c.applied, key)
			for _, o := range objs {
				if err := c.opts.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
					applyErr = fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
					break
				}
			}
			if applyErr == nil && fpErr == nil {
				c.applied[key] = fp
			}
		}
	}
	var addresses []any
	svc := &corev1.Service{}
	svcErr := c.opts.Client.Get(ctx, client.ObjectKey{Namespace: gw.Namespace, Name: gw.Name}, svc)
	if svcErr == nil {
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				addresses = append(addresses, map[string]any{"type": string(gatewayv1.IPAddressType), "value": ip})
			}
		}
	}
	programmed := metav1.Condition{Type: string(gatewayv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue,
		Reason: string(gatewayv1.GatewayReasonProgrammed), ObservedGeneration: gw.Generation}
	switch {
	case renderErr != nil:
		programmed.Status, programmed.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonInvalid)
		programmed.Message = "The waypoint template failed: " + renderErr.Error()
	case applyErr != nil:
		programmed.Status, programmed.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonPending)
		programmed.Message = "Deploying the waypoint failed: " + applyErr.Error()
	case len(addresses) == 0:
		programmed.Status, programmed.Reason = metav1.ConditionFalse, string(gatewayv1.GatewayReasonAddressNotAssigned)
		programmed.Message = fmt.Sprintf("Waiting for Service %s/%s to get a cluster IP", gw.Namespace, gw.Name)
	default:
		programmed.Message = fmt.Sprintf("Deployed; served by aeraki over ADS at %s; ztunnels reach it at Service %s/%s", c.opts.Values.XDSAddress, gw.Namespace, gw.Name)
	}
	accepted := metav1.Condition{Type: string(gatewayv1.GatewayConditionAccepted), Status: metav1.ConditionTrue,
		Reason: string(gatewayv1.GatewayReasonAccepted), Message: "Handled by aeraki's waypoint controller", ObservedGeneration: gw.Generation}
	want := []metav1.Condition{accepted, programmed}
	if !conditionsEqual(gw.Status.Conditions, want) || !addressesEqual(gw.Status.Addresses, addresses) {
		st := map[string]any{"conditions": conditionsFor(gw.Status.Conditions, want)}
		if len(addresses) > 0 {
			st["addresses"] = addresses
		}
		if err := c.applyStatus(ctx, "Gateway", gw.Namespace, gw.Name, st); err != nil {
			return err
		}
	}
	return errors.Join(renderErr, applyErr)
}

// fingerprint identifies a Gateway's rendered objects (their JSON, whose
// map keys encoding/json sorts).
func fingerprint(objs []*unstructured.Unstructured) (string, error) {
	h := sha256.New()
	for _, o := range objs {
		b, err := json.Marshal(o.Object)
		if err != nil {
			return "", err
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Render is the Gateway's objects from the template, each in the
// Gateway's namespace, owned by it (so deleting the Gateway deletes them)
// and labelled with its name.
func (c *Controller) Render(gw *gatewayv1.Gateway) ([]*unstructured.Unstructured, error) {
	v := c.opts.Values
	sa := gw.Name
	id := model.SPIFFEID(v.TrustDomain, gw.Namespace, sa)
	b, err := Bootstrap(BootstrapOptions{NodeID: "waypoint/" + gw.Namespace + "/" + gw.Name, Cluster: gw.Name + "." + gw.Namespace,
		XDSAddress: v.XDSAddress, XDSIdentity: v.XDSIdentity, Identity: id, SDSSocket: v.SDSSocket, RegexMaxProgramSize: v.RegexMaxProgramSize})
	if err != nil {
		return nil, err
	}
	bj, err := BootstrapJSON(b)
	if err != nil {
		return nil, err
	}
	data := TemplateData{Values: v, Name: gw.Name, Namespace: gw.Namespace, ServiceAccount: sa, Bootstrap: bj,
		SDSDir: filepath.Dir(v.SDSSocket), HBONEPort: HBONEPort, StatusPort: StatusPort}
	var buf bytes.Buffer
	if err := c.tmpl.Execute(&buf, data); err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&buf, 4096)
	var out []*unstructured.Unstructured
	owner := map[string]any{"apiVersion": gatewayv1.GroupVersion.String(), "kind": "Gateway", "name": gw.Name,
		"uid": string(gw.UID), "controller": true, "blockOwnerDeletion": true}
	for {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("the template's output is not YAML: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("the template made an object without apiVersion, kind or metadata.name")
		}
		if ns := u.GetNamespace(); ns != "" && ns != gw.Namespace {
			return nil, fmt.Errorf("the template put %s %s in namespace %s; waypoint objects live in the Gateway's namespace %s", u.GetKind(), u.GetName(), ns, gw.Namespace)
		}
		u.SetNamespace(gw.Namespace)
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[model.LabelGatewayName] = gw.Name
		labels["app.kubernetes.io/managed-by"] = "aeraki"
		u.SetLabels(labels)
		if err := unstructured.SetNestedSlice(u.Object, []any{owner}, "metadata", "ownerReferences"); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("the template made no objects")
	}
	return out, nil
}

// applyStatus writes a status with server-side apply, as FieldOwner.
func (c *Controller) applyStatus(ctx context.Context, kind, ns, name string, status map[string]any) error {
	meta := map[string]any{"name": name}
	if ns != "" {
		meta["namespace"] = ns
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gatewayv1.GroupVersion.String(), "kind": kind, "metadata": meta, "status": status,
	}}
	if err := c.opts.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("writing the status of %s %s: %w", kind, strings.TrimPrefix(ns+"/"+name, "/"), err)
	}
	return nil
}

// conditionsFor is want as JSON-ready maps, keeping lastTransitionTime of
// a condition whose status did not change.
func conditionsFor(current, want []metav1.Condition) []any {
	out := make([]any, 0, len(want))
	for _, w := range want {
		ts := metav1.Now()
		if cur := apimeta.FindStatusCondition(current, w.Type); cur != nil && cur.Status == w.Status {
			ts = cur.LastTransitionTime
		}
		out = append(out, map[string]any{"type": w.Type, "status": string(w.Status), "reason": w.Reason, "message": w.Message,
			"observedGeneration": w.ObservedGeneration, "lastTransitionTime": ts.UTC().Format(time.RFC3339)})
	}
	return out
}

func conditionsEqual(current, want []metav1.Condition) bool {
	for _, w := range want {
		c := apimeta.FindStatusCondition(current, w.Type)
		if c == nil || c.Status != w.Status || c.Reason != w.Reason || c.Message != w.Message || c.ObservedGeneration != w.ObservedGeneration {
			return false
		}
	}
	return true
}

func addressesEqual(current []gatewayv1.GatewayStatusAddress, want []any) bool {
	var a, b []string
	for _, c := range current {
		t := ""
		if c.Type != nil {
			t = string(*c.Type)
		}
		a = append(a, t+"="+c.Value)
	}
	for _, w := range want {
		m := w.(map[string]any)
		b = append(b, m["type"].(string)+"="+m["value"].(string))
	}
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}
