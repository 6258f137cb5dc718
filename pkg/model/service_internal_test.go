package model

import (
	"strings"
	"testing"
)

// TestClusterNameIsOneAllocation: Istio's cluster name, written in one
// buffer (the port formatted apart was a second allocation per route
// destination), for short and long hosts alike.
func TestClusterNameIsOneAllocation(t *testing.T) {
	long := strings.Repeat("h", 300) + ".ns.svc.cluster.local"
	for _, c := range []struct {
		dir    string
		port   uint32
		subset string
		host   string
		want   string
	}{
		{"outbound", 20880, "v2", "demo.ns.svc.cluster.local", "outbound|20880|v2|demo.ns.svc.cluster.local"},
		{"inbound", 9, "", "", "inbound|9||"},
		{"inbound-vip", 4294967295, "", long, "inbound-vip|4294967295||" + long},
	} {
		if got := ClusterName(c.dir, c.port, c.subset, c.host); got != c.want {
			t.Errorf("ClusterName(%q, %d, %q, %q) = %q, want %q", c.dir, c.port, c.subset, c.host, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ClusterName("outbound", 20880, "v2", "demo.ns.svc.cluster.local") }); n != 1 {
		t.Errorf("ClusterName allocates %v times, want 1", n)
	}
}
