package server

import (
	"strings"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the Prometheus series an operator watches aeraki by. They
// live in the server's own registry, not the global one, so two servers in
// one process (tests, benchmarks) do not collide.
type metrics struct {
	registry *prometheus.Registry

	connected   *prometheus.GaugeVec     // by kind
	streams     *prometheus.GaugeVec     // by listener
	refused     *prometheus.CounterVec   // by listener, reason
	pushes      *prometheus.CounterVec   // by type
	pushLatency *prometheus.HistogramVec // by type
	nacks       *prometheus.CounterVec   // by type
	generation  prometheus.Histogram
	generations prometheus.Counter
	units       *prometheus.CounterVec // by result: built, reused
	rejected    prometheus.Gauge
	diagnostics *prometheus.GaugeVec // by severity
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aeraki_xds_connected_proxies",
			Help: "xDS clients connected and authorized now, by kind: istiod (MCP) or a proxy kind (waypoint, ztunnel, proxyless). Nodes no plugin claims are refused (aeraki_xds_refused_total).",
		}, []string{"kind"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aeraki_xds_streams",
			Help: "xDS streams open now, by listener (tls, plaintext), including those not yet past their first request; bounded by --max-streams.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aeraki_xds_refused_total",
			Help: "xDS streams refused, by listener and reason: limit-total, limit-client (stream limits), plaintext, no-certificate, identity (authorization), unknown-node, node-changed, no-node, not-ready. Each is logged.",
		}, []string{"listener", "reason"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aeraki_xds_pushes_total",
			Help: "xDS responses sent, by type (lds, rds, cds, eds, sds, mcp/<Kind>).",
		}, []string{"type"}),
		pushLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aeraki_xds_push_latency_seconds",
			Help:    "Time from config becoming available to a client (published, or asked for if later) to the client's ACK of it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aeraki_xds_nacks_total",
			Help: "xDS responses a client rejected, by type. Each is logged with the node and the error, and shown on /debug/syncz.",
		}, []string{"type"}),
		generation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "aeraki_generation_duration_seconds",
			Help:    "Time to translate one snapshot and publish the result to the xDS caches.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		generations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aeraki_generations_total",
			Help: "Snapshots translated and published.",
		}),
		units: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aeraki_translation_units_total",
			Help: "Per service port builds, by result: built (a plugin ran) or reused (inputs unchanged since the previous snapshot).",
		}, []string{"result"}),
		rejected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aeraki_objects_rejected",
			Help: "Objects left out of the current config because of errors; /debug/diagnostics says why.",
		}),
		diagnostics: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aeraki_diagnostics",
			Help: "Findings about the current config, by severity (error, warning, info); /debug/diagnostics lists them.",
		}, []string{"severity"}),
	}
	m.registry.MustRegister(m.connected, m.streams, m.refused, m.pushes, m.pushLatency, m.nacks, m.generation, m.generations,
		m.units, m.rejected, m.diagnostics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// typeLabel names an xDS type URL in metrics. The set of values is fixed,
// so a client asking for made-up type URLs cannot grow the series.
func typeLabel(typeURL string) string {
	switch typeURL {
	case resourcev3.ListenerType:
		return "lds"
	case resourcev3.RouteType:
		return "rds"
	case resourcev3.ClusterType:
		return "cds"
	case resourcev3.EndpointType:
		return "eds"
	case resourcev3.SecretType:
		return "sds"
	}
	if IsMCPType(typeURL) {
		kind := typeURL[strings.LastIndex(typeURL, "/")+1:]
		if istioKinds[kind] {
			return "mcp/" + kind
		}
		return "mcp/other"
	}
	return "other"
}

// istioKinds are the collections istiod subscribes to over MCP (its
// collections.Pilot, plus MeshConfig).
var istioKinds = map[string]bool{
	"AuthorizationPolicy": true, "DestinationRule": true, "EnvoyFilter": true, "Gateway": true,
	"PeerAuthentication": true, "ProxyConfig": true, "RequestAuthentication": true, "ServiceEntry": true,
	"Sidecar": true, "Telemetry": true, "TrafficExtension": true, "VirtualService": true,
	"WasmPlugin": true, "WorkloadEntry": true, "WorkloadGroup": true, "MeshConfig": true,
}
