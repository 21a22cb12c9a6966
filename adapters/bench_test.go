package adapters_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/schema"
)

// BenchmarkPublish measures one client publishing b.N changes from many
// goroutines (Publish, or PublishBatch of 100) against a running ingest on
// the test broker. It reports published/s (the calls returned: stored in
// the outbox and sent) and receipted/s (every receipt verified and its
// outbox row retired). The serial client this replaced ran ≈ 300/s with
// 64 publishers on the development VM.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name           string
		workers, batch int
	}{{"publishers=64", 64, 1}, {"publishers=512", 512, 1}, {"batch=100x8", 8, 100}} {
		b.Run(bc.name, func(b *testing.B) { benchmarkPublish(b, bc.workers, bc.batch) })
	}
}

func benchmarkPublish(b *testing.B, workers, batch int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lg := startLedger(b, ctx)
	const dept = "tax"
	cfg := lg.config(b, dept, filepath.Join(b.TempDir(), "outbox.db"))
	// The whole run is queued at once; the tests' 300 ms would re-send
	// (and ingest verify twice) whatever waits longer than that in
	// ingest's backlog.
	cfg.ResendAfter, cfg.MaxResendAfter = 30*time.Second, time.Minute
	c, err := adapters.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	run(b, ctx, c)
	typ, v := upsert(b, dept, 1)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				hi := next.Add(int64(batch))
				n := min(int64(batch), int64(b.N)-(hi-int64(batch)))
				if n <= 0 {
					return
				}
				var err error
				if batch == 1 {
					_, err = c.Publish(ctx, typ, schema.OpUpsert, v)
				} else {
					chs := make([]adapters.Change, n)
					for i := range chs {
						chs[i] = adapters.Change{RecordType: typ, Op: schema.OpUpsert, Values: v}
					}
					_, err = c.PublishBatch(ctx, chs)
				}
				if err != nil && !errors.Is(err, adapters.ErrQueued) {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	published := time.Since(start)
	waitFor(b, ctx, "all receipts", func() bool { n, err := c.Pending(ctx); return err == nil && n == 0 })
	receipted := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/published.Seconds(), "published/s")
	b.ReportMetric(float64(b.N)/receipted.Seconds(), "receipted/s")
}
