package identity_test

import (
	"fmt"

	"github.com/aeraki-ng/aeraki/internal/identity"
)

// A server presenting the certificate of a mounted Secret, verifying
// client certificates against the Secret's ca.crt.
func ExampleServerConfig() {
	d, err := identity.NewDir(identity.DirOptions{Dir: "/etc/aeraki/tls"})
	if err != nil {
		fmt.Println(err) // no Secret mounted there
		return
	}
	cfg := identity.ServerConfig([]identity.Certificate{d}, d)
	_ = cfg // grpc.Creds(credentials.NewTLS(cfg))
}
