package hbone

import "testing"

// TestHostPortNeverNarrows: an HBONE target keeps the port it is given;
// a 32-bit port is never wrapped to 16 bits (151952 was :20880).
func TestHostPortNeverNarrows(t *testing.T) {
	for _, c := range []struct {
		ip   string
		port uint32
		want string
	}{
		{"10.1.0.5", 20880, "10.1.0.5:20880"},
		{"10.1.0.5", 151952, "10.1.0.5:151952"},
		{"fd00::0:5", 80, "[fd00::5]:80"},
		{"not-an-ip", 80, "not-an-ip:80"},
	} {
		if got := hostPort(c.ip, c.port); got != c.want {
			t.Errorf("hostPort(%q, %d) = %q, want %q", c.ip, c.port, got, c.want)
		}
	}
}
