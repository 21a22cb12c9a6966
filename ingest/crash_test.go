package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/sqlite"
)

// The crash test re-executes the test binary as an ingest process; these
// environment variables switch the child on and configure it.
const (
	envChild    = "CROSSLEDGER_CRASH_CHILD" // the data directory
	envChildKey = "CROSSLEDGER_CRASH_SKEY"
	envChildBrk = "CROSSLEDGER_CRASH_BROKER"
	envChildSfx = "CROSSLEDGER_CRASH_TOPICS" // suffix of the topic names
)

// topics returns an ingest config's topics with a suffix, so tests on a
// shared CROSSLEDGER_TEST_KAFKA broker don't read each other's messages.
func topics(cfg ingest.Config, sfx string) ingest.Config { return ingesttest.Topics(cfg, sfx) }

// crashChild is the ingest process of [TestCrashRecovery]; TestMain
// runs it when the parent re-runs the test binary for it.
func crashChild(dir string) {
	ctx := context.Background()
	l, err := merkle.Open(ctx, filepath.Join(dir, "log"), merkle.Options{SignerKey: os.Getenv(envChildKey)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open log:", err)
		os.Exit(3)
	}
	g, err := schema.DemoGenesis()
	if err != nil {
		os.Exit(3)
	}
	ring, err := schema.NewKeyRing(g)
	if err != nil {
		os.Exit(3)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	in, err := ingest.New(ctx, topics(ingest.Config{Brokers: []string{os.Getenv(envChildBrk)}, PayloadDir: filepath.Join(dir, "payloads"),
		BatchSize: 300, BatchAge: 2 * time.Millisecond, FetchMaxWait: 50 * time.Millisecond}, os.Getenv(envChildSfx)),
		ingest.Deps{Log: l, Catalog: schema.Demo(), Keys: ring, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: new ingester:", err)
		os.Exit(3)
	}
	fmt.Println("ready", l.Size())
	err = in.Run(ctx)
	fmt.Fprintln(os.Stderr, "child: run:", err)
	os.Exit(4)
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(t *testing.T, name string, def int) int { return ingesttest.EnvInt(t, name, def) }

// TestCrashRecovery publishes changes through the SDK while SIGKILLing a
// real ingest process at random moments and restarting it over the same
// log and payload directories. At the end every published change is in
// the log exactly once, the checkpoint and the whole log verify, and the
// projection converges to the log.
//
// CROSSLEDGER_CRASH_CHANGES (default 6000) and CROSSLEDGER_CRASH_KILLS
// (default 10) scale it; e.g. 200000 and 20 for a long run.
func TestCrashRecovery(t *testing.T) {
	testenv.Long(t, "kills real processes; slow")
	total := envInt(t, "CROSSLEDGER_CRASH_CHANGES", 6000)
	kills := envInt(t, "CROSSLEDGER_CRASH_KILLS", 10)
	// The deadlines only stop a hung run. Under -race every SQLite
	// statement (modernc's, with checkptr) costs tens of times more, and a
	// 2-core CI machine published 6000 changes in 2m30s, so the publishing
	// phase and the projection phase each get their own generous budget.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute+time.Duration(total)*20*time.Millisecond)
	defer cancel()
	start := time.Now()

	addr := broker(t)
	sfx := fmt.Sprintf(".crash.%d", time.Now().UnixNano())
	tc := topics(ingest.Config{}, sfx)
	if err := ingest.EnsureTopics(ctx, []string{addr}, 6, 1, tc.ChangesTopic, tc.AccessTopic, tc.ReceiptsTopic, tc.RejectedTopic); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	skey, _, err := merkle.GenerateKey("crash.example/crossledger")
	if err != nil {
		t.Fatal(err)
	}
	_, verifier, err := merkle.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}

	// The child process, restartable.
	var (
		childMu sync.Mutex
		child   *exec.Cmd
		said    <-chan string
		waited  <-chan struct{}
		starts  int
	)
	stderr, err := os.Create(filepath.Join(dir, "child.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	childLogs := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }
	startChild := func() {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"="+dir, envChildKey+"="+skey, envChildBrk+"="+addr, envChildSfx+"="+sfx)
		cmd.Stderr = stderr
		lines, exited := ingesttest.StartChild(t, cmd)
		timeout := time.After(60 * time.Second)
		for ready := false; !ready; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("start %d: child exited before it was ready; stderr:\n%s", starts, childLogs())
				}
				ready = len(l) >= 5 && l[:5] == "ready"
			case <-timeout:
				t.Fatal("child not ready within 60s")
			}
		}
		childMu.Lock()
		child, said, waited = cmd, lines, exited
		starts++
		childMu.Unlock()
	}
	killChild := func() {
		childMu.Lock()
		cmd, lines, exited := child, said, waited
		childMu.Unlock()
		ingesttest.KillChild(t, cmd, lines, exited, "the kill", childLogs)
	}
	startChild()
	defer func() {
		if child.ProcessState == nil {
			killChild()
		}
	}()

	// Publishers: one SDK client per department.
	cat := schema.Demo()
	depts := cat.Departments()
	perDept := (total + len(depts) - 1) / len(depts)
	clients := map[string]*adapters.Client{}
	var runs sync.WaitGroup
	rctx, stopClients := context.WithCancel(ctx)
	for _, d := range depts {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: d, Key: schema.DemoKey(d), RecordSecret: schema.DemoSecret(d), Catalog: cat,
			LogVerifier: verifier, Brokers: []string{addr}, ChangesTopic: tc.ChangesTopic, ReceiptsTopic: tc.ReceiptsTopic,
			OutboxPath: filepath.Join(dir, d+".outbox"), ResendAfter: time.Second, MaxResendAfter: 4 * time.Second,
			OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", d, r) },
		})
		if err != nil {
			t.Fatal(err)
		}
		clients[d] = c
		runs.Add(1)
		go func() {
			defer runs.Done()
			if err := c.Run(rctx); err != nil && rctx.Err() == nil {
				t.Errorf("%s client: %v", d, err)
			}
		}()
	}
	defer func() {
		stopClients()
		runs.Wait()
		for _, c := range clients {
			c.Close()
		}
	}()
	var (
		pub       sync.WaitGroup
		published = make(chan struct{})
		progress  atomic.Int64
	)
	for _, d := range depts {
		pub.Go(func() {
			dep, _ := cat.Department(d)
			rt := &dep.Types[0]
			for i := range perDept {
				if _, err := clients[d].Publish(ctx, rt.Name, schema.OpUpsert, values(t, rt, i)); err != nil && !errors.Is(err, adapters.ErrQueued) {
					t.Errorf("%s publish %d: %v", d, i, err)
					return
				}
				progress.Add(1)
			}
		})
	}
	go func() { pub.Wait(); close(published) }()

	// Kill at random moments, while publishing and while catching up.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// Kill k waits for a random point of the k-th stretch of publishing
	// (and at least 100ms of ingest uptime), so kills spread over the run
	// whatever its size; the last ones may land while catching up.
	for k := range kills {
		mark := int64(perDept*len(depts)) * int64(2*k+1+rng.IntN(2)) / int64(2*kills+1)
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		for progress.Load() < mark {
			select {
			case <-published:
				mark = 0
			case <-time.After(10 * time.Millisecond):
			}
		}
		killChild()
		t.Logf("kill %d at %v", k+1, time.Since(start).Round(time.Millisecond))
		startChild()
	}
	<-published
	t.Logf("published %d changes at %v", perDept*len(depts), time.Since(start).Round(time.Millisecond))
	ingesttest.WaitDelivered(t, ctx, clients)
	t.Logf("all receipts verified at %v after %d starts", time.Since(start).Round(time.Millisecond), starts)
	killChild()
	startChild() // the child must still be able to start after the last kill
	killChild()

	// The log: every change exactly once, in seq order per department.
	l, err := merkle.Open(ctx, filepath.Join(dir, "log"), merkle.Options{SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := uint64(perDept * len(depts))
	if got := l.Size(); got != want {
		t.Errorf("log size %d, want %d", got, want)
	}
	leafOf := map[string]map[uint64]uint64{}
	ingesttest.ScanLog(t, ctx, l, func(e ingesttest.Logged) {
		env := e.Env
		if env.Kind != schema.KindRecordChange {
			t.Errorf("leaf %d is a %s", e.Leaf, env.Kind)
		}
		m := leafOf[env.Department]
		if m == nil {
			m = map[uint64]uint64{}
			leafOf[env.Department] = m
		}
		if prev, dup := m[env.Seq]; dup {
			t.Errorf("%s seq %d logged twice: leaves %d and %d", env.Department, env.Seq, prev, e.Leaf)
		}
		if env.Seq != uint64(len(m))+1 {
			t.Errorf("leaf %d: %s seq %d out of order (want %d)", e.Leaf, env.Department, env.Seq, len(m)+1)
		}
		m[env.Seq] = e.Leaf
	})
	for _, d := range depts {
		if got := len(leafOf[d]); got != perDept {
			t.Errorf("%s: %d changes logged, want %d", d, got, perDept)
		}
		// The SDK's receipts name the leaves the log holds.
		for _, seq := range []uint64{1, uint64(perDept / 2), uint64(perDept)} {
			st, err := clients[d].Status(ctx, seq)
			if err != nil || st.State != adapters.StateDone || st.Leaf != leafOf[d][seq] {
				t.Errorf("%s seq %d: status %+v, %v; logged at leaf %d", d, seq, st, err, leafOf[d][seq])
			}
		}
	}
	var stt struct {
		Offsets map[string]int64 `json:"offsets"`
	}
	if err := json.Unmarshal(l.State(), &stt); err != nil || len(stt.Offsets) == 0 {
		t.Errorf("log state %s: %v", l.State(), err)
	}
	c, _, err := merkle.ParseCheckpoint(l.Checkpoint(), verifier)
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	if c.Size != l.Size() {
		t.Errorf("checkpoint size %d, log size %d", c.Size, l.Size())
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatalf("log fsck: %v", err)
	}
	t.Logf("log checked at %v", time.Since(start).Round(time.Millisecond))

	// The projection converges to the log, with the published values.
	ctx, cancelProjection := context.WithTimeout(context.Background(), 2*time.Minute+time.Duration(total)*30*time.Millisecond)
	defer cancelProjection()
	pl, err := ingest.OpenPayloads(filepath.Join(dir, "payloads"), l.Size())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "proj.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pj := &ingest.Projector{Log: l, Payloads: pl, Store: st, Catalog: cat, LedgerSecret: []byte("ledger secret for tests"), BatchSize: 2000}
	projectAll(t, ctx, pj, st, l.Size())
	for _, d := range depts {
		dep, _ := cat.Department(d)
		rt := &dep.Types[0]
		for _, i := range []int{0, rng.IntN(perDept), perDept - 1} {
			v := values(t, rt, i)
			key := make([]string, len(rt.Key))
			for j, k := range rt.Key {
				key[j] = v[k]
			}
			rec, err := st.Current(ctx, d, rt.Name, key)
			if err != nil {
				t.Errorf("%s %s %v: %v", d, rt.Name, key, err)
				continue
			}
			for _, f := range rt.Fields {
				if got, _ := rec.Value(f.Name); got.Text != v[f.Name] {
					t.Errorf("%s %s #%d field %s = %q, want %q", d, rt.Name, i, f.Name, got.Text, v[f.Name])
				}
			}
		}
	}
	t.Logf("%d changes, %d kills: %v", want, kills, time.Since(start).Round(time.Millisecond))
}
