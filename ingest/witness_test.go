package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"
)

// quorumWitness is a department witness on 127.0.0.1 that can go down
// (503) and come back as a new witness.Server on the same state
// directory: a restart.
type quorumWitness struct {
	name, skey, vkey, dir string
	logs                  []witness.LogConfig
	h                     atomic.Pointer[witness.Server]
	srv                   *httptest.Server
}

func newQuorumWitness(t *testing.T, name string, logs []witness.LogConfig) *quorumWitness {
	t.Helper()
	skey, vkey, err := witness.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	w := &quorumWitness{name: name, skey: skey, vkey: vkey, dir: t.TempDir(), logs: logs}
	w.srv = httptest.NewServer(w) // httptest listens on 127.0.0.1
	t.Cleanup(w.srv.Close)
	w.start(t)
	return w
}

func (w *quorumWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s := w.h.Load()
	if s == nil {
		http.Error(rw, "down", http.StatusServiceUnavailable)
		return
	}
	s.ServeHTTP(rw, r)
}

// start (re)starts the witness on its state directory.
func (w *quorumWitness) start(t *testing.T) {
	t.Helper()
	s, err := witness.NewSigner(w.skey)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := witness.NewServer(s, w.logs, w.dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.h.Store(ws)
}

func (w *quorumWitness) stop() { w.h.Store(nil) }

// TestWitnessQuorum runs a node whose log publishes only checkpoints 2
// of 3 department witnesses cosigned, fed by the SDK clients of every
// demo department over the real broker, in phases:
//
//  1. all witnesses up: every change gets a receipt meeting the policy;
//  2. W1 down: still every receipt, the checkpoint cosigned by W2 and W3;
//  3. W2 down too: the log commits some of the new changes but publishes
//     nothing new, no receipt comes, ingest pauses (Paused, and
//     crossledger_ingest_paused{reason="witnesses"} = 1) before it has
//     committed more than max_unwitnessed plus a batch;
//  4. W2 restarted on its state: every change gets its receipt, ingest
//     resumes, and more changes go through with W1 still down.
//
// Then every published change is in the log exactly once (dense seqs
// per department), retired in its outbox at its leaf, and projected.
func TestWitnessQuorum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	lap := func(what string) { t.Logf("%s at %v", what, time.Since(start).Round(time.Millisecond)) }
	wait := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }

	const origin = "witness-quorum.example/crossledger"
	skey, vkey, err := merkle.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	logs := []witness.LogConfig{{Origin: origin, VKeys: []string{vkey}}}
	var ws []*quorumWitness
	var pol strings.Builder
	for i := range 3 {
		w := newQuorumWitness(t, fmt.Sprintf("w%d.example/witness", i+1), logs)
		ws = append(ws, w)
		fmt.Fprintf(&pol, "witness W%d %s %s\n", i+1, w.vkey, w.srv.URL)
	}
	pol.WriteString("group g 2 W1 W2 W3\nquorum g\n")
	policy, err := witness.ParsePolicy([]byte(pol.String()))
	if err != nil {
		t.Fatal(err)
	}

	const maxUnwitnessed, batchSize = 50, 20
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	icfg := ingesttest.Topics(ingest.Config{BatchSize: batchSize, BatchAge: 5 * time.Millisecond,
		FetchMaxWait: 50 * time.Millisecond, MaxUnwitnessed: maxUnwitnessed}, ingesttest.Suffix("witness"))
	var st store.Store
	l, err := node.OpenLocal(ctx, node.LocalConfig{
		Dir: dir, LogKey: skey, LedgerSecret: ingesttest.LedgerSecret, Brokers: []string{testenv.Kafka(t)},
		Ingest: icfg, Witnesses: policy,
		OpenStore: func(ctx context.Context) (store.Store, error) {
			s, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "projection.db")})
			st = s
			return s, err
		},
		Logger: ingesttest.Logger(slog.LevelError), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	failed, stopNode := l.Start(ctx, 0)
	// Cleanups run last first: the clients (registered below) stop
	// before the node.
	t.Cleanup(func() {
		stopNode()
		select {
		case err := <-failed:
			t.Errorf("node: %v", err)
		default:
		}
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	lg := l.Log

	cdir := t.TempDir()
	cat := schema.Demo()
	clients := map[string]*adapters.Client{}
	for _, d := range cat.Departments() {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: d, Key: schema.DemoKey(d), RecordSecret: schema.DemoSecret(d), Catalog: cat,
			LogVerifier: lg.Verifier(), WitnessPolicy: policy,
			Brokers: l.Brokers, ChangesTopic: l.Ingest.ChangesTopic, ReceiptsTopic: l.Ingest.ReceiptsTopic,
			OutboxPath: filepath.Join(cdir, d+".outbox"), ResendAfter: 3 * time.Second, MaxResendAfter: 10 * time.Second,
			OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", d, r) },
		})
		if err != nil {
			t.Fatal(err)
		}
		clients[d] = c
		ingesttest.RunClient(t, ctx, c)
	}
	pending := func() int {
		n := 0
		for d, c := range clients {
			p, err := c.Pending(ctx)
			if err != nil {
				t.Fatalf("%s: Pending: %v", d, err)
			}
			n += p
		}
		return n
	}
	delivered := func(what string, d time.Duration) {
		t.Helper()
		wctx, wcancel := wait(d)
		defer wcancel()
		ingesttest.WaitFor(t, wctx, what, func() bool { return pending() == 0 })
	}
	paused := func() float64 {
		return metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseWitnesses)
	}
	unwitnessed := func() float64 { return metricValue(t, reg, "crossledger_ingest_unwitnessed_entries") }
	cosigners := func(what string) []string {
		t.Helper()
		v, err := policy.Check(lg.Checkpoint(), lg.Verifier())
		if err != nil {
			t.Fatalf("%s: published checkpoint: %v", what, err)
		}
		if v.Checkpoint.Size != lg.PublishedSize() {
			t.Fatalf("%s: published checkpoint of size %d, PublishedSize %d", what, v.Checkpoint.Size, lg.PublishedSize())
		}
		return v.Witnesses
	}

	changes := ingesttest.DemoChanges(480, 13)
	up, oneDown, twoDown, after := changes[:120], changes[120:240], changes[240:420], changes[420:]

	// 1. All three up.
	pub := ingesttest.Publish(t, ctx, clients, up, nil)
	delivered("receipts with all witnesses up", 20*time.Second)
	if got := cosigners("all up"); len(got) < 2 {
		t.Fatalf("all up: cosigned by %v", got)
	}
	lap(fmt.Sprintf("%d changes receipted with 3 witnesses up", len(up)))

	// 2. W1 down: the quorum holds.
	ws[0].stop()
	pub.Add(ingesttest.Publish(t, ctx, clients, oneDown, nil))
	delivered("receipts with W1 down", 20*time.Second)
	if got, want := lg.PublishedSize(), uint64(len(up)+len(oneDown)); got != want || lg.Size() != want {
		t.Fatalf("W1 down: published %d, committed %d, want both %d", got, lg.Size(), want)
	}
	if got := cosigners("W1 down"); strings.Join(got, ",") != "W2,W3" {
		t.Fatalf("W1 down: checkpoint cosigned by %v, want W2 and W3", got)
	}
	if p := paused(); p != 0 {
		t.Fatalf("W1 down: paused{witnesses} = %v with the quorum met", p)
	}
	lap(fmt.Sprintf("%d changes receipted with W1 down", len(oneDown)))

	// 3. W2 down too: below quorum.
	ws[1].stop()
	published := lg.PublishedSize()
	pub.Add(ingesttest.Publish(t, ctx, clients, twoDown, nil))
	pctx, pcancel := wait(15 * time.Second)
	ingesttest.WaitFor(t, pctx, "ingest to pause for the witnesses", func() bool {
		p, _ := l.Ingester.Paused()
		return p && paused() == 1
	})
	pcancel()
	lap("ingest paused with W1 and W2 down")
	time.Sleep(2 * time.Second) // a receipt, or an append past the pause, would come by now
	size := lg.Size()
	if size <= published {
		t.Errorf("below quorum: committed size %d did not grow past the published %d", size, published)
	}
	if size-published > maxUnwitnessed+batchSize {
		t.Errorf("below quorum: %d entries committed past the published %d, want at most max_unwitnessed %d + a batch %d",
			size-published, published, maxUnwitnessed, batchSize)
	}
	if got := lg.PublishedSize(); got != published {
		t.Errorf("below quorum: published size moved from %d to %d", published, got)
	}
	if got := cosigners("W1, W2 down"); strings.Join(got, ",") != "W2,W3" {
		t.Errorf("below quorum: the published checkpoint changed, cosigned by %v", got)
	}
	if n := pending(); n != len(twoDown) {
		t.Errorf("below quorum: %d changes await their receipt, want all %d published since W2 went down", n, len(twoDown))
	}
	if p, why := l.Ingester.Paused(); !p || !strings.Contains(why, "witnesses") {
		t.Errorf("below quorum: Paused() = %v, %q; want paused for the witnesses", p, why)
	}
	if p := paused(); p != 1 {
		t.Errorf("below quorum: crossledger_ingest_paused{reason=witnesses} = %v, want 1", p)
	}
	if u := unwitnessed(); u != float64(size-published) {
		t.Errorf("below quorum: crossledger_ingest_unwitnessed_entries = %v, want %d", u, size-published)
	}
	if pj := l.Projector.ProjectedSize(); pj > published {
		t.Errorf("below quorum: projected %d entries, only %d published", pj, published)
	}
	if ps := l.Publisher.Status(); ps.OK || !strings.Contains(ps.Reason, "quorum") {
		t.Errorf("below quorum: publisher status %+v", ps)
	}
	lap(fmt.Sprintf("log at %d, published %d, %d receipts waiting", size, published, len(twoDown)))

	// 4. W2 comes back (a new server on its state): everything catches up.
	ws[1].start(t)
	delivered("every receipt after W2 came back", 30*time.Second)
	lap("every change published below quorum receipted after W2 restarted")
	rctx, rcancel := wait(10 * time.Second)
	ingesttest.WaitFor(t, rctx, "ingest to resume", func() bool {
		p, _ := l.Ingester.Paused()
		return !p && paused() == 0
	})
	rcancel()
	pub.Add(ingesttest.Publish(t, ctx, clients, after, nil))
	delivered("receipts after the recovery", 20*time.Second)
	total := uint64(len(changes))
	if got := lg.PublishedSize(); got != total || lg.Size() != total {
		t.Errorf("after the recovery: published %d, committed %d, want both %d", got, lg.Size(), total)
	}
	if got := cosigners("W2 back"); strings.Join(got, ",") != "W2,W3" {
		t.Errorf("after the recovery: checkpoint cosigned by %v, want W2 and W3", got)
	}
	if p, why := l.Ingester.Paused(); p || paused() != 0 {
		t.Errorf("after the recovery: Paused() = %v, %q; paused{witnesses} = %v", p, why, paused())
	}
	// crossledger_ingest_unwitnessed_entries is back at 0 too, also
	// while ingest is idle after its last batch.
	for deadline := time.Now().Add(2 * time.Second); unwitnessed() != 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if u := unwitnessed(); u != 0 {
		t.Errorf("crossledger_ingest_unwitnessed_entries = %v with published %d = committed %d", u, lg.PublishedSize(), lg.Size())
	}
	lap(fmt.Sprintf("%d more changes receipted after the recovery", len(after)))

	// Nothing lost, nothing duplicated: in the log, in the outboxes, in
	// the projection.
	idx := ingesttest.SeqIndex(t, ctx, lg)
	ingesttest.CheckLog(t, pub, lg.Size(), idx)
	checkStatuses(t, ctx, clients, pub, idx)
	jctx, jcancel := wait(15 * time.Second)
	ingesttest.WaitFor(t, jctx, "the projection to reach the log", func() bool {
		wm, err := st.Watermark(ctx)
		return err == nil && wm.Size == total
	})
	jcancel()
	bad := 0
	for d, seqs := range pub.Seqs {
		for _, seq := range seqs {
			ref, err := st.EntryBySeq(ctx, d, seq)
			if err != nil || ref.Leaf != idx[d][seq] {
				if bad++; bad <= 10 {
					t.Errorf("%s seq %d: projected %+v, %v; logged at leaf %d", d, seq, ref, err, idx[d][seq])
				}
			}
		}
	}
	n := ingesttest.CheckCurrent(t, ctx, st, cat, ingesttest.CurrentState(t, cat, pub.Changes))
	lap(fmt.Sprintf("%d entries logged once each, %d current records projected", total, n))
}
