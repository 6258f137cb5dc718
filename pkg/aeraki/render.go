package aeraki

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// meshFlags are the mesh settings every command that builds config takes.
type meshFlags struct {
	model            model.Options
	defaultNamespace string
	pluginOptions    map[string]string
	maxFileSize      byteSize
	maxTotalSize     byteSize
}

func (m *meshFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&m.model.DomainSuffix, "domain-suffix", "cluster.local", "DNS suffix of Kubernetes service names")
	f.StringVar(&m.model.RootNamespace, "root-namespace", "istio-system", "Istio's config root namespace, where mesh-wide EnvoyFilters go")
	f.StringVar(&m.model.TrustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain of workload identities")
	f.IntVar(&m.model.RegexMaxProgramSize, "regex-max-program-size", re2.IstioMaxProgramSize, "largest RE2 program size the proxies accept (Envoy's runtime key re2.max_program_size.error_level; Istio's bootstrap sets 32768, a stock Envoy bootstrap leaves Envoy's default of 100); regexes over it are errors on their objects")
	f.StringVarP(&m.defaultNamespace, "namespace", "n", "default", "namespace for objects in files that name none, as kubectl apply -n")
	f.StringToStringVar(&m.pluginOptions, "plugin-option", nil, "plugin options as <plugin>.<key>=<value>, e.g. dubbo.filter=dubbo_proxy (repeatable)")
	m.maxFileSize, m.maxTotalSize = byteSize(file.DefaultMaxFileSize), byteSize(file.DefaultMaxTotalSize)
	f.Var(&m.maxFileSize, "max-file-size", "largest manifest file read, as a Kubernetes quantity (64Mi, 1Gi) or bytes; larger files are reported and skipped")
	f.Var(&m.maxTotalSize, "max-total-size", "most bytes read from all manifest files together; the files past it are reported and skipped")
}

func renderCommand(e *env) *cobra.Command {
	var (
		mesh      meshFlags
		paths     []string
		recursive bool
		output    string
		verbose   bool
		proxy     string
		secrets   bool
	)
	cmd := &cobra.Command{
		Use:   "render -f PATH [-f PATH...] [-R]",
		Short: "Print the config some manifests produce, without a cluster",
		Long: `render reads manifests the way kubectl apply -f reads them (files, or directories one
level deep; -R for recursive) and prints the EnvoyFilters aeraki would hand istiod for
sidecars, as a YAML stream or a JSON List. With --proxy ztunnel/<node> or
--proxy waypoint/<namespace>/<name> it prints instead the listeners, clusters and
endpoints aeraki serves that ambient proxy over ADS.

Problems are printed to stderr, one line each, naming the object and file they concern;
the exit status is 1 when any object had errors (everything else is still rendered).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(paths) == 0 {
				return fmt.Errorf("render needs -f PATH (a file or directory of manifests)")
			}
			if err := e.registry.Configure(mesh.pluginOptions); err != nil {
				return err
			}
			res, err := render.RenderContext(cmd.Context(), render.Options{Paths: paths, Recursive: recursive, Model: mesh.model, Registry: e.registry, File: fileOptions(mesh), ShowSecrets: secrets})
			if err != nil {
				return err
			}
			if err := writeRendered(cmd.Context(), e, res, proxy, output); err != nil {
				return err
			}
			render.WriteDiagnostics(e.stderr, res.Diagnostics, verbose)
			if len(res.Errors()) > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	mesh.register(cmd)
	cmd.Flags().StringArrayVarP(&paths, "filename", "f", nil, "file or directory of manifests (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print notes about skipped documents")
	cmd.Flags().BoolVar(&secrets, "show-secrets", false, "print credentials (Redis passwords) as served instead of <redacted>, e.g. to kubectl apply the output; rendered config otherwise ends up in terminals, issues and CI logs")
	cmd.Flags().StringVar(&proxy, "proxy", "sidecar", "what to print: sidecar (EnvoyFilters for istiod), ztunnel/<node> or waypoint/<namespace>/<name>")
	return cmd
}

// writeRendered prints the sidecar EnvoyFilters, one document at a time,
// or one ambient proxy's config.
func writeRendered(ctx context.Context, e *env, res *render.Result, proxy, output string) error {
	if proxy == "" || proxy == "sidecar" {
		return res.WriteManifestsTo(ctx, e.stdout, output)
	}
	p, err := res.Proxy(proxy)
	if err != nil {
		return err
	}
	if !res.ShowSecrets {
		p = translate.RedactProxy(p)
	}
	doc, err := render.ProxyDocument(p)
	if err != nil {
		return err
	}
	return render.WriteDocument(e.stdout, doc, output)
}

func fileOptions(m meshFlags) file.Options {
	return file.Options{DefaultNamespace: m.defaultNamespace, MaxFileSize: int64(m.maxFileSize), MaxTotalSize: int64(m.maxTotalSize)}
}

// byteSize is a flag holding a number of bytes, written as a Kubernetes
// quantity ("64Mi", "1Gi", "500M") or a plain number.
type byteSize int64

func (b *byteSize) String() string {
	return resource.NewQuantity(int64(*b), resource.BinarySI).String()
}

func (b *byteSize) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("%q is not a size: write it like 64Mi, 1Gi or 1000000", s)
	}
	n, ok := q.AsInt64()
	if !ok || n <= 0 {
		return fmt.Errorf("%q: want a whole, positive number of bytes", s)
	}
	*b = byteSize(n)
	return nil
}

func (b *byteSize) Type() string { return "size" }
