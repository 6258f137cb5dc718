package aeraki

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/aeraki-ng/aeraki/pkg/plugin"
)

// Main runs the aeraki command with exactly the plugins given, and exits
// the process with its status. cmd/aeraki passes builtin.Plugins(); a
// custom build passes builtin.With(its own...) or any list it likes.
//
// SIGINT and SIGTERM end the command's context: serve drains and exits 0,
// render and trace stop where they are (mid-load included) and exit with
// 128 + the signal's number, as a shell reports a process the signal
// killed. A second signal exits at once.
func Main(plugins ...plugin.Plugin) {
	ctx, stop := signalContext()
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, plugins...)
	stop()
	os.Exit(code)
}

// interrupted is the cause of a context a signal ended.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return i.sig.String() + " received" }

// exitStatus is what a shell reports for a process the signal ended.
func (i interrupted) exitStatus() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// signalContext returns a context that SIGINT or SIGTERM ends, with an
// interrupted cause; a second signal exits the process.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		first, ok := <-sigs
		if !ok {
			return
		}
		cancel(interrupted{first})
		if again, ok := <-sigs; ok {
			os.Exit(interrupted{again}.exitStatus())
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(sigs)
		cancel(nil)
	}
}

// Run runs the aeraki command with args (without the program name) and
// returns the exit status. It is Main without the process: tests call it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, plugins ...plugin.Plugin) int {
	reg, err := plugin.NewRegistry(plugins...)
	if err != nil {
		fmt.Fprintf(stderr, "aeraki: %v\n", err)
		return 2
	}
	env := &env{registry: reg, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "aeraki",
		Short:         "aeraki extends Istio to Dubbo, Thrift, Redis and user-defined protocols",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(renderCommand(env), pluginsCommand(env), versionCommand(env), serveCommand(env), traceCommand(env), agentCommand(env))
	for _, c := range env.extraCommands() {
		root.AddCommand(c)
	}
	if err := root.ExecuteContext(ctx); err != nil {
		if code, ok := err.(exitCode); ok {
			return int(code)
		}
		var sig interrupted
		if ctx.Err() != nil && errors.As(context.Cause(ctx), &sig) && errors.Is(err, ctx.Err()) {
			fmt.Fprintf(stderr, "aeraki: stopped: %v\n", sig)
			return sig.exitStatus()
		}
		fmt.Fprintf(stderr, "aeraki: %v\n", err)
		return 1
	}
	return 0
}

// env is what subcommands share: the plugins and the output streams.
type env struct {
	registry *plugin.Registry
	stdout   io.Writer
	stderr   io.Writer
}

// exitCode is returned by a command that already printed its errors.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// extraCommands are the subcommands added by later parts (serve, trace).
func (e *env) extraCommands() []*cobra.Command { return nil }
