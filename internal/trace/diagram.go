package trace

import (
	"fmt"
	"io"
	"strings"
)

// A diagram of a traced call: the hops a reader follows (listener, filter
// chain, route, cluster, endpoint, tunnel) as boxes, grouped by the proxy
// that took them, with the call's end (delivered, passed through, or
// stopped and why) as the last box. Listener filters, network and HTTP
// filters and TLS are left to the text output: they explain a hop, they are
// not one. WriteMermaid and WriteDOT draw the same graph.

// nodeKind is how a box is drawn.
type nodeKind int

const (
	nodeHop     nodeKind = iota
	nodeStart            // the call as the client makes it
	nodeArrived          // delivered or passed through
	nodeStopped          // where and why the call stops
)

type diagramNode struct {
	id    string
	lines []string
	kind  nodeKind
}

// diagramGroup is a run of consecutive hops on one proxy ("" for the
// network: the call and the end of a passthrough).
type diagramGroup struct {
	id, proxy string
	nodes     []diagramNode
}

type diagramEdge struct {
	from, to, label string
}

type diagram struct {
	groups []diagramGroup
	edges  []diagramEdge
}

// drawn are the steps that get a box.
var drawn = map[Step]bool{
	StepListener: true, StepChain: true, StepRoute: true, StepCluster: true,
	StepEndpoint: true, StepTunnel: true, StepDeliver: true, StepStop: true,
}

// withDetail are the steps whose box shows the hop's detail: a listener's
// address, a cluster's type. Other details (why a chain or route matched,
// an endpoint's metadata) are in the text output.
var withDetail = map[Step]bool{StepListener: true, StepCluster: true}

// maxDetail is the longest detail a box shows.
const maxDetail = 48

// wrapAt is where the first and last boxes' text (the call, where it
// ended or why it stopped) is wrapped, so they stay readable.
const wrapAt = 64

func (r *Result) diagram() diagram {
	var d diagram
	prevID := ""
	var prevStep Step
	pendingLabel := ""
	add := func(proxy string, n diagramNode) {
		if len(d.groups) == 0 || d.groups[len(d.groups)-1].proxy != proxy {
			d.groups = append(d.groups, diagramGroup{id: fmt.Sprintf("p%d", len(d.groups)), proxy: proxy})
		}
		g := &d.groups[len(d.groups)-1]
		g.nodes = append(g.nodes, n)
		if prevID != "" {
			label := pendingLabel
			if prevStep == StepTunnel && label == "" {
				label = "HBONE"
			}
			d.edges = append(d.edges, diagramEdge{from: prevID, to: n.id, label: label})
		}
		pendingLabel, prevID = "", n.id
	}
	for i, h := range r.Hops {
		id := fmt.Sprintf("h%d", i+1)
		switch {
		case h.Step == StepNetwork && prevID == "":
			add(h.Proxy, diagramNode{id: id, kind: nodeStart, lines: append(nonEmpty(h.Name), wrap(h.Detail, wrapAt)...)})
		case h.Step == StepNetwork:
			pendingLabel = h.Name // e.g. the redirect into a proxy
		case h.Step == StepStop:
			add(h.Proxy, diagramNode{id: id, kind: nodeStopped, lines: append([]string{"STOPPED"}, wrap(h.Detail, wrapAt)...)})
		case h.Step == StepDeliver:
			add(h.Proxy, diagramNode{id: id, kind: nodeArrived, lines: append([]string{strings.ToUpper(string(r.Outcome)) + " " + h.Name}, wrap(h.Detail, wrapAt)...)})
		case drawn[h.Step]:
			detail := ""
			if withDetail[h.Step] && len(h.Detail) <= maxDetail {
				detail = h.Detail
			}
			add(h.Proxy, diagramNode{id: id, lines: nonEmpty(string(h.Step), h.Name, detail)})
		default:
			continue
		}
		prevStep = h.Step
	}
	return d
}

func nonEmpty(lines ...string) []string {
	var out []string
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// wrap breaks text at spaces into lines of at most width runes (a longer
// word gets its own line).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines, line = append(lines, line), ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// WriteMermaid draws the call as a Mermaid flowchart, for Markdown that
// renders Mermaid (GitHub, GitLab, most doc sites) or the Mermaid CLI.
func (r *Result) WriteMermaid(w io.Writer) error {
	d := r.diagram()
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, g := range d.groups {
		indent := "  "
		if g.proxy != "" {
			fmt.Fprintf(&b, "  subgraph %s[\"%s\"]\n", g.id, mermaidText(g.proxy))
			indent = "    "
		}
		for _, n := range g.nodes {
			open, closing := "[", "]"
			switch n.kind {
			case nodeStart:
				open, closing = "([", "])"
			case nodeArrived, nodeStopped:
				open, closing = "[[", "]]"
			}
			parts := make([]string, len(n.lines))
			for i, l := range n.lines {
				parts[i] = mermaidText(l)
			}
			fmt.Fprintf(&b, "%s%s%s\"%s\"%s\n", indent, n.id, open, strings.Join(parts, "<br/>"), closing)
		}
		if g.proxy != "" {
			b.WriteString("  end\n")
		}
	}
	for _, e := range d.edges {
		if e.label != "" {
			fmt.Fprintf(&b, "  %s -->|\"%s\"| %s\n", e.from, mermaidText(e.label), e.to)
		} else {
			fmt.Fprintf(&b, "  %s --> %s\n", e.from, e.to)
		}
	}
	b.WriteString("  classDef arrived fill:#e3f6e5,stroke:#2e7d32,color:#1b3d1f\n")
	b.WriteString("  classDef stopped fill:#fde2e2,stroke:#c62828,color:#5c1010\n")
	for _, g := range d.groups {
		for _, n := range g.nodes {
			switch n.kind {
			case nodeArrived:
				fmt.Fprintf(&b, "  class %s arrived\n", n.id)
			case nodeStopped:
				fmt.Fprintf(&b, "  class %s stopped\n", n.id)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidText escapes text for a quoted Mermaid label: quotes and the
// characters Mermaid would read as markup become entity codes.
func mermaidText(s string) string {
	return strings.NewReplacer(`#`, "#35;", `"`, "#quot;", `<`, "#lt;", `>`, "#gt;").Replace(s)
}

// WriteDOT draws the call as a Graphviz graph (dot -Tsvg renders it).
func (r *Result) WriteDOT(w io.Writer) error {
	d := r.diagram()
	var b strings.Builder
	b.WriteString("digraph trace {\n")
	b.WriteString("  rankdir=TB;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, g := range d.groups {
		indent := "  "
		if g.proxy != "" {
			fmt.Fprintf(&b, "  subgraph cluster_%s {\n    label=%s;\n    style=rounded;\n    fontname=\"Helvetica\";\n", g.id, dotString(g.proxy))
			indent = "    "
		}
		for _, n := range g.nodes {
			attrs := ""
			switch n.kind {
			case nodeStart:
				attrs = ", shape=oval"
			case nodeArrived:
				attrs = `, fillcolor="#e3f6e5", color="#2e7d32"`
			case nodeStopped:
				attrs = `, fillcolor="#fde2e2", color="#c62828"`
			}
			fmt.Fprintf(&b, "%s%s [label=%s%s];\n", indent, n.id, dotString(strings.Join(n.lines, "\n")), attrs)
		}
		if g.proxy != "" {
			b.WriteString("  }\n")
		}
	}
	for _, e := range d.edges {
		if e.label != "" {
			fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", e.from, e.to, dotString(e.label))
		} else {
			fmt.Fprintf(&b, "  %s -> %s;\n", e.from, e.to)
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotString quotes s as a DOT string; a newline becomes a centred line
// break.
func dotString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
