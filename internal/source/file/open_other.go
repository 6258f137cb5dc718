//go:build !unix

package file

import "os"

// openFlags: only Unix has FIFOs that block on open; the type check before
// opening covers the rest.
const openFlags = os.O_RDONLY
