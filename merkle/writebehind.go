package merkle

import (
	"context"
	"fmt"
	"sync"
)

// defaultWriteBehind is the default of [Options.WriteBehind]: 128 pending
// resources are at most ~16 MiB of entry bundles (500-byte entries) or
// 1 MiB of hash tiles.
const defaultWriteBehind = 128

// tileWriter writes the full tiles and entry bundles of committed batches
// behind [Log.Append], on one goroutine owned by the Log.
//
// Why it is safe: a batch is durable once its journal record is; the tiles
// are derived copies, rebuilt by journal replay after a crash (Open
// rewrites every tile newer than the journal's base record). Until a
// resource is written, readers get it from [tileWriter.get], so the Log
// serves exactly what it would with synchronous writes. Compaction
// ([Log.rotate]) drains the writer before its SyncAll, so the journal is
// never truncated past a tile that is not durable.
//
// Ownership and shutdown order: [Open] starts the goroutine (before
// recovery, whose compaction drains it); [Log.Close] drains it (through
// the final compaction), then stops it and waits for it, then releases
// the writer lock. Appends are serialised by Log.mu, so only one goroutine
// enqueues; readers call get concurrently.
//
// Errors: the first failed write stops the writer. It is returned by the
// next Append (which then poisons the Log, like any failed mutation), by
// compaction and by Close. Queued resources stay readable.
type tileWriter struct {
	st Storage

	mu       sync.Mutex
	queue    []tileWrite         // FIFO of resources no worker has taken
	inflight int                 // resources being written
	pending  map[TilePath][]byte // the content of every queued or in-flight resource
	err      error               // first failed write
	stopping bool
	wake     chan struct{} // the queue grew, or stopping
	progress chan struct{} // closed and replaced whenever a write ends
	wg       sync.WaitGroup
}

// newTileWriter starts workers goroutines. More than one overlaps file
// creations, which dominate (see markTopDir); they land in different
// directories (tile/0/..., tile/entries/...), so they rarely contend.
func newTileWriter(st Storage, workers int) *tileWriter {
	w := &tileWriter{
		st:       st,
		pending:  map[TilePath][]byte{},
		wake:     make(chan struct{}, workers),
		progress: make(chan struct{}),
	}
	w.wg.Add(workers)
	for range workers {
		go w.run()
	}
	return w
}

func (w *tileWriter) run() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.stopping && w.err == nil {
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		if w.stopping || w.err != nil {
			w.mu.Unlock()
			return
		}
		tw := w.queue[0]
		w.queue[0] = tileWrite{}
		w.queue = w.queue[1:]
		if len(w.queue) == 0 {
			w.queue = nil // let the backing array go
		}
		w.inflight++
		w.mu.Unlock()

		name := tw.path.String()
		err := w.st.WriteFile(name, tw.data)

		w.mu.Lock()
		w.inflight--
		if err != nil {
			// Leave tw readable: the file may be torn.
			if w.err == nil {
				w.err = fmt.Errorf("couldn't write %s: %w", name, err)
			}
		} else {
			delete(w.pending, tw.path)
		}
		close(w.progress)
		w.progress = make(chan struct{})
		w.mu.Unlock()
		if err != nil {
			w.wakeAll()
			return
		}
	}
}

func (w *tileWriter) wakeAll() {
	for range cap(w.wake) {
		select {
		case w.wake <- struct{}{}:
		default:
			return
		}
	}
}

// enqueue hands committed resources to the writer; they are readable
// through get as soon as it returns. It never blocks: the caller bounds the
// queue with wait before committing.
func (w *tileWriter) enqueue(ws []tileWrite) {
	if len(ws) == 0 {
		return
	}
	w.mu.Lock()
	for _, tw := range ws {
		w.pending[tw.path] = tw.data
	}
	w.queue = append(w.queue, ws...)
	w.mu.Unlock()
	for range min(len(ws), cap(w.wake)) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// get returns the content of a resource that is queued but maybe not yet
// written.
func (w *tileWriter) get(p TilePath) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, ok := w.pending[p]
	return data, ok
}

// wait blocks until at most limit resources are queued, the writer has
// failed (its error is returned), or ctx is done.
func (w *tileWriter) wait(ctx context.Context, limit int) error {
	for {
		w.mu.Lock()
		err, n, progress := w.err, len(w.queue)+w.inflight, w.progress
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if n <= limit {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// failed returns the writer's error, if any, without waiting.
func (w *tileWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// drain waits until every queued resource is written (not synced).
func (w *tileWriter) drain() error { return w.wait(context.Background(), 0) }

// stop stops the goroutines after the writes in flight, if any, and waits
// for them. Resources still queued are dropped (journal replay rewrites them);
// Close drains first, so only a poisoned or abandoned Log drops any.
func (w *tileWriter) stop() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	w.wakeAll()
	w.wg.Wait()
}
