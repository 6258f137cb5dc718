package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aeraki-ng/aeraki/internal/translate"
	"github.com/aeraki-ng/aeraki/pkg/model"
	"github.com/aeraki-ng/aeraki/pkg/xds"
)

// The debug endpoints answer the questions an operator asks when a proxy
// misbehaves: is aeraki up (/ready), what does this proxy get
// (/debug/config_dump), did it take it (/debug/syncz), and what is wrong
// with my objects (/debug/diagnostics). They are read-only and bind to
// loopback by default; pprof is off unless asked for.

// debugHandler serves the debug address.
func (s *Server) debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", s.handleReady)
	mux.HandleFunc("GET /debug/config_dump", s.handleConfigDump)
	mux.HandleFunc("GET /debug/syncz", s.handleSyncz)
	mux.HandleFunc("GET /debug/diagnostics", s.handleDiagnostics)
	mux.HandleFunc("GET /debug", s.handleIndex)
	if s.opts.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// monitoringHandler serves the Prometheus metrics.
func (s *Server) monitoringHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{Registry: s.metrics.registry}))
	return mux
}

func (s *Server) handleIndex(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprint(w, `/ready                          200 once the first config is served
/debug/config_dump?proxyID=ID    what a proxy (or node id, or "istiod") is served
/debug/syncz                     every connected client: versions sent, ACKed, NACKs
/debug/diagnostics               problems with the current objects
`)
	if s.opts.EnablePprof {
		fmt.Fprintln(w, "/debug/pprof/                    Go profiles")
	}
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.pub.isReady() {
		http.Error(w, "not ready: the first config has not been generated yet", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// ConfigDump is /debug/config_dump for one proxy.
type ConfigDump struct {
	ProxyID  string `json:"proxyID"`
	Plugin   string `json:"plugin,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Build is the proxy build (profile) the config was checked against.
	Build string `json:"build,omitempty"`
	// Stale is true when the proxy's last rebuild failed and it keeps
	// the config shown; /debug/diagnostics says why.
	Stale bool `json:"stale,omitempty"`
	// Cost is what the proxy's build took (translate.ProxyCost), in
	// the translation that built it: aeraki serves proxies from config
	// built ahead, so this, not the time to answer, is its build time.
	Cost *CostDump `json:"cost,omitempty"`
	// Resources are what the proxy is served, by type URL.
	Resources map[string]TypeDump `json:"resources"`
}

// CostDump is a translate.ProxyCost with durations spelled out
// (time.Duration strings, "1.5ms").
type CostDump struct {
	Build         string `json:"build"`
	Units         string `json:"units"`
	UnitsConsumed int    `json:"unitsConsumed"`
	UnitsBuilt    int    `json:"unitsBuilt"`
	Assemble      string `json:"assemble"`
	Reassembled   bool   `json:"reassembled,omitempty"`
}

// TypeDump is one type's resources in a ConfigDump.
type TypeDump struct {
	Version string            `json:"version"`
	Items   []json.RawMessage `json:"items"`
}

// MCPDump is /debug/config_dump for istiod.
type MCPDump struct {
	ProxyID      string           `json:"proxyID"`
	TypeURL      string           `json:"typeURL"`
	Version      string           `json:"version"`
	EnvoyFilters []map[string]any `json:"envoyFilters"`
}

func (s *Server) handleConfigDump(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("proxyID")
	if id == "" {
		writeJSON(w, http.StatusOK, map[string]any{
			"usage":   "/debug/config_dump?proxyID=<proxy id, node id or istiod>",
			"proxies": s.pub.proxyIDs(),
			"istiod":  "istiod",
		})
		return
	}
	if id == "istiod" || id == mcpKey || s.isMCPNode(id) {
		efs, version := s.pub.envoyFilters()
		d := MCPDump{ProxyID: id, TypeURL: EnvoyFilterType, Version: version, EnvoyFilters: []map[string]any{}}
		for _, ef := range efs {
			// Debug dumps end up in tickets and chat: never show secrets.
			m := translate.RedactEnvoyFilter(ef).Manifest()
			m["metadata"].(map[string]any)["resourceVersion"] = string(ef.Revision)
			d.EnvoyFilters = append(d.EnvoyFilters, m)
		}
		writeJSON(w, http.StatusOK, d)
		return
	}
	pp := s.pub.proxyByID(id)
	if pp == nil {
		if key := s.nodeKey(id); key != "" {
			pp = s.pub.proxy(key)
		}
	}
	if pp == nil {
		http.Error(w, fmt.Sprintf("no proxy %q; known proxies: %s (or a connected node id, or istiod)", id, strings.Join(s.pub.proxyIDs(), ", ")), http.StatusNotFound)
		return
	}
	d := ConfigDump{ProxyID: id, Resources: map[string]TypeDump{}}
	if res := pp.result; res != nil {
		d.ProxyID, d.Plugin, d.Kind, d.Revision, d.Stale = res.ID, res.Plugin, string(res.Kind), string(res.Revision), res.Stale
		if res.Profile != nil {
			d.Build = res.Profile.Name
		}
		if c := res.Cost; c.Build > 0 {
			d.Cost = &CostDump{Build: c.Build.String(), Units: c.Units.String(), UnitsConsumed: c.UnitsConsumed, UnitsBuilt: c.UnitsBuilt,
				Assemble: c.Assemble.String(), Reassembled: c.Reassembled}
		}
	}
	for _, typeURL := range proxyTypes {
		td := TypeDump{Version: pp.snap.GetVersion(typeURL), Items: []json.RawMessage{}}
		for _, m := range pp.snap.resources(typeURL) {
			b, err := protojson.Marshal(xds.Redact(m))
			if err != nil {
				b, _ = json.Marshal(map[string]string{"error": err.Error()})
			}
			td.Items = append(td.Items, b)
		}
		d.Resources[typeURL] = td
	}
	writeJSON(w, http.StatusOK, d)
}

// isMCPNode reports whether a connected node with this id is an MCP client.
func (s *Server) isMCPNode(nodeID string) bool {
	for _, st := range s.tracker.syncz() {
		if st.NodeID == nodeID && st.Kind == "istiod" {
			return true
		}
	}
	return false
}

// nodeKey returns the cache key of a connected node with this id.
func (s *Server) nodeKey(nodeID string) string {
	s.tracker.mu.Lock()
	defer s.tracker.mu.Unlock()
	for _, st := range s.tracker.streams {
		if st.node.GetId() == nodeID && st.match.key != "" {
			return st.match.key
		}
	}
	return ""
}

func (s *Server) handleSyncz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.tracker.syncz())
}

// DiagnosticsDump is /debug/diagnostics.
type DiagnosticsDump struct {
	// Generation counts the snapshots translated so far.
	Generation int `json:"generation"`
	// At is when the current config was generated.
	At          *time.Time        `json:"at,omitempty"`
	Rejected    []model.ObjectRef `json:"rejected"`
	Diagnostics []DiagnosticJSON  `json:"diagnostics"`
}

// DiagnosticJSON is a model.Diagnostic with its severity spelled out and
// its one-line rendering, for people and for jq.
type DiagnosticJSON struct {
	Severity string          `json:"severity"`
	Object   model.ObjectRef `json:"object"`
	Origin   model.Origin    `json:"origin"`
	Field    string          `json:"field,omitempty"`
	Reason   string          `json:"reason"`
	Message  string          `json:"message"`
	Plugin   string          `json:"plugin,omitempty"`
	Text     string          `json:"text"`
}

func (s *Server) handleDiagnostics(w http.ResponseWriter, _ *http.Request) {
	st := s.current()
	d := DiagnosticsDump{Generation: st.generation, At: timePtr(st.at), Rejected: st.rejected, Diagnostics: []DiagnosticJSON{}}
	if d.Rejected == nil {
		d.Rejected = []model.ObjectRef{}
	}
	for _, x := range st.diagnostics {
		d.Diagnostics = append(d.Diagnostics, DiagnosticJSON{Severity: x.Severity.String(), Object: x.Object, Origin: x.Origin,
			Field: x.Field, Reason: x.Reason, Message: x.Message, Plugin: x.Plugin, Text: x.String()})
	}
	writeJSON(w, http.StatusOK, d)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
