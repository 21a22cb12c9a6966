package store

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: the record, entry or ref is not in the store.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid: the input (a batch, a query, a key) is malformed.
	// Nothing was written.
	ErrInvalid = errors.New("store: invalid input")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// BatchError reports the first malformed entry of a batch that
// [Store.Write] refused as a whole. It matches [ErrInvalid].
type BatchError struct {
	Row    int    // index of the entry in the batch
	Leaf   uint64 // its leaf index
	Field  string // which part of the entry, e.g. "change.values[2]" or "seq"
	Reason string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("store: couldn't accept batch: row %d (leaf %d): %s: %s", e.Row, e.Leaf, e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *BatchError) Is(target error) bool { return target == ErrInvalid }

// invalidf returns an error matching ErrInvalid for a malformed query.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
