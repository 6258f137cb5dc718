//go:build unix

package file

import (
	"os"
	"syscall"
)

// openFlags open a manifest without blocking: opening a FIFO for reading
// would otherwise wait for a writer forever (and no signal would end the
// wait), and a terminal must not become the process's controlling one.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
