package merkle

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers act on. Check them with [errors.Is].
var (
	// ErrLocked means another process (or another [Log] in this process)
	// holds the directory's writer lock. Open with [Options.WaitForLock] to
	// wait for it, as a standby ingest does.
	ErrLocked = errors.New("merkle: log directory is locked by another writer")

	// ErrPoisoned is returned by every mutating call after an Append failed
	// past the point of no return. The on-disk log is consistent, but this
	// Log's view of it is not known to be: Close it, Open the directory
	// again and read [Log.State] to learn what was committed.
	ErrPoisoned = errors.New("merkle: log poisoned by an earlier write failure; reopen it")

	// ErrClosed is returned by calls on a closed Log.
	ErrClosed = errors.New("merkle: log closed")

	// ErrOutOfRange is returned when an index or tree size lies beyond the
	// current checkpoint, or a range is inverted.
	ErrOutOfRange = errors.New("merkle: index or size out of range")
)

// MaxEntrySize is the largest entry the log accepts: a tlog-tiles entry
// bundle stores each entry behind a big-endian uint16 length.
const MaxEntrySize = 1<<16 - 1

// EntryTooLargeError rejects an Append whose batch holds an entry longer than
// [MaxEntrySize]. Nothing of the batch is written.
type EntryTooLargeError struct {
	Index int // position of the entry in the batch
	Size  int // its length in bytes
}

func (e *EntryTooLargeError) Error() string {
	return fmt.Sprintf("merkle: entry %d of batch is %d bytes, over the %d-byte limit", e.Index, e.Size, MaxEntrySize)
}

// RootMismatchError means a tree recomputed from stored data does not have
// the root hash a signed checkpoint (or journal record) commits to.
type RootMismatchError struct {
	Source   string // what was recomputed, e.g. "journal record 12" or "tiles"
	Size     uint64
	Expected []byte // root in the checkpoint
	Computed []byte // root recomputed from storage
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("merkle: root mismatch at size %d (%s): checkpoint has %s, computed %s",
		e.Size, e.Source, b64(e.Expected), b64(e.Computed))
}

// CorruptError reports storage content that cannot be decoded (a truncated
// tile, a malformed bundle, a journal without a base record...). Path names
// the file.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("merkle: corrupt %s: %v", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Problem is one finding of [Log.Verify]: the file and what is wrong with it.
type Problem struct {
	Path   string
	Detail string
}

func (p Problem) String() string { return p.Path + ": " + p.Detail }

// VerifyError lists every problem [Log.Verify] found. It is only returned
// when there is at least one.
type VerifyError struct {
	Size     uint64 // checkpoint size that was verified
	Problems []Problem
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "merkle: verification of tree size %d found %d problem(s)", e.Size, len(e.Problems))
	for i, p := range e.Problems {
		if i == 20 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(e.Problems)-i)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Paths returns the distinct paths named by the problems, in order.
func (e *VerifyError) Paths() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range e.Problems {
		if !seen[p.Path] {
			seen[p.Path] = true
			out = append(out, p.Path)
		}
	}
	return out
}

func b64(b []byte) string {
	if b == nil {
		return "<none>"
	}
	return base64.StdEncoding.EncodeToString(b)
}
