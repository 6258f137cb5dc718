// Command aeraki is the control plane that extends Istio to Dubbo, Thrift,
// Redis and user-defined protocols. See pkg/aeraki for the commands.
package main

import (
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

func main() { aeraki.Main(builtin.Plugins()...) }
