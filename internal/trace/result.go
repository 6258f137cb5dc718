package trace

import (
	"fmt"
	"io"
	"strings"
)

// Step is the kind of a hop.
type Step string

// Kinds of hops, in the order a call meets them.
const (
	// StepNetwork is the network moving the connection (a redirect).
	StepNetwork Step = "network"
	// StepListener is a listener accepting the connection.
	StepListener Step = "listener"
	// StepListenerFilter is a listener filter (original_dst) acting.
	StepListenerFilter Step = "listener-filter"
	// StepChain is the filter chain chosen, and why.
	StepChain Step = "chain"
	// StepTLS is TLS terminated on the chain.
	StepTLS Step = "tls"
	// StepFilter is a network or HTTP filter acting.
	StepFilter Step = "filter"
	// StepRoute is an L7 route matched.
	StepRoute Step = "route"
	// StepCluster is the cluster chosen.
	StepCluster Step = "cluster"
	// StepEndpoint is the endpoint chosen, with its metadata.
	StepEndpoint Step = "endpoint"
	// StepTunnel is an HBONE tunnel opened.
	StepTunnel Step = "tunnel"
	// StepDeliver is the call reaching its destination.
	StepDeliver Step = "deliver"
	// StepStop is where and why the call stops.
	StepStop Step = "stop"
)

// Hop is one step of a call.
type Hop struct {
	// Proxy is the proxy id, empty for network steps.
	Proxy string `json:"proxy,omitempty"`
	// Step is what happened.
	Step Step `json:"step"`
	// Name names the listener, chain, filter, route, cluster or endpoint.
	Name string `json:"name,omitempty"`
	// Detail says why, in Envoy's terms.
	Detail string `json:"detail,omitempty"`
	// By is ByIstiod for a hop through config istiod generated (in a
	// waypoint istiod serves, modeled from istiod's names), empty for
	// config aeraki generated.
	By string `json:"by,omitempty"`
}

// Outcome is how a call ended.
type Outcome string

// Outcomes.
const (
	// Delivered means the call reached its destination through the mesh (over HBONE).
	Delivered Outcome = "delivered"
	// PassedThrough means it reached its destination without HBONE.
	PassedThrough Outcome = "passthrough"
	// Stopped means it did not reach a destination; Result.Reason says why.
	Stopped Outcome = "stopped"
)

// Result is a traced call.
type Result struct {
	// Hops are the steps, in order.
	Hops []Hop `json:"hops"`
	// Outcome is how it ended.
	Outcome Outcome `json:"outcome"`
	// Destination is the ip:port it reached, when it did.
	Destination string `json:"destination,omitempty"`
	// Reason says why it stopped.
	Reason string `json:"reason,omitempty"`
}

// Find returns the hops of one kind, optionally on one proxy.
func (r *Result) Find(step Step, proxy string) []Hop {
	var out []Hop
	for _, h := range r.Hops {
		if h.Step == step && (proxy == "" || h.Proxy == proxy) {
			out = append(out, h)
		}
	}
	return out
}

// Write prints one line per hop (number, proxy, step, name) with its
// detail indented below, then the outcome.
func (r *Result) Write(w io.Writer) error {
	pw, sw := 1, 1
	for _, h := range r.Hops {
		pw, sw = max(pw, len(h.Proxy)), max(sw, len(h.Step))
	}
	for i, h := range r.Hops {
		proxy := h.Proxy
		if proxy == "" {
			proxy = "-"
		}
		line := strings.TrimRight(fmt.Sprintf("%2d  %-*s  %-*s  %s", i+1, pw, proxy, sw, h.Step, h.Name), " ")
		if h.By != "" {
			line += "  [" + h.By + "]"
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
		if h.Detail != "" {
			if _, err := fmt.Fprintf(w, "      %s\n", strings.ReplaceAll(h.Detail, "\n", " ")); err != nil {
				return err
			}
		}
	}
	var err error
	switch r.Outcome {
	case Stopped:
		_, err = fmt.Fprintf(w, "STOPPED: %s\n", r.Reason)
	default:
		_, err = fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(string(r.Outcome)), r.Destination)
	}
	return err
}
