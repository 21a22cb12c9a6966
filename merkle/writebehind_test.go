package merkle_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
)

// gatedStorage holds every WriteFile of a full tile or bundle until open
// is closed, or fails it with failWith.
type gatedStorage struct {
	merkle.Storage
	open     chan struct{}
	mu       sync.Mutex
	held     int
	failWith error
}

func (g *gatedStorage) WriteFile(name string, data []byte) error {
	if strings.HasPrefix(name, "tile/") && !strings.Contains(name, ".p/") {
		g.mu.Lock()
		g.held++
		err := g.failWith
		g.mu.Unlock()
		if err != nil {
			return err
		}
		<-g.open
	}
	return g.Storage.WriteFile(name, data)
}

func (g *gatedStorage) heldCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// TestWriteBehind: while the tile writer is stuck, committed tiles are
// served from memory, Append waits once WriteBehind tiles are queued (and
// gives up with ctx, changing nothing), and a crash before the tiles reach
// the disk loses nothing: Open rebuilds them from the journal.
func TestWriteBehind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := &gatedStorage{Storage: merkle.NewDirStorage(dir), open: make(chan struct{})}
	l := openLog(t, dir, merkle.Options{Storage: g, WriteBehind: 4})
	appendN(t, l, 3*256+10, 3*256+10) // 3 bundles + 3 level-0 tiles queued
	if _, err := l.Entries(ctx, 0, l.Size()); err != nil {
		t.Fatalf("Entries from queued bundles: %v", err)
	}
	if _, err := l.InclusionProof(ctx, 5, l.Size()); err != nil {
		t.Fatalf("InclusionProof from queued tiles: %v", err)
	}
	if got, err := l.RootAt(ctx, 300); err != nil || len(got) != 32 {
		t.Fatalf("RootAt(300) from queued tiles = %x, %v", got, err)
	}

	// Over the limit: Append waits, and with a deadline gives up cleanly.
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	size, root := l.Size(), l.Root()
	if _, err := l.Append(tctx, entries(size, 1), []byte("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append over the write-behind limit = %v, want DeadlineExceeded", err)
	}
	if l.Size() != size || !bytes.Equal(l.Root(), root) {
		t.Fatalf("timed-out Append changed the log")
	}

	// Crash with the tiles still in memory.
	for deadline := time.Now().Add(5 * time.Second); g.heldCount() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no tile write reached storage")
		}
	}
	done := make(chan struct{})
	go func() { merkle.Abandon(l); close(done) }()
	close(g.open) // let the in-flight writes finish so Abandon can return
	<-done

	l = openLog(t, dir, merkle.Options{})
	defer l.Close()
	if l.Size() != size || !bytes.Equal(l.Root(), root) || string(l.State()) != "state 778" {
		t.Fatalf("after crash: size %d state %q, want %d %q", l.Size(), l.State(), size, "state 778")
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWriteBehindFailure: a failed background tile write is reported by the
// next Append, which poisons the Log; reopening repairs it.
func TestWriteBehindFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	injected := errors.New("injected")
	g := &gatedStorage{Storage: merkle.NewDirStorage(dir), open: make(chan struct{}), failWith: injected}
	close(g.open)
	l := openLog(t, dir, merkle.Options{Storage: g, WriteBehind: 1})
	appendN(t, l, 4*256, 4*256) // 8 resources queued; the first write fails
	_, err := l.Append(ctx, entries(l.Size(), 1), nil)
	if !errors.Is(err, injected) {
		t.Fatalf("Append after failed tile write = %v, want the write's error", err)
	}
	if _, err := l.Append(ctx, entries(l.Size(), 1), nil); !errors.Is(err, merkle.ErrPoisoned) {
		t.Fatalf("second Append = %v, want ErrPoisoned", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close of a poisoned log: %v", err)
	}
	l = openLog(t, dir, merkle.Options{})
	defer l.Close()
	if l.Size() != 4*256 {
		t.Fatalf("size %d after reopen", l.Size())
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
