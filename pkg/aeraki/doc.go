// Package aeraki is the aeraki command: flags, subcommands and wiring. It
// lives outside cmd/aeraki so a custom build with third-party plugins is a
// five-line main.go:
//
//	package main
//
//	import (
//		"github.com/aeraki-ng/aeraki/pkg/aeraki"
//		"github.com/aeraki-ng/aeraki/plugins/builtin"
//		"example.com/awesomerpc"
//	)
//
//	func main() { aeraki.Main(builtin.With(awesomerpc.New())...) }
//
// Main registers exactly the plugins given (the caller chooses: the
// default set of plugins/builtin, with some replaced or dropped, plus its
// own) and exits with the status of the subcommand. Registration fails loudly, before anything
// runs, when two plugins share a name or a protocol.
package aeraki
