// Command aeraki-awesomerpc is aeraki with the AwesomeRPC plugin built in,
// next to the default plugins.
package main

import (
	"example.com/awesomerpc"
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
	"github.com/aeraki-ng/aeraki/plugins/builtin"
)

func main() { aeraki.Main(builtin.With(awesomerpc.New())...) }
