// Package aeraki is the aeraki command: flags, subcommands and wiring. It
// lives outside cmd/aeraki so a custom build with third-party plugins is a
// five-line main.go:
//
//	package main
//
//	import (
//		"github.com/aeraki-ng/aeraki/pkg/aeraki"
//		"example.com/awesomerpc"
//	)
//
//	func main() { aeraki.Main(awesomerpc.New()) }
//
// Main registers the built-in plugins and the ones given, and exits with the
// status of the subcommand. Registration fails loudly, before anything
// runs, when two plugins share a name or a protocol.
package aeraki
