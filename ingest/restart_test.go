package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/sqlite"
)

// TestRestartResumes stops ingest and starts a new Ingester over the same
// log: it resumes at the offsets committed in the log state (no message is
// processed twice: no receipt at all until new input), and new input gets
// fresh leaves. A Projector runs concurrently with ingest throughout and
// converges, including over a delete of a record that was never upserted.
func TestRestartResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := broker(t)
	dir := t.TempDir()
	tc := topics(ingest.Config{}, fmt.Sprintf(".restart.%d", time.Now().UnixNano()))
	l, _ := ingesttest.OpenLog(t, ctx, dir, "restart.example/crossledger")
	cat := schema.Demo()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "proj.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// start runs an Ingester and a Projector over the log until the
	// returned stop is called.
	start := func() (stop func()) {
		in, err := ingest.New(ctx, topics(ingest.Config{Brokers: []string{addr}, PayloadDir: filepath.Join(dir, "payloads"), BatchSize: 100, BatchAge: 2 * time.Millisecond}, tc.ChangesTopic[len(ingest.TopicChanges):]),
			ingest.Deps{Log: l, Catalog: cat, Keys: ingesttest.DemoKeys(t), Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		pj := &ingest.Projector{Log: l, Payloads: in.Payloads(), Store: st, Catalog: cat, LedgerSecret: []byte("ledger secret for tests"),
			BatchSize: 37, Poll: 5 * time.Millisecond, Logger: logger}
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		ingesttest.Go(t, rctx, &wg, "ingest", in.Run)
		ingesttest.Go(t, rctx, &wg, "projector", pj.Run)
		return func() { cancel(); wg.Wait() }
	}
	stop := start()
	if _, err := ingest.Partitions(ctx, []string{addr}, tc.ReceiptsTopic); err != nil {
		t.Fatal(err)
	}

	// Every receipt, from the start of the topic.
	var (
		mu       sync.Mutex
		leafOf   = map[[2]any]uint64{}
		receipts atomic.Int64
	)
	rctx, stopReaders := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer func() { stopReaders(); readers.Wait() }()
	all := ingesttest.WatchReceipts(t, rctx, addr, tc.ReceiptsTopic, nil, 1024)
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			var rc *schema.Receipt
			select {
			case rc = <-all:
			case <-rctx.Done():
				return
			}
			receipts.Add(1)
			if rc.Status != schema.StatusAccepted && rc.Status != schema.StatusDuplicate {
				t.Errorf("unexpected receipt %+v", rc)
				continue
			}
			k := [2]any{rc.Department, rc.Seq}
			mu.Lock()
			if prev, ok := leafOf[k]; ok && prev != rc.Leaf {
				t.Errorf("%s seq %d: receipts with leaves %d and %d", rc.Department, rc.Seq, prev, rc.Leaf)
			}
			leafOf[k] = rc.Leaf
			mu.Unlock()
		}
	}()

	depts := []string{"tax", "civil-affairs"}
	clients := map[string]*adapters.Client{}
	var runs sync.WaitGroup
	cctx, stopClients := context.WithCancel(ctx)
	defer func() { stopClients(); runs.Wait() }()
	for _, d := range depts {
		c, err := adapters.Open(ctx, adapters.Config{Department: d, Key: schema.DemoKey(d), RecordSecret: schema.DemoSecret(d), Catalog: cat,
			LogVerifier: l.Verifier(), Brokers: []string{addr}, ChangesTopic: tc.ChangesTopic, ReceiptsTopic: tc.ReceiptsTopic, OutboxPath: filepath.Join(dir, d+".outbox"),
			ResendAfter: 2 * time.Second, MaxResendAfter: 4 * time.Second,
			OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", d, r) }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[d] = c
		runs.Add(1)
		go func() { defer runs.Done(); c.Run(cctx) }()
	}
	publish := func(from, to int) {
		t.Helper()
		for _, d := range depts {
			dep, _ := cat.Department(d)
			rt := &dep.Types[0]
			for i := from; i < to; i++ {
				if _, err := clients[d].Publish(ctx, rt.Name, schema.OpUpsert, values(t, rt, i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ingesttest.WaitDelivered(t, ctx, clients)
	}
	offsets := func() map[string]int64 {
		var s struct {
			Offsets map[string]int64 `json:"offsets"`
		}
		if err := json.Unmarshal(l.State(), &s); err != nil {
			t.Fatal(err)
		}
		return s.Offsets
	}
	projected := func(what string) {
		t.Helper()
		waitFor(t, ctx, what, func() bool {
			wm, err := st.Watermark(ctx)
			return err == nil && wm.Size == l.Size()
		})
	}

	publish(0, 150)
	// A delete of a record the ledger never saw: logged (the department
	// signed it), and projected as a tombstone rather than halting.
	taxRT, _ := cat.RecordType("tax", "tax-credit", 0)
	delSeq, err := clients["tax"].Publish(ctx, taxRT.Name, schema.OpDelete, values(t, taxRT, 99999))
	if err != nil {
		t.Fatal(err)
	}
	publish(150, 160)
	projected("projection of the first run")
	stop()
	size, offs, before := l.Size(), offsets(), receipts.Load()
	if size != 2*160+1 {
		t.Fatalf("log size %d after the first run, want %d", size, 2*160+1)
	}

	stop = start()
	defer func() { stop() }()
	time.Sleep(2 * time.Second) // ample time to reprocess, were it going to
	if n := receipts.Load() - before; n != 0 {
		t.Errorf("%d receipts after a restart without new input: messages were processed again", n)
	}
	if l.Size() != size || !maps.Equal(offsets(), offs) {
		t.Errorf("restart without input changed the log: size %d → %d, offsets %v → %v", size, l.Size(), offs, offsets())
	}
	publish(160, 260)
	if got, want := l.Size(), size+200; got != want {
		t.Errorf("log size %d after the second run, want %d", got, want)
	}
	for k, v := range offsets() {
		if v < offs[k] {
			t.Errorf("offset %s went back from %d to %d", k, offs[k], v)
		}
	}
	projected("projection of the second run")
	e, err := st.EntryBySeq(ctx, "tax", delSeq)
	if err != nil || e.Kind != schema.KindRecordChange {
		t.Fatalf("delete of a never-upserted record projected as %+v, %v", e, err)
	}
	if _, err := st.Current(ctx, "tax", taxRT.Name, []string{taxRef(t, taxRT, 99999)}); err == nil {
		t.Error("the tombstone of a never-upserted record reads as a current record")
	}
	rt := taxRT
	v := values(t, rt, 200)
	rec, err := st.Current(ctx, "tax", rt.Name, []string{v[rt.Key[0]], v[rt.Key[1]]}[:len(rt.Key)])
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.Value(rt.Key[0]); got.Text != v[rt.Key[0]] {
		t.Errorf("projected %s = %q, want %q", rt.Key[0], got.Text, v[rt.Key[0]])
	}
}

// taxRef is the record reference of values(rt, i) as the SDK derives it.
func taxRef(t *testing.T, rt *schema.RecordType, i int) string {
	v := values(t, rt, i)
	key := make([]string, len(rt.Key))
	for j, k := range rt.Key {
		f, _ := rt.Field(k)
		c, err := f.Canonical(v[k])
		if err != nil {
			t.Fatal(err)
		}
		key[j] = c
	}
	return schema.RecordRef(schema.DemoSecret("tax"), rt.Name, key)
}
