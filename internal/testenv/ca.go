package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aeraki-ng/aeraki/internal/istioca"
)

// IstioCAAudience is the audience istiod's CA reviews tokens for
// (TOKEN_AUDIENCES, default istio-ca).
const IstioCAAudience = "istio-ca"

// ServiceAccountToken creates the ServiceAccount ns/sa (and its
// namespace) when missing and returns a token for it from the API
// server's TokenRequest API, as kubelet gets one for a projected volume.
// envtest's kube-apiserver signs ServiceAccount tokens
// (--service-account-issuer and signing key), so istiod's TokenReview
// accepts them.
func ServiceAccountToken(t testing.TB, cfg *rest.Config, ns, sa, audience string, ttl time.Duration) string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ensureServiceAccount(ctx, t, cs, ns, sa)
	secs := int64(ttl / time.Second)
	if secs < 600 {
		secs = 600 // the API server's minimum
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testenv: TokenRequest for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// RootCert waits until istiod has written its CA root into the
// istio-ca-root-cert ConfigMap of namespace ns and returns it (PEM).
func (ist *Istiod) RootCert(t testing.TB, ns string) []byte {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", ist.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	deadline := time.Now().Add(time.Minute)
	for {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "istio-ca-root-cert", metav1.GetOptions{})
		if err == nil && cm.Data["root-cert.pem"] != "" {
			return []byte(cm.Data["root-cert.pem"])
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: istiod wrote no istio-ca-root-cert ConfigMap in %s within a minute (last error: %v)", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WorkloadCert is a key and a certificate chain from istiod's CA.
type WorkloadCert struct {
	Certificate tls.Certificate
	Leaf        *x509.Certificate
	// KeyPEM and ChainPEM are the key and the chain (leaf first), PEM.
	KeyPEM, ChainPEM []byte
}

// IstioCertificate gets a certificate for the ServiceAccount ns/sa from
// istiod's CA, authenticated by a TokenRequest token, the way
// istio-agent gets one for a pod (see internal/istioca).
func (ist *Istiod) IstioCertificate(t testing.TB, cfg *rest.Config, ns, sa string, ttl time.Duration) *WorkloadCert {
	t.Helper()
	if ist.SecureXDSAddr == "" {
		t.Fatal("testenv: istiod runs without its CA; set IstiodOptions.CA")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ist.RootCert(t, ist.Namespace)) {
		t.Fatal("testenv: istiod's root certificate does not parse")
	}
	token := ServiceAccountToken(t, cfg, ns, sa, IstioCAAudience, time.Hour)
	c, err := istioca.New(istioca.Options{
		Address:    ist.SecureXDSAddr,
		ServerName: "istiod." + ist.Namespace + ".svc",
		Roots:      func() *x509.CertPool { return pool },
		Token:      func(context.Context) (string, error) { return token, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key, err := istioca.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := istioca.NewCSR(key, "")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.CreateCertificate(context.Background(), istioca.Request{CSR: csr, TTL: ttl})
	if err != nil {
		t.Fatalf("testenv: certificate for %s/%s from istiod: %v", ns, sa, err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	tc, err := tls.X509KeyPair(cert.ChainPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &WorkloadCert{Certificate: tc, Leaf: cert.Leaf, KeyPEM: keyPEM, ChainPEM: cert.ChainPEM}
}

// PodToken returns a token for pod's ServiceAccount bound to the pod
// (TokenRequest with a Pod boundObjectRef), the kind kubelet projects
// into a pod's volume: the API server adds the pod's name and UID to it,
// and TokenReview returns them, which is how istiod's CA finds the node a
// caller runs on (CA_TRUSTED_NODE_ACCOUNTS). The pod must exist.
func PodToken(t testing.TB, cfg *rest.Config, pod *corev1.Pod, audience string) string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	secs := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &secs,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testenv: TokenRequest bound to pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return tr.Status.Token
}

// CreatePod creates a pod (and its namespace and ServiceAccount when
// missing) running as sa on node, in phase Running: nothing runs it, but
// istiod's pod informers see it where a kubelet would have put it.
func CreatePod(t testing.TB, cfg *rest.Config, ns, name, sa, node, ip string) *corev1.Pod {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ensureServiceAccount(ctx, t, cs, ns, sa)
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testenv: pod %s/%s: %v", ns, name, err)
	}
	if ip != "" {
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if pod, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("testenv: pod %s/%s status: %v", ns, name, err)
		}
	}
	return pod
}

// ensureServiceAccount creates the namespace and the ServiceAccount ns/sa
// when missing.
func ensureServiceAccount(ctx context.Context, t testing.TB, cs kubernetes.Interface, ns, sa string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("testenv: namespace %s: %v", ns, err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("testenv: ServiceAccount %s/%s: %v", ns, sa, err)
	}
}
