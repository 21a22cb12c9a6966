package adapters_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops"
	"github.com/crossledger/crossledger/schema"
)

// ledger is a running ingest over a fresh log, on topics of its own (so a
// shared CROSSLEDGER_TEST_KAFKA broker does not mix tests).
type ledger struct {
	addr                     string
	changes, access, receipt string
	log                      *merkle.Log
}

func startLedger(t testing.TB, ctx context.Context) *ledger {
	addr := os.Getenv("CROSSLEDGER_TEST_KAFKA")
	if addr == "" {
		b, err := ops.StartBroker(ops.BrokerConfig{Listen: "127.0.0.1:0", Partitions: 6}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		addr = b.Addr()
	}
	sfx := fmt.Sprintf(".%s.%d", t.Name(), time.Now().UnixNano())
	cfg := ingest.Config{Brokers: []string{addr}, PayloadDir: filepath.Join(t.TempDir(), "payloads"), BatchAge: 2 * time.Millisecond,
		ChangesTopic: ingest.TopicChanges + sfx, AccessTopic: ingest.TopicAccess + sfx, ReceiptsTopic: ingest.TopicReceipts + sfx, RejectedTopic: ingest.TopicRejected + sfx}
	skey, _, _ := merkle.GenerateKey("adapters.example/crossledger")
	l, err := merkle.Open(ctx, filepath.Join(t.TempDir(), "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := schema.DemoGenesis()
	ring, err := schema.NewKeyRing(g)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ctx, cfg, ingest.Deps{Log: l, Catalog: schema.Demo(), Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := in.Run(rctx); err != nil && rctx.Err() == nil {
			t.Errorf("ingest: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	for _, topic := range []string{cfg.ReceiptsTopic, cfg.ChangesTopic} {
		if _, err := ingest.Partitions(ctx, cfg.Brokers, topic); err != nil {
			t.Fatal(err)
		}
	}
	return &ledger{addr: addr, changes: cfg.ChangesTopic, access: cfg.AccessTopic, receipt: cfg.ReceiptsTopic, log: l}
}

func (lg *ledger) config(t testing.TB, dept, outbox string) adapters.Config {
	return adapters.Config{Department: dept, Key: schema.DemoKey(dept), RecordSecret: schema.DemoSecret(dept), Catalog: schema.Demo(),
		LogVerifier: lg.log.Verifier(), Brokers: []string{lg.addr}, ChangesTopic: lg.changes, ReceiptsTopic: lg.receipt,
		OutboxPath: outbox, ResendAfter: 300 * time.Millisecond, MaxResendAfter: time.Second,
		OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", dept, r) }}
}

// parkedConfig is config with the changes going to a topic nobody reads,
// created here: what is published stays committed in the outbox, sent and
// never answered.
func (lg *ledger) parkedConfig(t testing.TB, ctx context.Context, dept, outbox string) adapters.Config {
	t.Helper()
	parked := lg.config(t, dept, outbox)
	parked.ChangesTopic = lg.changes + ".parked"
	if err := ingest.EnsureTopics(ctx, parked.Brokers, 1, 1, parked.ChangesTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.Partitions(ctx, parked.Brokers, parked.ChangesTopic); err != nil {
		t.Fatal(err)
	}
	return parked
}

// run runs c until the test ends.
func run(t testing.TB, ctx context.Context, c *adapters.Client) {
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(rctx); err != nil && rctx.Err() == nil {
			t.Errorf("client: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); c.Close() })
}

// upsert returns valid values for the department's first record type.
func upsert(t testing.TB, dept string, i int) (string, map[string]string) {
	dep, _ := schema.Demo().Department(dept)
	rt := &dep.Types[0]
	v := map[string]string{}
	for _, f := range rt.Fields {
		switch f.Type {
		case schema.TypeInt:
			v[f.Name] = fmt.Sprint(2000 + i)
		case schema.TypeDecimal:
			v[f.Name] = fmt.Sprintf("%d.5", i)
		case schema.TypeDate:
			v[f.Name] = "2020-01-02"
		case schema.TypeDateTime:
			v[f.Name] = "2020-01-02T03:04:05Z"
		case schema.TypeBool:
			v[f.Name] = "true"
		case schema.TypeEnum:
			v[f.Name] = f.Values[0]
		case schema.TypeCitizenID:
			first := fmt.Sprintf("11010519500101%03d", i%1000)
			c, err := schema.CitizenIDCheck(first)
			if err != nil {
				t.Fatal(err)
			}
			v[f.Name] = first + string(c)
		case schema.TypeCreditCode:
			first := fmt.Sprintf("91350100%09d", i)
			c, err := schema.CreditCodeCheck(first)
			if err != nil {
				t.Fatal(err)
			}
			v[f.Name] = first + string(c)
		default:
			v[f.Name] = fmt.Sprintf("%s-%d", f.Name, i)
		}
	}
	return rt.Name, v
}

func waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestOutboxSurvivesReopen: messages stored but never delivered (sent to a
// topic ingest does not read) are re-sent from the outbox after a reopen,
// and the reopened outbox never reuses a seq.
func TestOutboxSurvivesReopen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	const dept = "tax"
	outbox := filepath.Join(t.TempDir(), "outbox.db")
	parked := lg.parkedConfig(t, ctx, dept, outbox)
	c, err := adapters.Open(ctx, parked)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		typ, v := upsert(t, dept, i)
		seq, err := c.Publish(ctx, typ, schema.OpUpsert, v)
		if err != nil || seq != uint64(i) {
			t.Fatalf("publish %d: seq %d, %v", i, seq, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c, err = adapters.Open(ctx, lg.config(t, dept, outbox))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Pending(ctx); err != nil || n != 3 {
		t.Fatalf("pending after reopen = %d, %v; want 3", n, err)
	}
	for i := 4; i <= 5; i++ {
		typ, v := upsert(t, dept, i)
		seq, err := c.Publish(ctx, typ, schema.OpUpsert, v)
		if err != nil || seq != uint64(i) {
			t.Fatalf("publish %d after reopen: seq %d, %v (a seq was reused)", i, seq, err)
		}
	}
	run(t, ctx, c)
	waitFor(t, ctx, "all five receipts", func() bool { n, err := c.Pending(ctx); return err == nil && n == 0 })
	leaves := map[uint64]bool{}
	for seq := uint64(1); seq <= 5; seq++ {
		st, err := c.Status(ctx, seq)
		if err != nil || st.State != adapters.StateDone {
			t.Fatalf("status of seq %d = %+v, %v", seq, st, err)
		}
		if seq <= 3 && st.Attempts < 2 {
			t.Errorf("seq %d logged after %d attempt(s); it was never delivered before the reopen", seq, st.Attempts)
		}
		leaves[st.Leaf] = true
		raw, err := lg.log.Entry(ctx, st.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		env, err := schema.DecodeEnvelope(raw)
		if err != nil || env.Department != dept || env.Seq != seq {
			t.Fatalf("leaf %d of seq %d holds %s seq %d (%v)", st.Leaf, seq, env.Department, env.Seq, err)
		}
	}
	if lg.log.Size() != 5 || len(leaves) != 5 {
		t.Fatalf("log size %d, %d distinct leaves; want 5", lg.log.Size(), len(leaves))
	}
}

// TestRejectionSurfaces: a message ingest refuses (here signed with a key
// the ledger does not know) reaches OnRejected and Status with its reason,
// and stops being re-sent.
func TestRejectionSurfaces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lg := startLedger(t, ctx)
	cfg := lg.config(t, "tax", filepath.Join(t.TempDir(), "outbox.db"))
	_, cfg.Key, _ = ed25519.GenerateKey(rand.Reader)
	rejected := make(chan adapters.Rejection, 10)
	cfg.OnRejected = func(r adapters.Rejection) { rejected <- r }
	c, err := adapters.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, c)
	typ, v := upsert(t, "tax", 1)
	seq, err := c.Publish(ctx, typ, schema.OpUpsert, v)
	// ErrQueued: stored in the outbox but the first send failed (a topic
	// just created may not be in the broker's metadata yet); the client
	// re-sends it, which is what this test relies on either way.
	if err != nil && !errors.Is(err, adapters.ErrQueued) {
		t.Fatal(err)
	}
	var r adapters.Rejection
	select {
	case r = <-rejected:
	case <-ctx.Done():
		t.Fatal("no rejection reported")
	}
	if r.Seq != seq || r.Reason != schema.ReasonUnknownKey || r.Detail == "" {
		t.Fatalf("rejection %+v, want seq %d reason %s with detail", r, seq, schema.ReasonUnknownKey)
	}
	st, err := c.Status(ctx, seq)
	if err != nil || st.State != adapters.StateRejected || st.Reason != schema.ReasonUnknownKey || st.Detail != r.Detail {
		t.Fatalf("status %+v, %v; want rejected (%s)", st, err, schema.ReasonUnknownKey)
	}
	if n, err := c.Pending(ctx); err != nil || n != 0 {
		t.Fatalf("pending %d, %v; a rejected message is not pending", n, err)
	}
	time.Sleep(3 * cfg.ResendAfter)
	if st2, _ := c.Status(ctx, seq); st2.Attempts != st.Attempts {
		t.Errorf("rejected message re-sent: attempts %d → %d", st.Attempts, st2.Attempts)
	}
	select {
	case r := <-rejected:
		t.Errorf("second rejection %+v", r)
	default:
	}
	if lg.log.Size() != 0 {
		t.Errorf("log size %d after a rejection", lg.log.Size())
	}
}
