package adapters_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/schema"
)

// TestConcurrentPublishersGetDenseSeqs: many goroutines publishing at
// once through one client (single changes and batches, so the committer
// groups them) get every seq 1..N exactly once, each log entry holds the
// seq its caller was told, and every receipt verifies and reaches
// OnAccepted once, with the leaf Status reports and a send time.
func TestConcurrentPublishersGetDenseSeqs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	const dept = "civil-affairs"
	cfg := lg.config(t, dept, filepath.Join(t.TempDir(), "outbox.db"))
	cfg.MaxBatch = 20 // several committer batches
	var (
		mu       sync.Mutex
		accepted = map[uint64]adapters.Accepted{}
	)
	cfg.OnAccepted = func(a adapters.Accepted) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := accepted[a.Seq]; dup {
			t.Errorf("OnAccepted twice for seq %d", a.Seq)
		}
		accepted[a.Seq] = a
	}
	c, err := adapters.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, c)

	const workers, each, batch = 8, 6, 5
	var (
		smu  sync.Mutex
		seqs []uint64
		wg   sync.WaitGroup
	)
	started := time.Now()
	for w := range workers {
		wg.Go(func() {
			var mine []uint64
			for i := range each {
				typ, v := upsert(t, dept, w*1000+i)
				if i%2 == 0 {
					seq, err := c.Publish(ctx, typ, schema.OpUpsert, v)
					if err != nil && !errors.Is(err, adapters.ErrQueued) {
						t.Error(err)
						return
					}
					mine = append(mine, seq)
					continue
				}
				chs := make([]adapters.Change, batch)
				for j := range chs {
					typ, v := upsert(t, dept, w*1000+i*10+j)
					chs[j] = adapters.Change{RecordType: typ, Op: schema.OpUpsert, Values: v}
				}
				got, err := c.PublishBatch(ctx, chs)
				if err != nil && !errors.Is(err, adapters.ErrQueued) {
					t.Error(err)
					return
				}
				for j := 1; j < len(got); j++ {
					if got[j] != got[j-1]+1 {
						t.Errorf("batch seqs %v not consecutive", got)
					}
				}
				mine = append(mine, got...)
			}
			smu.Lock()
			seqs = append(seqs, mine...)
			smu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	n := workers * (each/2 + each/2*batch)
	slices.Sort(seqs)
	if len(seqs) != n {
		t.Fatalf("%d seqs, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs not dense and unique: position %d holds %d (%v…)", i, s, seqs[max(0, i-3):i+1])
		}
	}
	waitFor(t, ctx, "all receipts", func() bool { n, err := c.Pending(ctx); return err == nil && n == 0 })
	waitFor(t, ctx, "all OnAccepted calls", func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) == n })
	if lg.log.Size() != uint64(n) {
		t.Fatalf("log size %d, want %d", lg.log.Size(), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, st := range checkLogged(t, ctx, lg, c, dept, uint64(n)) {
		a := accepted[st.Seq]
		if a.Leaf != st.Leaf || a.Sent.Before(started) || a.Sent.After(time.Now()) {
			t.Fatalf("OnAccepted %+v, status leaf %d, published after %v", a, st.Leaf, started)
		}
	}
}

// TestPublishBatchIsAtomic: a batch with one invalid change stores
// nothing and names the change; the next publish still gets seq 1.
func TestPublishBatchIsAtomic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	const dept = "tax"
	c, err := adapters.Open(ctx, lg.config(t, dept, filepath.Join(t.TempDir(), "outbox.db")))
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, c)
	typ, good := upsert(t, dept, 1)
	bad := map[string]string{}
	for k, v := range good {
		bad[k] = v
	}
	for k := range bad {
		bad[k+"-no-such-field"] = "x"
		break
	}
	seqs, err := c.PublishBatch(ctx, []adapters.Change{{typ, schema.OpUpsert, good}, {typ, schema.OpUpsert, bad}})
	if err == nil || errors.Is(err, adapters.ErrQueued) || !strings.Contains(err.Error(), "change 1") || seqs != nil {
		t.Fatalf("PublishBatch with an invalid change: %v, %v; want an error naming change 1", seqs, err)
	}
	if n, err := c.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("pending %d, %v after a refused batch", n, err)
	}
	seq, err := c.Publish(ctx, typ, schema.OpUpsert, good)
	if err != nil && !errors.Is(err, adapters.ErrQueued) || seq != 1 {
		t.Fatalf("publish after a refused batch: seq %d, %v; want 1", seq, err)
	}
}

// TestDepartmentOutsideCatalog: a client for a signer with no record
// types (the gateway, which writes access entries) opens, refuses Publish
// with a clear error, and gets PublishEnvelope entries logged, reported
// through OnAccepted.
func TestDepartmentOutsideCatalog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	cfg := lg.config(t, "gateway", filepath.Join(t.TempDir(), "outbox.db"))
	cfg.ChangesTopic = lg.access
	accepted := make(chan adapters.Accepted, 1)
	cfg.OnAccepted = func(a adapters.Accepted) { accepted <- a }
	c, err := adapters.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open for a department outside the catalog: %v", err)
	}
	run(t, ctx, c)
	typ, v := upsert(t, "tax", 1)
	if _, err := c.Publish(ctx, typ, schema.OpUpsert, v); err == nil || !strings.Contains(err.Error(), "not in the catalog") {
		t.Fatalf("Publish of a record type by gateway: %v; want a not-in-the-catalog error", err)
	}
	env := &schema.Envelope{Kind: schema.KindAccess, Access: &schema.Access{Consumer: "real-estate", User: "analyst-1", Purpose: "real-estate-transfer"}}
	seq, err := c.PublishEnvelope(ctx, env, nil)
	if err != nil && !errors.Is(err, adapters.ErrQueued) || seq != 1 {
		t.Fatalf("PublishEnvelope: seq %d, %v; want 1 (a failed Publish uses no seq)", seq, err)
	}
	select {
	case a := <-accepted:
		if a.Seq != 1 || a.Sent.IsZero() {
			t.Fatalf("accepted %+v", a)
		}
		raw, err := lg.log.Entry(ctx, a.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := schema.DecodeEnvelope(raw)
		if err != nil || got.Kind != schema.KindAccess || got.Department != "gateway" {
			t.Fatalf("leaf %d: %+v, %v", a.Leaf, got, err)
		}
	case <-ctx.Done():
		t.Fatal("access entry never accepted")
	}
}
