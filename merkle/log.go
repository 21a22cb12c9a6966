package merkle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

const (
	checkpointTemp      = "checkpoint.tmp"
	tileDir             = "tile"
	lockPath            = "lock"
	defaultJournalLimit = 64 << 20
	defaultTileCache    = 1024
	tileWriters         = 2
	maxStateSize        = 64 << 20
)

// Options configure [Open].
type Options struct {
	// SignerKey is the log's Ed25519 signer key as made by [GenerateKey].
	// Its key name is the log's origin. Required.
	SignerKey string

	// Storage replaces the filesystem storage rooted at the log directory,
	// e.g. with a fault-injecting one in tests. The writer lock is always
	// taken on the real directory.
	Storage Storage

	// WaitForLock makes Open wait until the writer lock is free (or ctx is
	// done) instead of failing with [ErrLocked]: a standby ingest blocks
	// here until the active one exits.
	WaitForLock bool

	// LockPollInterval is how often a waiting Open retries the lock.
	// Default 100ms.
	LockPollInterval time.Duration

	// JournalLimit is the journal size in bytes past which an Append syncs
	// all tiles written since the last such point and starts a new journal.
	// It bounds the work of the next Open. Default 64 MiB.
	JournalLimit int64

	// TileCacheSize is how many expanded hash tiles (16 KiB each) proofs
	// keep in memory. Default 1024.
	TileCacheSize int

	// BundleCacheSize is how many decoded full entry bundles (256
	// entries each) entry reads keep in memory: the gateway reads one
	// record's envelope at a time, ingest one duplicate's. Default 64.
	BundleCacheSize int

	// WriteBehind bounds how many full tiles and entry bundles of committed
	// batches may wait for the background tile writer: an Append that
	// finds more queued waits (or returns ctx.Err()) before committing.
	// Memory held is at most WriteBehind resources plus one batch's worth
	// (a bundle is 256 entries, a hash tile 8 KiB). Default 128.
	WriteBehind int

	// Witnessed publishes only the checkpoints handed to [Log.Publish]
	// (cosigned by witnesses) instead of every committed one; see
	// [WitnessedPath].
	Witnessed bool
}

func (o *Options) setDefaults() {
	if o.LockPollInterval <= 0 {
		o.LockPollInterval = 100 * time.Millisecond
	}
	if o.JournalLimit <= 0 {
		o.JournalLimit = defaultJournalLimit
	}
	if o.TileCacheSize <= 0 {
		o.TileCacheSize = defaultTileCache
	}
	if o.BundleCacheSize <= 0 {
		o.BundleCacheSize = 64
	}
	if o.WriteBehind <= 0 {
		o.WriteBehind = defaultWriteBehind
	}
}

// published is an immutable snapshot of the committed log head.
type published struct {
	size       uint64
	root       []byte
	checkpoint []byte
	state      []byte
	// The right edge of the tree at size: partial tiles and bundle, which
	// live in memory until the next compaction writes them.
	edge        [maxTileLevel][]byte
	edgeBundle  []byte
	edgeBundleN int
}

func (l *Log) publish(checkpoint, state, root []byte) {
	p := &published{size: l.b.size(), root: root, checkpoint: checkpoint, state: state}
	p.edge, p.edgeBundle, p.edgeBundleN = l.b.edge()
	l.pub.Store(p)
	if !l.opts.Witnessed {
		l.setPublished(p.size, checkpoint)
	}
}

// Log is a single-writer transparency log in a directory. Append is
// serialised internally; every read method is safe concurrently with
// Append and with each other. A Log owns one goroutine, the tile writer
// (see [Log.Append]); [Log.Close] stops it.
type Log struct {
	st       Storage
	signer   note.Signer
	verifier note.Verifier
	origin   string
	opts     Options
	lock     *os.File
	cache    *tileCache
	bundles  *lru[[][]byte] // decoded full entry bundles
	tr       *tileReader
	w        *tileWriter // started by Open, stopped by Close

	pub   atomic.Pointer[published]     // the committed head
	out   atomic.Pointer[publishedHead] // what readers see
	pubMu sync.Mutex                    // serialises Publish

	mu          sync.Mutex // guards everything below
	b           *builder
	closed      bool
	broken      error
	journalSize int64
	uncompacted int // journal records after the base record
	buf         []byte
	obsolete    map[string]struct{} // ".p" directories of filled tiles
}

// Open opens the log in dir, creating an empty log (a journal and a signed
// checkpoint of size 0) if dir holds none, and recovering from any crash:
// the journal's last complete record is the committed head, a torn tail is
// truncated, and every tile, bundle and the public checkpoint written since
// the journal's base record are rewritten from it. Open fails with
// [ErrLocked] if another writer holds dir, with a [*RootMismatchError] if
// the stored tree does not match its checkpoint, and with a
// [*CorruptError] for undecodable storage.
func Open(ctx context.Context, dir string, opts Options) (*Log, error) {
	opts.setDefaults()
	signer, verifier, err := NewSigner(opts.SignerKey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("merkle: couldn't create log directory: %w", err)
	}
	lock, err := acquireLock(ctx, dir, opts.WaitForLock, opts.LockPollInterval)
	if err != nil {
		return nil, err
	}
	markTopDir(filepath.Join(dir, tileDir))
	st := opts.Storage
	if st == nil {
		st = NewDirStorage(dir)
	}
	l := &Log{
		st: st, signer: signer, verifier: verifier, origin: signer.Name(),
		opts: opts, lock: lock, cache: newTileCache(opts.TileCacheSize), bundles: newLRU[[][]byte](opts.BundleCacheSize),
		b:        newBuilder(true),
		obsolete: map[string]struct{}{},
	}
	l.w = newTileWriter(st, tileWriters)
	l.tr = &tileReader{st: st, cache: l.cache, pub: l.pub.Load, pending: l.w.get}
	err = l.recover(ctx)
	if err == nil && opts.Witnessed {
		err = l.loadWitnessed(ctx)
	}
	if err != nil {
		l.w.stop()
		releaseLock(lock)
		return nil, err
	}
	return l, nil
}

func (l *Log) recover(ctx context.Context) error {
	for _, tmp := range []string{journalTemp, checkpointTemp} {
		if err := l.st.Remove(tmp); err != nil {
			return fmt.Errorf("merkle: couldn't remove %s: %w", tmp, err)
		}
	}
	data, err := l.st.ReadFile(journalPath)
	if isNotExist(err) {
		return l.create()
	}
	if err != nil {
		return fmt.Errorf("merkle: couldn't read journal: %w", err)
	}
	recs, valid, tailErr, err := decodeJournal(data)
	if err != nil {
		return err
	}
	if tailErr != nil {
		// The tail of a write that never returned: never acknowledged.
		if err := l.st.Truncate(journalPath, int64(valid)); err != nil {
			return fmt.Errorf("merkle: couldn't truncate torn journal tail (%v): %w", tailErr, err)
		}
		if err := l.st.Sync(journalPath); err != nil {
			return fmt.Errorf("merkle: couldn't sync truncated journal: %w", err)
		}
	}
	l.journalSize = int64(valid)

	base := recs[0]
	cp, err := checkpointBody(base.checkpoint)
	if err != nil {
		return &CorruptError{Path: journalPath, Err: fmt.Errorf("base record checkpoint: %w", err)}
	}
	if err := l.b.load(l.st, base.first, base.rangeHash); err != nil {
		return err
	}
	if got := l.b.root(); cp.Size != base.first || !bytes.Equal(got, cp.Hash) {
		return &RootMismatchError{Source: "journal base record", Size: base.first, Expected: cp.Hash, Computed: got}
	}
	for i, rec := range recs[1:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.apply(rec.entries); err != nil {
			return err
		}
		cp, err := checkpointBody(rec.checkpoint)
		if err != nil {
			return &CorruptError{Path: journalPath, Err: fmt.Errorf("record %d checkpoint: %w", i+1, err)}
		}
		if got := l.b.root(); cp.Size != l.b.size() || !bytes.Equal(got, cp.Hash) {
			return &RootMismatchError{Source: fmt.Sprintf("journal record %d", i+1), Size: l.b.size(), Expected: cp.Hash, Computed: got}
		}
	}
	last := recs[len(recs)-1]
	cp, _, err = ParseCheckpoint(last.checkpoint, l.verifier)
	if err != nil {
		return &CorruptError{Path: journalPath, Err: fmt.Errorf("last checkpoint: %w", err)}
	}

	// The public checkpoint may lag the journal (it is rewritten at
	// compaction), never lead it.
	onDisk, err := l.st.ReadFile(CheckpointPath)
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("merkle: couldn't read checkpoint: %w", err)
	}
	if dc, _, perr := ParseCheckpoint(onDisk, l.verifier); perr == nil &&
		(dc.Size > cp.Size || (dc.Size == cp.Size && !bytes.Equal(dc.Hash, cp.Hash))) {
		return &CorruptError{Path: CheckpointPath, Err: fmt.Errorf(
			"signed checkpoint at size %d (root %s) is not the journal's last committed head, size %d (root %s): the journal lost committed records",
			dc.Size, b64(dc.Hash), cp.Size, b64(cp.Hash))}
	}
	l.uncompacted = len(recs) - 1
	l.publish(last.checkpoint, last.state, cp.Hash)
	if l.uncompacted > 0 || !bytes.Equal(onDisk, last.checkpoint) {
		if err := l.rotate(last.checkpoint, last.state); err != nil {
			return fmt.Errorf("merkle: couldn't compact journal after recovery: %w", err)
		}
	}

	// The tiles on disk, not only the journal, must reproduce the root.
	got, err := l.tr.rootFromTiles(ctx, cp.Size)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, cp.Hash) {
		return &RootMismatchError{Source: "tiles", Size: cp.Size, Expected: cp.Hash, Computed: got}
	}
	return nil
}

// checkpointBody parses a signed checkpoint's text without verifying the
// signature (the journal is private and checksummed; the last record's
// signature is verified).
func checkpointBody(signed []byte) (Checkpoint, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return Checkpoint{}, errors.New("not a signed note")
	}
	return ParseCheckpointText(string(text) + "\n")
}

// create initialises an empty log: a base record at size 0 and its checkpoint.
func (l *Log) create() error {
	if _, err := l.st.ReadFile(CheckpointPath); err == nil {
		return &CorruptError{Path: journalPath, Err: errors.New("checkpoint exists but journal is missing")}
	}
	signed, err := signCheckpoint(l.signer, Checkpoint{Origin: l.origin, Size: 0, Hash: emptyRoot})
	if err != nil {
		return err
	}
	if err := l.publishCheckpoint(signed); err != nil {
		return err
	}
	if err := l.writeJournalBase(signed, nil); err != nil {
		return err
	}
	l.publish(signed, nil, emptyRoot)
	return nil
}

// writeJournalBase atomically replaces the journal with a single base record
// for the builder's current tree.
func (l *Log) writeJournalBase(signed, state []byte) error {
	rec := &journalRecord{kind: kindBase, first: l.b.size(), state: state, checkpoint: signed, rangeHash: l.b.rng.Hashes()}
	data := appendJournalRecord([]byte(journalMagic), rec)
	if err := l.replaceFile(journalTemp, journalPath, data); err != nil {
		return err
	}
	l.journalSize = int64(len(data))
	return nil
}

func (l *Log) publishCheckpoint(signed []byte) error {
	if err := l.st.WriteFile(checkpointTemp, signed); err != nil {
		return fmt.Errorf("merkle: couldn't write checkpoint: %w", err)
	}
	if err := l.st.Sync(checkpointTemp); err != nil {
		return fmt.Errorf("merkle: couldn't sync checkpoint: %w", err)
	}
	if err := l.st.Rename(checkpointTemp, CheckpointPath); err != nil {
		return fmt.Errorf("merkle: couldn't publish checkpoint: %w", err)
	}
	return nil
}

// apply extends the tree by entries and writes every tile and bundle that
// changed: journal replay.
func (l *Log) apply(entries [][]byte) error {
	out, _, err := l.extend(entries)
	if err != nil {
		return err
	}
	for _, w := range out {
		name := w.path.String()
		if err := l.st.WriteFile(name, w.data); err != nil {
			return fmt.Errorf("merkle: couldn't write %s: %w", name, err)
		}
	}
	return nil
}

// Append adds entries to the log with consecutive indices starting at the
// returned first, and replaces the caller's opaque state.
//
// When Append returns nil, the entries, the state and a new signed
// checkpoint covering them are durable together: they were committed by a
// single fsynced journal record; the tiles derived from them are written
// later (full ones by the Log's tile writer goroutine, partial ones and
// the checkpoint file at compaction), served from memory until then, and
// rebuilt from the journal after a crash. A crash at any point
// before that leaves the log as if Append had never been called, or (if the
// journal record reached the disk) as if it had returned: [Log.State] after
// reopening tells which. An empty batch only replaces the state.
//
// If more than [Options.WriteBehind] tiles are waiting for the tile
// writer, Append first waits for it; if ctx is done meanwhile it returns
// ctx.Err() and changes nothing.
//
// An entry over [MaxEntrySize] fails the whole batch with
// [*EntryTooLargeError] and changes nothing. Any storage failure,
// including a failed background tile write (reported by the next Append),
// poisons the Log ([ErrPoisoned]).
func (l *Log) Append(ctx context.Context, entries [][]byte, state []byte) (first uint64, err error) {
	for i, e := range entries {
		if len(e) > MaxEntrySize {
			return 0, &EntryTooLargeError{Index: i, Size: len(e)}
		}
	}
	if len(state) > maxStateSize {
		return 0, fmt.Errorf("merkle: state is %d bytes, over the %d-byte limit", len(state), maxStateSize)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// Backpressure: bound the tiles held in memory for the writer.
	if err := l.w.wait(ctx, l.opts.WriteBehind); err != nil {
		if ctx.Err() == nil || l.w.failed() != nil {
			err = fmt.Errorf("merkle: an earlier committed batch's tiles couldn't be written: %w", err)
			l.broken = err
		}
		return 0, err
	}
	first = l.b.size()
	defer func() {
		if err != nil {
			l.broken = err
		}
	}()

	// Hash first: the journal record carries the signed checkpoint.
	out, root, err := l.extend(entries)
	if err != nil {
		return 0, err
	}
	signed, err := signCheckpoint(l.signer, Checkpoint{Origin: l.origin, Size: l.b.size(), Hash: root})
	if err != nil {
		return 0, err
	}
	state = bytes.Clone(state)
	l.buf = appendJournalRecord(l.buf[:0], &journalRecord{kind: kindAppend, first: first, entries: entries, state: state, checkpoint: signed})
	if err := l.st.AppendSync(journalPath, l.buf); err != nil {
		return 0, fmt.Errorf("merkle: couldn't commit batch to journal: %w", err)
	}
	l.journalSize += int64(len(l.buf))
	if len(l.buf) > 4<<20 {
		l.buf = nil // don't pin a huge buffer
	}

	// Committed. What follows only derives public files from the commit;
	// if it fails, Open repairs it from the journal. The full tiles are
	// readable from the writer's queue before the head that covers them
	// is published.
	l.uncompacted++
	l.w.enqueue(out)
	l.publish(signed, state, root)
	if l.journalSize > l.opts.JournalLimit {
		if err := l.rotate(signed, state); err != nil {
			return 0, fmt.Errorf("merkle: batch committed, but %w", err)
		}
	}
	return first, nil
}

// extend hashes entries into the builder and returns the full tiles and
// bundles to write and the new root.
func (l *Log) extend(entries [][]byte) ([]tileWrite, []byte, error) {
	for _, e := range entries {
		l.b.add(e, LeafHash(e))
	}
	out, err := l.b.finish()
	if err != nil {
		return nil, nil, fmt.Errorf("merkle: couldn't extend tree: %w", err)
	}
	for _, p := range l.b.completed {
		l.obsolete[p.String()+".p"] = struct{}{}
	}
	l.b.completed = l.b.completed[:0]
	return out, l.b.root(), nil
}

// rotate (compaction) waits for the tile writer to write every queued
// full tile, writes the partial tiles and public checkpoint of the current
// head, makes everything written since the journal's base record durable
// with one SyncAll, replaces the journal with a base record for the
// current head, and then removes the partial tiles of tiles that have
// filled.
func (l *Log) rotate(signed, state []byte) error {
	if err := l.w.drain(); err != nil {
		return err
	}
	for _, w := range l.b.partials() {
		// A partial of the base record's size may have the same name (a
		// level whose width did not change). It is durable and needed if
		// this compaction fails, so never rewrite it in place: same name
		// means same content, unless it is a torn leftover.
		if old, err := l.st.ReadFile(w.path.String()); err == nil && bytes.Equal(old, w.data) {
			continue
		}
		if err := l.st.WriteFile(w.path.String(), w.data); err != nil {
			return fmt.Errorf("couldn't write %s: %w", w.path, err)
		}
	}
	if err := l.publishCheckpoint(signed); err != nil {
		return err
	}
	if err := l.st.SyncAll(); err != nil {
		return fmt.Errorf("couldn't sync tiles: %w", err)
	}
	if err := l.writeJournalBase(signed, state); err != nil {
		return err
	}
	l.uncompacted = 0
	for p := range l.obsolete {
		if err := l.st.RemoveAll(p); err != nil {
			return fmt.Errorf("couldn't remove obsolete partial tiles %s: %w", p, err)
		}
	}
	clear(l.obsolete)
	return nil
}

func (l *Log) usable() error {
	if l.closed {
		return ErrClosed
	}
	if l.broken != nil {
		return fmt.Errorf("%w (first failure: %v)", ErrPoisoned, l.broken)
	}
	return nil
}

// Close compacts the journal (so the next Open replays nothing), which
// waits for the tile writer to finish, then stops the tile writer
// goroutine, then releases the writer lock. It returns any error of a
// background tile write not yet reported. Reads keep working on a closed
// Log only until the next writer changes the directory; don't rely on
// them.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.broken == nil && l.uncompacted > 0 {
		p := l.pub.Load()
		if e := l.rotate(p.checkpoint, p.state); e != nil {
			err = fmt.Errorf("merkle: couldn't compact journal on close: %w", e)
		}
	}
	l.closed = true
	l.w.stop()
	if e := releaseLock(l.lock); e != nil && err == nil {
		err = e
	}
	return err
}

// Size returns the tree size of the committed head ([Log.Head]).
func (l *Log) Size() uint64 { return l.pub.Load().size }

// Root returns the root hash of the current checkpoint.
func (l *Log) Root() []byte { return bytes.Clone(l.pub.Load().root) }

// State returns the caller state committed with the current checkpoint (nil
// for a new log).
func (l *Log) State() []byte { return bytes.Clone(l.pub.Load().state) }

// Origin returns the log's origin (its key name).
func (l *Log) Origin() string { return l.origin }

// Verifier returns the verifier of the log's checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// Entry returns the entry at index i.
func (l *Log) Entry(ctx context.Context, i uint64) ([]byte, error) {
	es, err := l.Entries(ctx, i, 1)
	if err != nil {
		return nil, err
	}
	return es[0], nil
}

// Entries returns the n entries from index from on, all below the current
// checkpoint size.
func (l *Log) Entries(ctx context.Context, from, n uint64) ([][]byte, error) {
	size := l.Size()
	if n == 0 || from >= size || n > size-from {
		return nil, fmt.Errorf("%w: entries [%d, %d+%d) of tree size %d", ErrOutOfRange, from, from, n, size)
	}
	out := make([][]byte, 0, n)
	for idx := from / TileWidth; idx <= (from+n-1)/TileWidth; idx++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ents, err := l.readBundle(idx, size)
		if err != nil {
			return nil, err
		}
		lo, hi := uint64(0), uint64(len(ents))
		if idx == from/TileWidth {
			lo = from % TileWidth
		}
		if end := from + n; idx == (end-1)/TileWidth {
			hi = (end-1)%TileWidth + 1
		}
		if hi > uint64(len(ents)) || lo > hi {
			return nil, &CorruptError{Path: TilePath{Entries: true, Index: idx}.String(), Err: fmt.Errorf("bundle has %d entries, need %d", len(ents), hi)}
		}
		for _, e := range ents[lo:hi] {
			out = append(out, bytes.Clone(e))
		}
	}
	return out, nil
}

// readBundle reads bundle idx as it is at tree size size.
func (l *Log) readBundle(idx, size uint64) ([][]byte, error) {
	p := TilePath{Entries: true, Index: idx, Width: layout.PartialTileSize(0, idx, size)}
	if p.Width == 0 {
		if ents, ok := l.bundles.get(p); ok {
			return ents, nil // callers copy what they return
		}
	}
	data, err := l.tr.loadBundle(p)
	if err != nil {
		return nil, fmt.Errorf("merkle: couldn't read %s: %w", p, err)
	}
	ents, err := DecodeBundle(data)
	if err != nil {
		return nil, &CorruptError{Path: p.String(), Err: err}
	}
	if len(ents) != p.width() {
		return nil, &CorruptError{Path: p.String(), Err: fmt.Errorf("%d entries, want %d", len(ents), p.width())}
	}
	if p.Width == 0 {
		l.bundles.put(p, ents)
	}
	return ents, nil
}
