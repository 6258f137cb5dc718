// Package kubetest starts a real Kubernetes API server (etcd and
// kube-apiserver, through controller-runtime's envtest) for the tests of
// aeraki plugins, with aeraki's CRDs and the plugin's own installed, so a
// plugin that brings a kind (plugin.KindProvider) can check, in its own
// module, what users will see: its CRD accepted by the API server, and
// aeraki in Kubernetes mode watching its objects and writing their status.
//
//	func TestPolicyStatus(t *testing.T) {
//		c := kubetest.Start(t, kubetest.Options{CRDDirs: []string{"crd"}})
//		cl := c.Client(t, myv1alpha1.AddToScheme) // the plugin's API group
//		// create a Service and a policy with cl, run
//		// aeraki.Run(ctx, []string{"serve", "--kubeconfig", c.Kubeconfig, ...}, ...)
//		// in a goroutine, and poll the policy's status.conditions.
//	}
//
// The servers listen on 127.0.0.1 only, on free ports, and stop when the
// test ends. The binaries are not downloaded: Options.BinDir, else
// $KUBEBUILDER_ASSETS, names the directory holding etcd and
// kube-apiserver (aeraki's `make test` builds them into .cache/bin and
// sets it). Without them Start skips the test with the exact fix, and
// says so on stderr even without -v.
//
// aeraki's own integration tests start their API servers with this
// package too (internal/testenv.StartKube).
package kubetest
