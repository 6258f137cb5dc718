package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkReload measures what the --config-dir source does before the
// translator runs: "full" reads and decodes a whole directory of n Dubbo
// services (each a Service, a DestinationRule and a MetaRouter, in 100
// files), as the first load does; "one-file-changed" is the watcher's
// reload after an edit of one file, which decodes that file only.
// Results are in docs/performance.md.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		dir := b.TempDir()
		files := benchFiles(n)
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		w, err := NewWatcher(WatcherOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("services=%d/full", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.load(context.Background(), newLoadCache()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("services=%d/one-file-changed", n), func(b *testing.B) {
			cache := newLoadCache()
			if _, err := w.load(context.Background(), cache); err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(dir, "ns-00.yaml")
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				b.StopTimer()
				content := strings.Replace(files["ns-00.yaml"], "sayHello", fmt.Sprintf("say%d", i), 1)
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := w.load(context.Background(), cache); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchFiles(n int) map[string]string {
	files := map[string]*strings.Builder{}
	for i := range n {
		ns := fmt.Sprintf("ns-%02d", i%100)
		f := files[ns]
		if f == nil {
			f = &strings.Builder{}
			files[ns] = f
		}
		fmt.Fprintf(f, `---
apiVersion: v1
kind: Service
metadata: {name: svc-%[1]d, namespace: %[2]s}
spec:
  clusterIP: 10.%[3]d.%[4]d.%[5]d
  selector: {app: svc-%[1]d}
  ports:
  - {name: tcp-dubbo, port: 20880}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-%[1]d, namespace: %[2]s}
spec:
  host: svc-%[1]d
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: svc-%[1]d, namespace: %[2]s}
spec:
  hosts: [svc-%[1]d]
  routes:
  - name: hello
    match: {attributes: {method: {exact: sayHello}}}
    route: [{destination: {host: svc-%[1]d, subset: v2}}]
`, i, ns, i>>16&255, i>>8&255, i&255)
	}
	out := map[string]string{}
	for ns, f := range files {
		out[ns+".yaml"] = f.String()
	}
	return out
}
