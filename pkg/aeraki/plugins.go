package aeraki

import (
	"fmt"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

func pluginsCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins built into this binary, the protocols they claim and the kinds they bring",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tPROTOCOLS\tKINDS\tCAPABILITIES\tDESCRIPTION")
			for _, p := range e.registry.Plugins() {
				var protos []string
				for _, pr := range p.Protocols() {
					protos = append(protos, string(pr))
				}
				desc := ""
				if d, ok := p.(plugin.Describer); ok {
					desc = d.Description()
				}
				kinds := []string{}
				if kp, ok := p.(plugin.KindProvider); ok {
					for _, k := range kp.Kinds() {
						kinds = append(kinds, k.String())
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name(), orDash(protos), orDash(kinds), strings.Join(capabilities(p), ","), desc)
			}
			return w.Flush()
		},
	}
}

func orDash(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ",")
}

func capabilities(p plugin.Plugin) []string {
	var out []string
	if _, ok := p.(plugin.RouteConfigBuilder); ok {
		out = append(out, "routes")
	}
	if _, ok := p.(plugin.NetworkFilterBuilder); ok {
		out = append(out, "filters")
	}
	if _, ok := p.(plugin.ObjectValidator); ok {
		out = append(out, "validate")
	}
	if _, ok := p.(plugin.Configurable); ok {
		out = append(out, "options")
	}
	if _, ok := p.(plugin.ProxyBuilder); ok {
		out = append(out, "proxies")
	}
	if len(out) == 0 {
		out = append(out, "-")
	}
	return out
}

func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print aeraki's version and the versions of the APIs it speaks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(e.stdout, "aeraki %s\n", Version())
			fmt.Fprintf(e.stdout, "revision %s\n", Revision())
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return nil
			}
			fmt.Fprintf(e.stdout, "go %s\n", strings.TrimPrefix(info.GoVersion, "go"))
			for _, d := range info.Deps {
				switch d.Path {
				case "github.com/envoyproxy/go-control-plane/envoy", "istio.io/api", "istio.io/client-go", "sigs.k8s.io/gateway-api", "k8s.io/client-go":
					fmt.Fprintf(e.stdout, "%s %s\n", d.Path, d.Version)
				}
			}
			return nil
		},
	}
}
