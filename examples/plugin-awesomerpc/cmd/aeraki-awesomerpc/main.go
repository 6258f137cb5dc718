// Command aeraki-awesomerpc is aeraki with the AwesomeRPC plugin built in.
package main

import (
	"example.com/awesomerpc"
	"github.com/aeraki-ng/aeraki/pkg/aeraki"
)

func main() { aeraki.Main(awesomerpc.New()) }
