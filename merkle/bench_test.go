package merkle_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/merkle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// benchEntries returns n distinct 500-byte entries.
func benchEntries(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		e := make([]byte, 500)
		copy(e, fmt.Sprintf("bench entry %d", i))
		out[i] = e
	}
	return out
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkHashBaseline is the floor every append figure is compared with:
// RFC 6962 leaf hash plus compact-range append, no I/O, no signing.
func BenchmarkHashBaseline(b *testing.B) {
	es := benchEntries(4096)
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	b.SetBytes(500)
	for i := 0; b.Loop(); i++ {
		if err := r.Append(merkle.LeafHash(es[i%len(es)]), nil); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkAppend measures durable appends (journal fdatasync on every
// batch) of 500-byte entries. b.N counts entries.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			es := benchEntries(batch)
			l := openLog(b, b.TempDir(), merkle.Options{})
			defer l.Close()
			ctx := context.Background()
			b.SetBytes(500)
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				k := min(batch, b.N-n)
				if _, err := l.Append(ctx, es[:k], []byte("offsets")); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b)
		})
	}
}

// BenchmarkTesseraPOSIX appends the same entries through Tessera's POSIX
// storage, batching 1024 / 100ms, checkpoint every second, with 4096
// concurrent Add calls waiting on their index futures.
func BenchmarkTesseraPOSIX(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	skey, _ := testKey(b)
	s, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	drv, err := posix.New(ctx, posix.Config{Path: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	app, shutdown, _, err := tessera.NewAppender(ctx, drv, tessera.NewAppendOptions().
		WithCheckpointSigner(s).
		WithBatching(1024, 100*time.Millisecond).
		WithCheckpointInterval(time.Second).
		WithPushback(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer shutdown(ctx)
	es := benchEntries(4096)
	const workers = 4096
	next := make(chan int, workers)
	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	b.SetBytes(500)
	b.ResetTimer()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e := append([]byte(nil), es[i%len(es)]...)
				copy(e[400:], fmt.Sprint(i)) // distinct entries, no dedup
				if _, err := app.Add(ctx, tessera.NewEntry(e))(); err != nil {
					once.Do(func() { failed = err })
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	reportRate(b)
}

func proofLog(b *testing.B) *merkle.Log {
	l := openLog(b, b.TempDir(), merkle.Options{})
	es := benchEntries(4096)
	for l.Size() < 100_000 {
		if _, err := l.Append(context.Background(), es[:min(4096, 100_000-int(l.Size()))], nil); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// benchProof times prove(i) for i = 0, 1, … over a [proofLog] of size.
func benchProof(b *testing.B, prove func(ctx context.Context, l *merkle.Log, i, size uint64) error) {
	l := proofLog(b)
	defer l.Close()
	ctx := context.Background()
	size := l.Size()
	for i := uint64(0); b.Loop(); i++ {
		if err := prove(ctx, l, i, size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInclusionProof(b *testing.B) {
	benchProof(b, func(ctx context.Context, l *merkle.Log, i, size uint64) error {
		_, err := l.InclusionProof(ctx, (i*7919)%size, size)
		return err
	})
}

func BenchmarkConsistencyProof(b *testing.B) {
	benchProof(b, func(ctx context.Context, l *merkle.Log, i, size uint64) error {
		_, err := l.ConsistencyProof(ctx, 1+(i*7919)%(size-1), size)
		return err
	})
}

func BenchmarkVerifyInclusion(b *testing.B) {
	l := proofLog(b)
	defer l.Close()
	ctx := context.Background()
	size := l.Size()
	p, err := l.InclusionProof(ctx, 12345, size)
	if err != nil {
		b.Fatal(err)
	}
	leaf := merkle.LeafHash(benchEntries(4096)[12345%4096])
	root := l.Root()
	for b.Loop() {
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 12345, size, leaf, p, root); err != nil {
			b.Fatal(err)
		}
	}
}
