package aeraki

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aeraki-ng/aeraki/internal/render"
	"github.com/aeraki-ng/aeraki/internal/trace"
)

func traceCommand(e *env) *cobra.Command {
	var (
		mesh      meshFlags
		paths     []string
		recursive bool
		from, to  string
		attrs     map[string]string
		output    string
		ztunnel   string
	)
	cmd := &cobra.Command{
		Use:   "trace -f PATH --from <ns/pod | ip> --to <host | ip>:<port> [--attr key=value ...]",
		Short: "Follow one call through the generated ztunnel and waypoint config, hop by hop",
		Long: `trace renders the manifests like aeraki render, then runs one call through the
generated config the way Envoy would: the ztunnel listener and filter chain that take it,
the tunnel it goes into, the waypoint listener and chain, the L7 route (Dubbo: --attr
method=sayHello, --attr interface=..., other attributes are attachments; Thrift: method,
service, other attributes are headers; Redis: key, command), the cluster
with the weights of weighted clusters, the endpoint and its metadata, and the final HBONE
target. Where the call stops, it says why: it follows what Envoy's code does, so a
listener naming an extension the proxy's build lacks stops with the NACK Envoy would
send, and a generic_proxy route with weighted clusters ends in cluster_not_found.
Dubbo calls through dubbo_proxy need --attr interface=..., as every Dubbo call has one.

With -o mermaid or -o dot it draws the call instead: the listeners, chains, routes,
clusters, endpoints and tunnels as boxes grouped by proxy, the end of the call (and
why it stopped) as the last box; paste the Mermaid text into Markdown that renders it
(GitHub does), or render the DOT with Graphviz (aeraki trace ... -o dot | dot -Tsvg).

The exit status is 0 when the call reaches its destination and 3 when it stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(paths) == 0 || from == "" || to == "" {
				return fmt.Errorf("trace needs -f PATH, --from and --to")
			}
			if err := e.registry.Configure(mesh.pluginOptions); err != nil {
				return err
			}
			targets, cat, err := mesh.builds()
			if err != nil {
				return err
			}
			res, err := render.RenderContext(cmd.Context(), render.Options{Paths: paths, Recursive: recursive, Model: mesh.model, Registry: e.registry, File: fileOptions(mesh), Targets: targets, Profiles: cat})
			if err != nil {
				return err
			}
			render.WriteDiagnostics(e.stderr, res.Errors(), false)
			result, err := trace.Run(res.Output, trace.Request{From: from, To: to, Attributes: attrs, Ztunnel: ztunnel})
			if err != nil {
				return err
			}
			if err := writeTrace(e, result, output); err != nil {
				return err
			}
			if result.Outcome == trace.Stopped {
				return exitCode(3)
			}
			return nil
		},
	}
	mesh.register(cmd)
	cmd.Flags().StringArrayVarP(&paths, "filename", "f", nil, "file or directory of manifests (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().StringVar(&from, "from", "", "the caller: <namespace>/<pod> or an IP")
	cmd.Flags().StringVar(&to, "to", "", "the destination: <host>:<port> or <ip>:<port>")
	cmd.Flags().StringToStringVar(&attrs, "attr", nil, "a request attribute, key=value (repeatable): Dubbo method, interface or an attachment; Thrift method, service or a header; Redis key and command")
	cmd.Flags().StringVar(&ztunnel, "ztunnel", trace.ZtunnelEnvoy, "the caller's ztunnel: envoy (aeraki's Envoy ztunnel, traced on its config) or rust (Istio's ztunnel, emulated from its source: HBONE straight to the destination's waypoint)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json, mermaid (a flowchart) or dot (Graphviz)")
	return cmd
}

func writeTrace(e *env, r *trace.Result, output string) error {
	switch output {
	case "", "text":
		return r.Write(e.stdout)
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	case "mermaid":
		return r.WriteMermaid(e.stdout)
	case "dot":
		return r.WriteDOT(e.stdout)
	}
	return fmt.Errorf("unknown output format %q: use text, json, mermaid or dot", output)
}
