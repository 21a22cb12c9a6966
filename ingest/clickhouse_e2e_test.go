package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	ktopics "github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/clickhouse"
)

// clickHouseStore opens a projection store on the ClickHouse server at
// addr, on databases of its own that are dropped when the test ends (if
// drop: a server of the test's own goes with its data).
func clickHouseStore(t *testing.T, ctx context.Context, addr string, drop bool) (*clickhouse.Store, clickhouse.Config) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	cfg := clickhouse.Config{Server: clickhouse.Server{Addr: []string{addr}, DialTimeout: 2 * time.Second}, Database: "ingest_e2e_" + hex.EncodeToString(b)}
	st, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if !drop {
			return
		}
		// A server busy merging a large run can take a while to drop;
		// leftovers waste space but prove nothing wrong.
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := clickhouse.DropDatabases(dctx, cfg.Server, cfg.Database); err != nil {
			t.Logf("couldn't drop the test databases %s*: %v", cfg.Database, err)
		}
	})
	return st, cfg
}

// projectionRows counts, bypassing the store's read path, the rows of the
// projection after deduplication (FINAL): entries in the ledger database,
// and record versions per department. A leaf stored twice with different
// content would count twice; the same leaf re-inserted by a retry
// collapses, as the store's idempotency contract says.
func projectionRows(t *testing.T, ctx context.Context, cfg clickhouse.Config, depts []string) (entries uint64, versions map[string]uint64) {
	t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: cfg.Server.Addr, Auth: ch.Auth{Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) uint64 {
		var n, distinct uint64
		if err := conn.QueryRow(ctx, q).Scan(&n, &distinct); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != distinct {
			t.Errorf("%s: %d rows, %d distinct leaves", q, n, distinct)
		}
		return n
	}
	entries = count("SELECT count(), uniqExact(leaf) FROM `" + cfg.Database + "`.entries FINAL")
	versions = map[string]uint64{}
	for _, d := range depts {
		versions[d] = count("SELECT count(), uniqExact(leaf) FROM `" + cfg.Database + "_" + d + "`.versions FINAL")
	}
	return entries, versions
}

// checkProjection waits for the projection to reach the log, then compares
// it with what was published: row counts per department (no loss, no
// duplicates), per-department watermarks, and every current record's
// values against the last values published for its key.
func checkProjection(t *testing.T, ctx context.Context, st store.Store, cfg clickhouse.Config, log *merkle.Log, cat *schema.Catalog, pub *ingesttest.Published) {
	t.Helper()
	size := log.Size()
	ingesttest.WaitFor(t, ctx, "the projection to reach the log", func() bool {
		wm, err := st.Watermark(ctx)
		return err == nil && wm.Size == size
	})
	wm, err := st.Watermark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var depts []string
	for d, seqs := range pub.Seqs {
		depts = append(depts, d)
		if m := wm.Departments[d]; m.Seq != uint64(len(seqs)) {
			t.Errorf("%s: projected up to seq %d, published %d", d, m.Seq, len(seqs))
		}
	}
	entries, versions := projectionRows(t, ctx, cfg, depts)
	if entries != size {
		t.Errorf("projection has %d entries, log %d", entries, size)
	}
	for d, seqs := range pub.Seqs {
		if versions[d] != uint64(len(seqs)) {
			t.Errorf("%s: projection has %d record versions, %d published", d, versions[d], len(seqs))
		}
	}
	checkEntries(t, ctx, cfg, log)
	n := ingesttest.CheckCurrent(t, ctx, st, cat, ingesttest.CurrentState(t, cat, pub.Changes))
	t.Logf("compared %d current records", n)
}

// checkEntries compares the projection's entry index (after
// deduplication) with the log, leaf by leaf: department, seq and digest.
func checkEntries(t *testing.T, ctx context.Context, cfg clickhouse.Config, l *merkle.Log) {
	t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: cfg.Server.Addr, Auth: ch.Auth{Username: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT leaf, department, seq, digest FROM `"+cfg.Database+"`.entries FINAL ORDER BY leaf")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		leaf, seq    uint64
		dept, digest string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.leaf, &r.dept, &r.seq, &r.digest); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	bad := 0
	ingesttest.ScanLog(t, ctx, l, func(e ingesttest.Logged) {
		var r row
		if e.Leaf < uint64(len(got)) {
			r = got[e.Leaf]
		}
		if r.leaf != e.Leaf || r.dept != e.Env.Department || r.seq != e.Env.Seq || r.digest != schema.EnvelopeDigest(e.Raw) {
			if bad++; bad <= 10 {
				t.Errorf("leaf %d (%s seq %d): projected as %+v", e.Leaf, e.Env.Department, e.Env.Seq, r)
			}
		}
	})
	if uint64(len(got)) != l.Size() {
		t.Errorf("projection indexes %d entries, log holds %d", len(got), l.Size())
	}
}

// checkStatuses checks that every published seq is retired in its
// department's outbox as done, at the leaf the log holds it at.
func checkStatuses(t *testing.T, ctx context.Context, clients map[string]*adapters.Client, pub *ingesttest.Published, idx map[string]map[uint64]uint64) {
	t.Helper()
	bad := 0
	for d, seqs := range pub.Seqs {
		for _, seq := range seqs {
			st, err := clients[d].Status(ctx, seq)
			if err != nil || st.State != adapters.StateDone || st.Leaf != idx[d][seq] {
				if bad++; bad <= 10 {
					t.Errorf("%s seq %d: outbox status %+v, %v; logged at leaf %d", d, seq, st, err, idx[d][seq])
				}
			}
		}
	}
	if bad > 10 {
		t.Errorf("… %d statuses wrong in all", bad)
	}
}

// TestClickHouseEndToEnd publishes CROSSLEDGER_CH_E2E_CHANGES (default
// 100000) changes of the six demo departments through the SDK, over a real
// broker, into ingest, the log and a projector writing to the real
// ClickHouse server of CROSSLEDGER_TEST_CLICKHOUSE. Every change must be
// logged exactly once, retired in its outbox after a verified receipt, and
// projected, the current records holding the last published values. Then
// every message of the changes topic is produced again: the log must not
// grow, and each redelivery must get a duplicate receipt naming the
// original leaf, with a proof that verifies.
func TestClickHouseEndToEnd(t *testing.T) {
	testenv.Long(t, "large end-to-end run")
	addr := testenv.ClickHouse(t)
	total := ingesttest.EnvInt(t, "CROSSLEDGER_CH_E2E_CHANGES", 100000)
	// Generous: a loaded -race run is many times slower than a plain
	// one; a hang is caught by the stall check on receipts below.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(total)*20*time.Millisecond)
	defer cancel()
	start := time.Now()
	lap := func(what string) { t.Logf("%s at %v", what, time.Since(start).Round(time.Millisecond)) }

	st, chCfg := clickHouseStore(t, ctx, addr, true)
	s := ingesttest.Start(t, ctx, ingesttest.Options{
		Config: ingest.Config{BatchSize: 2000, BatchAge: 5 * time.Millisecond, FetchMaxWait: 50 * time.Millisecond},
		Store:  st, ProjectorBatch: 5000, Pushback: true,
	})
	depts := s.Catalog.Departments()
	// Nothing is lost here, so re-sends would only add load: give slow
	// receipts (a loaded -race run) ample time before the first.
	clients := s.Clients(t, ctx, depts, func(c *adapters.Config) { c.ResendAfter, c.MaxResendAfter = 30*time.Second, 2*time.Minute })
	changes := ingesttest.DemoChanges(total, 1)

	pub := ingesttest.Publish(t, ctx, clients, changes, nil)
	lap(fmt.Sprintf("published %d changes", total))
	ingesttest.WaitDelivered(t, ctx, clients)
	lap("every receipt verified by the SDK")

	size := s.Log.Size()
	idx := ingesttest.SeqIndex(t, ctx, s.Log)
	ingesttest.CheckLog(t, pub, size, idx)
	kinds := 0
	ingesttest.ScanLog(t, ctx, s.Log, func(e ingesttest.Logged) {
		if e.Env.Kind == schema.KindRecordChange {
			kinds++
		}
	})
	if kinds != total {
		t.Errorf("%d record.change leaves, want %d", kinds, total)
	}
	checkStatuses(t, ctx, clients, pub, idx)
	lap("log and outboxes checked")
	checkProjection(t, ctx, st, chCfg, s.Log, s.Catalog, pub)
	lap("projection checked")
	if t.Failed() {
		t.FailNow()
	}

	// Redelivery: every message of the changes topic once more (the
	// originals and any re-sends), read back from the broker and produced
	// again by a writer of our own.
	from := ingesttest.EndOffsets(t, ctx, s.Addr, s.Config.ReceiptsTopic)
	receipts := ingesttest.WatchReceipts(t, ctx, s.Addr, s.Config.ReceiptsTopic, from, 10000)
	type sent struct {
		dept string
		seq  uint64
		env  []byte
	}
	var (
		mu     sync.Mutex
		byDig  = map[string]sent{}
		resent atomic.Int64
	)
	w := ktopics.NewWriter([]string{s.Addr}, s.Config.ChangesTopic)
	w.BatchBytes = 512 << 10 // under the broker's largest accepted batch
	defer w.Close()
	var batch []kafka.Message
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			t.Fatalf("re-produce: %v", err)
		}
		resent.Add(int64(len(batch)))
		batch = batch[:0]
	}
	// Collect first, then produce: the receipt check must know every
	// message before its receipt can arrive.
	var msgs []kafka.Message
	ingesttest.EachMessage(t, ctx, s.Addr, s.Config.ChangesTopic, func(m kafka.Message) {
		dm, err := schema.DecodeMessage(m.Value)
		if err != nil {
			t.Fatalf("undecodable message at %d/%d: %v", m.Partition, m.Offset, err)
		}
		env, err := schema.DecodeEnvelope(dm.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		byDig[schema.EnvelopeDigest(dm.Envelope)] = sent{env.Department, env.Seq, dm.Envelope}
		mu.Unlock()
		msgs = append(msgs, kafka.Message{Key: m.Key, Value: m.Value})
	})
	if len(byDig) != total {
		t.Fatalf("changes topic holds %d distinct envelopes (%d messages), want %d", len(byDig), len(msgs), total)
	}
	for _, m := range msgs {
		batch = append(batch, m)
		if len(batch) == 200 {
			flush()
		}
	}
	flush()
	msgs = nil
	lap(fmt.Sprintf("re-produced %d messages", resent.Load()))

	want := int(resent.Load())
	got, dup := 0, map[string]int{}
	const stall = 2 * time.Minute
	timeout := time.NewTimer(stall)
	defer timeout.Stop()
	for got < want {
		select {
		case r := <-receipts:
			got++
			timeout.Reset(stall)
			orig, ok := byDig[r.EnvelopeDigest]
			switch {
			case !ok:
				t.Errorf("receipt for an envelope that was not re-produced: %+v", r)
			case r.Status != schema.StatusDuplicate:
				t.Errorf("%s seq %d: redelivery answered %s (%s), want duplicate", orig.dept, orig.seq, r.Status, r.Reason)
			case r.Department != orig.dept || r.Seq != orig.seq || r.Leaf != idx[orig.dept][orig.seq]:
				t.Errorf("%s seq %d (leaf %d): duplicate receipt names %s seq %d leaf %d", orig.dept, orig.seq, idx[orig.dept][orig.seq], r.Department, r.Seq, r.Leaf)
			default:
				dup[r.EnvelopeDigest]++
				if err := adapters.VerifyReceipt(r, orig.env, s.Verifier); err != nil {
					t.Errorf("%s seq %d: duplicate receipt does not verify: %v", orig.dept, orig.seq, err)
				}
			}
			if t.Failed() && got > 20 {
				t.FailNow()
			}
		case <-timeout.C:
			t.Fatalf("%d of %d redelivery receipts, then none for %v", got, want, stall)
		case <-ctx.Done():
			t.Fatalf("%d of %d redelivery receipts: %v", got, want, ctx.Err())
		}
	}
	if len(dup) != total {
		t.Errorf("duplicate receipts for %d envelopes, want %d", len(dup), total)
	}
	lap("every redelivery got its original receipt")
	if got := s.Log.Size(); got != size {
		t.Errorf("redelivery grew the log from %d to %d", size, got)
	}
	// The projection does not change either.
	entries, _ := projectionRows(t, ctx, chCfg, nil)
	if entries != size {
		t.Errorf("after redelivery the projection has %d entries, log %d", entries, size)
	}
	lap("done")
}
