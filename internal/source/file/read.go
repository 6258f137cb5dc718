package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/aeraki-ng/aeraki/pkg/model"
)

// Default limits on what the file source reads. A manifest file is rarely
// more than a few megabytes (the API server refuses objects over about
// 1.5 MiB); the limits are there so that a mistake (a symlink to
// /dev/zero, a log file named *.yaml) fails with a message instead of
// eating the machine's memory.
const (
	// DefaultMaxFileSize bounds one file: 64 MiB.
	DefaultMaxFileSize int64 = 64 << 20
	// DefaultMaxTotalSize bounds all the files of one load together: 512 MiB.
	DefaultMaxTotalSize int64 = 512 << 20
)

// Reasons of the diagnostics about files that are not read.
const (
	ReasonReadError      = "ReadError"
	ReasonNotRegularFile = "NotRegularFile"
	ReasonFileTooLarge   = "FileTooLarge"
	ReasonTooMuchInput   = "TotalSizeExceeded"
)

// readChunk is how much is read between two looks at the context.
const readChunk = 1 << 20

// reader reads the manifest files of one load within the size limits.
type reader struct {
	ctx      context.Context
	maxFile  int64
	maxTotal int64
	total    int64
	full     bool // the total limit was reached: later files are not read
}

func newReader(ctx context.Context, opts Options) *reader {
	r := &reader{ctx: ctx, maxFile: opts.MaxFileSize, maxTotal: opts.MaxTotalSize}
	if r.maxFile <= 0 {
		r.maxFile = DefaultMaxFileSize
	}
	if r.maxTotal <= 0 {
		r.maxTotal = DefaultMaxTotalSize
	}
	return r
}

// read returns the content of path (named name in diagnostics), or a
// diagnostic saying why it was not read. Only regular files are read,
// directly or through symlinks: the type is checked before the file is
// opened, the open does not block (a FIFO swapped in between opens at
// once and is then refused), and the type is checked again on the open
// file. When the context ends, read returns its error as a diagnostic;
// callers check the context.
func (r *reader) read(path, name string) ([]byte, *model.Diagnostic) {
	fail := func(reason, format string, args ...any) ([]byte, *model.Diagnostic) {
		return nil, &model.Diagnostic{Severity: model.SeverityError, Origin: model.FileOrigin(name), Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	if err := r.ctx.Err(); err != nil {
		return fail(ReasonReadError, "not read: %v", err)
	}
	if r.full {
		return fail(ReasonTooMuchInput, "not read: the files before it already reached the total size limit of %s (--max-total-size)", size(r.maxTotal))
	}
	st, err := os.Stat(path) // follows symlinks: a symlink to a regular file is read
	if err != nil {
		return fail(ReasonReadError, "%v", cleanPathError(err))
	}
	if !st.Mode().IsRegular() {
		return fail(ReasonNotRegularFile, "not read: it is %s, and aeraki reads only regular files (or symlinks to them)", describeMode(st.Mode()))
	}
	if st.Size() > r.maxFile {
		return fail(ReasonFileTooLarge, "not read: it is %s, over the limit of %s per file (raise it with --max-file-size)", size(st.Size()), size(r.maxFile))
	}
	if r.total+st.Size() > r.maxTotal {
		r.full = true
		return fail(ReasonTooMuchInput, "not read: with it the files read would reach %s, over the total limit of %s (raise it with --max-total-size); later files are not read either", size(r.total+st.Size()), size(r.maxTotal))
	}
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return fail(ReasonReadError, "%v", cleanPathError(err))
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return fail(ReasonReadError, "%v", cleanPathError(err))
	}
	if !st.Mode().IsRegular() {
		return fail(ReasonNotRegularFile, "not read: it became %s while being opened, and aeraki reads only regular files", describeMode(st.Mode()))
	}
	// The file may grow after the Stat: read at most one byte past the
	// limit, a chunk at a time, looking at the context in between.
	limit := min(r.maxFile, r.maxTotal-r.total)
	data := make([]byte, 0, min(st.Size(), limit)+1)
	for {
		if err := r.ctx.Err(); err != nil {
			return fail(ReasonReadError, "not read: %v", err)
		}
		if len(data) == cap(data) {
			data = slices.Grow(data, readChunk)
		}
		n, err := f.Read(data[len(data):min(cap(data), len(data)+readChunk)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			if limit < r.maxFile {
				r.full = true
				return fail(ReasonTooMuchInput, "not read: it grew while being read, past the total limit of %s (--max-total-size)", size(r.maxTotal))
			}
			return fail(ReasonFileTooLarge, "not read: it grew while being read, past the limit of %s per file (--max-file-size)", size(r.maxFile))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(ReasonReadError, "%v", cleanPathError(err))
		}
	}
	r.total += int64(len(data))
	return data, nil
}

// describeMode names a file type for a message.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a regular file"
}

// cleanPathError drops the path from an *fs.PathError: diagnostics name
// the file already.
func cleanPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// size prints a byte count the way the flags take it.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
