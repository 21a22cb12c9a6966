package merkle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Witnessed checkpoints.
//
// With [Options.Witnessed], a committed checkpoint is not yet published:
// readers — [Log.Checkpoint], [Log.ProofBundle], the Handler's
// /checkpoint, tiles and proofs — see only the latest checkpoint the
// log's owner handed to [Log.Publish] after a quorum of witnesses
// cosigned it. Until then the committed head ([Log.Head]) is private to
// the owner. The published checkpoint, with its cosignatures, is kept in
// <dir>/checkpoint.witnessed (temp, fsync, rename, fsync dir), so a
// restart serves it again; recovery refuses one that is ahead of the
// journal or whose root is not the tree's. Without the option, every
// committed checkpoint is published as it commits (the log alone vouches
// for it).

// WitnessedPath is the file of the latest published cosigned checkpoint.
const WitnessedPath = "checkpoint.witnessed"

const witnessedTemp = "checkpoint.witnessed.tmp"

// ErrNotPublished: an index lies in the committed tree but beyond the
// published checkpoint (witnesses have not cosigned it yet). It matches
// [ErrOutOfRange].
var ErrNotPublished = fmt.Errorf("%w: not yet in a published checkpoint", ErrOutOfRange)

// publishedHead is the checkpoint readers see; changed is closed when a
// newer one replaces it.
type publishedHead struct {
	size       uint64
	checkpoint []byte // nil: none published yet
	changed    chan struct{}
}

func (l *Log) setPublished(size uint64, checkpoint []byte) {
	old := l.out.Swap(&publishedHead{size: size, checkpoint: checkpoint, changed: make(chan struct{})})
	if old != nil {
		close(old.changed)
	}
}

// loadWitnessed reads the published checkpoint file at Open.
func (l *Log) loadWitnessed(ctx context.Context) error {
	b, err := l.st.ReadFile(WitnessedPath)
	if isNotExist(err) {
		l.setPublished(0, nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("merkle: couldn't read %s: %w", WitnessedPath, err)
	}
	c, _, err := ParseCheckpoint(b, l.verifier)
	if err != nil {
		return &CorruptError{Path: WitnessedPath, Err: err}
	}
	if c.Size > l.Size() {
		return &CorruptError{Path: WitnessedPath, Err: fmt.Errorf("published size %d is ahead of the journal's %d", c.Size, l.Size())}
	}
	root, err := l.RootAt(ctx, c.Size)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, c.Hash) {
		return &RootMismatchError{Source: WitnessedPath, Size: c.Size, Expected: c.Hash, Computed: root}
	}
	l.setPublished(c.Size, b)
	return nil
}

// Publish makes cosigned — a checkpoint of this log, signed by its key
// and carrying cosignatures — the published one. It must be of a
// committed size not below the published one, with the tree's root at
// that size. It is durable when Publish returns. Publish is for logs
// opened with [Options.Witnessed]; calls are serialised.
func (l *Log) Publish(ctx context.Context, cosigned []byte) error {
	if !l.opts.Witnessed {
		return errors.New("merkle: Publish on a log opened without Options.Witnessed")
	}
	c, _, err := ParseCheckpoint(cosigned, l.verifier)
	if err != nil {
		return err
	}
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	cur := l.out.Load()
	if c.Size < cur.size {
		return fmt.Errorf("merkle: won't publish size %d after size %d", c.Size, cur.size)
	}
	if c.Size > l.Size() {
		return fmt.Errorf("%w: size %d is beyond the committed %d", ErrOutOfRange, c.Size, l.Size())
	}
	root, err := l.RootAt(ctx, c.Size)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, c.Hash) {
		return &RootMismatchError{Source: "Publish", Size: c.Size, Expected: c.Hash, Computed: root}
	}
	if err := l.replaceFile(witnessedTemp, WitnessedPath, cosigned); err != nil {
		return err
	}
	l.setPublished(c.Size, bytes.Clone(cosigned))
	return nil
}

// replaceFile durably replaces name with data through temp.
func (l *Log) replaceFile(temp, name string, data []byte) error {
	steps := []struct {
		what string
		do   func() error
	}{
		{"write", func() error { return l.st.WriteFile(temp, data) }},
		{"sync", func() error { return l.st.Sync(temp) }},
		{"rename", func() error { return l.st.Rename(temp, name) }},
		{"sync dir of", func() error { return l.st.SyncDir(".") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("merkle: couldn't %s %s: %w", s.what, name, err)
		}
	}
	return nil
}

// Head returns the latest committed checkpoint (signed by the log only).
// With [Options.Witnessed] it may be ahead of [Log.Checkpoint].
func (l *Log) Head() []byte { return bytes.Clone(l.pub.Load().checkpoint) }

// Checkpoint returns the published checkpoint note: with
// [Options.Witnessed] the latest cosigned one (nil before the first),
// otherwise the latest committed one.
func (l *Log) Checkpoint() []byte { return bytes.Clone(l.out.Load().checkpoint) }

// PublishedSize is the tree size of [Log.Checkpoint] (0 before the first).
func (l *Log) PublishedSize() uint64 { return l.out.Load().size }

// WaitPublished blocks until a published checkpoint covers size entries,
// or ctx is done.
func (l *Log) WaitPublished(ctx context.Context, size uint64) error {
	for {
		h := l.out.Load()
		if h.checkpoint != nil && h.size >= size {
			return nil
		}
		select {
		case <-h.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
