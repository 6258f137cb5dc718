package testenv

import (
	"os/exec"
	"syscall"
)

// setProcAttrs makes the kernel kill the child if the test binary dies, so a
// crashed or killed `go test` does not leave istiod running.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
