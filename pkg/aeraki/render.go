package aeraki

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/source/file"
	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/plugin"
	"github.com/aeraki-ng/aeraki/pkg/profile"
	"github.com/aeraki-ng/aeraki/pkg/re2"
)

// meshFlags are the mesh settings every command that builds config takes.
type meshFlags struct {
	model              model.Options
	defaultNamespace   string
	pluginOptions      map[string]string
	maxFileSize        byteSize
	maxTotalSize       byteSize
	sidecarProxy       string
	waypointProxy      string
	istioWaypointProxy string
	ztunnelProxy       string
	profileFiles       []string
}

func (m *meshFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&m.model.DomainSuffix, "domain-suffix", "cluster.local", "DNS suffix of Kubernetes service names")
	f.StringVar(&m.model.RootNamespace, "root-namespace", "istio-system", "Istio's config root namespace, where mesh-wide EnvoyFilters go")
	f.StringVar(&m.model.WaypointClass, "waypoint-class", model.DefaultWaypointClass, "the GatewayClass of the waypoints aeraki serves itself (Gateways of class "+model.IstioWaypointClass+" are istiod's)")
	f.StringVar(&m.model.TrustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain of workload identities")
	f.IntVar(&m.model.RegexMaxProgramSize, "regex-max-program-size", re2.IstioMaxProgramSize, "largest RE2 program size the proxies accept (Envoy's runtime key re2.max_program_size.error_level; Istio's bootstrap sets 32768, a stock Envoy bootstrap leaves Envoy's default of 100); regexes over it are errors on their objects")
	f.StringVarP(&m.defaultNamespace, "namespace", "n", "default", "namespace for objects in files that name none, as kubectl apply -n")
	f.StringToStringVar(&m.pluginOptions, "plugin-option", nil, "plugin options as <plugin>.<key>=<value>, e.g. dubbo.filter=dubbo_proxy (repeatable)")
	m.maxFileSize, m.maxTotalSize = byteSize(file.DefaultMaxFileSize), byteSize(file.DefaultMaxTotalSize)
	f.Var(&m.maxFileSize, "max-file-size", "largest manifest file read, as a Kubernetes quantity (64Mi, 1Gi) or bytes; larger files are reported and skipped")
	f.Var(&m.maxTotalSize, "max-total-size", "most bytes read from all manifest files together; the files past it are reported and skipped")
	names := strings.Join(profile.Builtin().Names(), ", ")
	f.StringVar(&m.sidecarProxy, "sidecar-proxy", profile.IstioProxy, "the proxy build of Istio's sidecars and gateways, which get aeraki's EnvoyFilters through istiod: "+names+", or a --proxy-profile")
	f.StringVar(&m.waypointProxy, "waypoint-proxy", profile.Envoy, "the proxy build of the waypoints aeraki serves over ADS")
	f.StringVar(&m.istioWaypointProxy, "istio-waypoint-proxy", profile.IstioProxy, "the proxy build of the waypoints istiod serves (class istio-waypoint), which get aeraki's chains as EnvoyFilters through istiod")
	f.StringVar(&m.ztunnelProxy, "ztunnel-proxy", profile.Envoy, "the proxy build of the Envoy-based ztunnels aeraki serves over ADS")
	f.StringArrayVar(&m.profileFiles, "proxy-profile", nil, "a YAML profile of a custom proxy build (name, description, sources, extensions; see docs/profiles.md), selectable by its name (repeatable)")
}

// builds resolves the --*-proxy flags to the targets aeraki builds for,
// and the catalog they were looked up in (the built-in profiles plus
// --proxy-profile files).
func (m *meshFlags) builds() (plugin.Targets, *profile.Catalog, error) {
	var extra []*profile.Profile
	for _, f := range m.profileFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return plugin.Targets{}, nil, fmt.Errorf("--proxy-profile: %w", err)
		}
		p, err := profile.Parse(b)
		if err != nil {
			return plugin.Targets{}, nil, fmt.Errorf("--proxy-profile %s: %w", f, err)
		}
		extra = append(extra, p)
	}
	cat, err := profile.NewCatalog(extra...)
	if err != nil {
		return plugin.Targets{}, nil, err
	}
	t := plugin.DefaultTargets()
	for _, sel := range []struct {
		flag, name string
		set        func(*profile.Profile)
	}{
		{"--sidecar-proxy", m.sidecarProxy, func(p *profile.Profile) { t.Sidecar = p }},
		{"--waypoint-proxy", m.waypointProxy, func(p *profile.Profile) { t.Proxies[plugin.ProxyKindWaypoint] = p }},
		{"--ztunnel-proxy", m.ztunnelProxy, func(p *profile.Profile) { t.Proxies[plugin.ProxyKindZtunnel] = p }},
		{"--istio-waypoint-proxy", m.istioWaypointProxy, func(p *profile.Profile) { t.IstioWaypoint = p }},
	} {
		if sel.name == "" {
			continue
		}
		p, err := cat.Get(sel.name)
		if err != nil {
			return plugin.Targets{}, nil, fmt.Errorf("%s: %w", sel.flag, err)
		}
		sel.set(p)
	}
	return t, cat, nil
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
sidecars and istiod's waypoints, as a YAML stream or a JSON List. With --proxy
ztunnel/<node> or --proxy waypoint/<namespace>/<name> it prints instead the listeners,
clusters and endpoints aeraki serves that ambient proxy over ADS; for a waypoint istiod
serves (class istio-waypoint) it prints the EnvoyFilters targeting it, and says so.

Config is built for the proxy builds --sidecar-proxy, --waypoint-proxy,
--ztunnel-proxy and --istio-waypoint-proxy name (istio-proxy, envoy, envoy and
istio-proxy by default) and checked against them: each EnvoyFilter says its build in the aeraki.io/proxy-build annotation, each
proxy in its "build" field.

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
			targets, cat, err := mesh.builds()
			if err != nil {
				return err
			}
			res, err := render.RenderContext(cmd.Context(), render.Options{Paths: paths, Recursive: recursive, Model: mesh.model, Registry: e.registry, File: fileOptions(mesh), ShowSecrets: secrets,
				Targets: targets, Profiles: cat})
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
	cmd.Flags().StringVar(&proxy, "proxy", "sidecar", "what to print: sidecar (EnvoyFilters for istiod), ztunnel/<node> or waypoint/<namespace>/<name> (for a waypoint istiod serves: the EnvoyFilters targeting it)")
	return cmd
}

// writeRendered prints the sidecar EnvoyFilters, one document at a time,
// or one ambient proxy's config.
func writeRendered(ctx context.Context, e *env, res *render.Result, proxy, output string) error {
	if proxy == "" || proxy == "sidecar" {
		return res.WriteManifestsTo(ctx, e.stdout, output)
	}
	if efs, wp, ok := res.IstiodWaypoint(proxy); ok {
		// istiod serves this waypoint: what aeraki gives it are the
		// EnvoyFilters that target its Gateway.
		fmt.Fprintf(e.stderr, "%s is served by istiod (Gateway %s/%s, class %s): aeraki serves it no config; these are the %d EnvoyFilters targeting it that aeraki hands istiod\n",
			proxy, wp.Namespace, wp.Name, wp.Class, len(efs))
		return res.WriteEnvoyFiltersTo(ctx, e.stdout, efs, output)
	}
	p, err := res.Proxy(proxy)
	if err != nil {
		return err
	}
	if !res.ShowSecrets {
		p = translate.RedactProxy(p)
	}
	doc, err := render.ProxyDocument(p)
	if err == nil {
		if build := res.Build(proxy); build != "" {
			doc["build"] = build
		}
		if p.Kind == plugin.ProxyKindWaypoint {
			doc["servedBy"] = "aeraki" // istiod's waypoints are handled above
		}
	}
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
