package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Apply creates the objects of manifest files, as `kubectl create -f`
// would: each path is a file or a directory of .yaml/.yml files (not
// recursive), each file one or more documents. Use it for what a user
// applies next to the plugin: RBAC, the plugin's config. A document the
// API server refuses fails the test, naming the file.
func (c *Cluster) Apply(t testing.TB, paths ...string) {
	t.Helper()
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatalf("kubetest: client: %v", err)
	}
	for _, f := range manifestFiles(t, paths) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("kubetest: %v", err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("kubetest: %s: %v", f, err)
			}
			obj := map[string]any{}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("kubetest: %s document %d: %v", f, i, err)
			}
			if len(obj) == 0 {
				continue // a comment-only document
			}
			u := &unstructured.Unstructured{Object: obj}
			if err := cl.Create(context.Background(), u); err != nil {
				t.Fatalf("kubetest: %s: creating %s %s: %v", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// manifestFiles expands directories to their YAML files, sorted.
func manifestFiles(t testing.TB, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("kubetest: %v", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			t.Fatalf("kubetest: %v", err)
		}
		var files []string
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out
}

// Impersonate returns the path of a kubeconfig that acts as the
// ServiceAccount namespace/name (with its groups), so aeraki runs with
// exactly the rights its RBAC grants, as in a cluster: run aeraki with it
// to check that the rules you document for your plugin's kinds suffice.
// The ServiceAccount need not exist; RBAC bindings to it apply.
func (c *Cluster) Impersonate(t testing.TB, namespace, name string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + namespace + ":" + name
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-"+namespace+"-"+name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return path
}
