package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
)

// The SDK kill test re-executes the test binary as a department system
// publishing through the SDK; these environment variables switch the
// child on and configure it.
const (
	envSDKChild  = "CROSSLEDGER_SDKKILL_DIR" // outboxes and the published record
	envSDKBroker = "CROSSLEDGER_SDKKILL_BROKER"
	envSDKTopics = "CROSSLEDGER_SDKKILL_TOPICS" // changes,receipts
	envSDKVKey   = "CROSSLEDGER_SDKKILL_VKEY"   // the log's verifier key
	envSDKTotal  = "CROSSLEDGER_SDKKILL_TOTAL"  // changes per department
)

// sdkKillDepts are the departments the child publishes for.
var sdkKillDepts = []string{"tax", "civil-affairs", "electricity"}

// sdkChild is the department process of [TestSDKKilledMidPublish]; TestMain
// runs it when the parent re-runs the test binary for it. It publishes change i =
// 0, 1, … of each department (values from ingesttest.Values) through an
// SDK client with an outbox file, and appends "dept seq i" to the
// published record, fsynced, once Publish has returned seq for it. It
// resumes after the last recorded i. With every change published it waits
// until nothing is pending and exits 0.
func sdkChild(dir string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "sdk child: "+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	total, err := strconv.Atoi(os.Getenv(envSDKTotal))
	if err != nil {
		fail("total: %v", err)
	}
	topics := strings.Split(os.Getenv(envSDKTopics), ",")
	v, err := note.NewVerifier(os.Getenv(envSDKVKey))
	if err != nil {
		fail("verifier: %v", err)
	}
	recs, _, err := readPublished(filepath.Join(dir, "published"))
	if err != nil {
		fail("read record: %v", err)
	}
	rec, err := os.OpenFile(filepath.Join(dir, "published"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail("open record: %v", err)
	}
	var recMu sync.Mutex
	cat := schema.Demo()
	var wg sync.WaitGroup
	clients := runChildClients(ctx, sdkKillDepts, func(d string) adapters.Config {
		return adapters.Config{Department: d, Key: schema.DemoKey(d), RecordSecret: schema.DemoSecret(d), Catalog: cat,
			LogVerifier: v, Brokers: []string{os.Getenv(envSDKBroker)}, ChangesTopic: topics[0], ReceiptsTopic: topics[1],
			OutboxPath: filepath.Join(dir, d+".outbox"), ResendAfter: 2 * time.Second, MaxResendAfter: 10 * time.Second,
			OnRejected: func(r adapters.Rejection) { fail("%s: rejection %+v", d, r) }}
	}, fail)
	fmt.Println("ready")
	for _, d := range sdkKillDepts {
		wg.Go(func() {
			dep, _ := cat.Department(d)
			rt := &dep.Types[0]
			next := 0
			for _, r := range recs {
				if r.dept == d {
					next = max(next, r.i+1)
				}
			}
			for i := next; i < total; i++ {
				seq, err := clients[d].Publish(ctx, rt.Name, schema.OpUpsert, ingesttest.Values(rt, i))
				if err != nil && !errors.Is(err, adapters.ErrQueued) {
					fail("%s publish %d: %v", d, i, err)
				}
				recMu.Lock()
				_, err = fmt.Fprintf(rec, "%s %d %d\n", d, seq, i)
				if err == nil {
					err = rec.Sync()
				}
				recMu.Unlock()
				if err != nil {
					fail("record: %v", err)
				}
			}
		})
	}
	wg.Wait()
	fmt.Println("published")
	for _, d := range sdkKillDepts {
		for {
			n, err := clients[d].Pending(ctx)
			if err != nil {
				fail("pending: %v", err)
			}
			if n == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fmt.Println("done")
	os.Exit(0)
}

// runChildClients opens an SDK client with config(d) for each department
// of a child process and runs it until the process exits; fail ends the
// process.
func runChildClients(ctx context.Context, depts []string, config func(d string) adapters.Config, fail func(format string, args ...any)) map[string]*adapters.Client {
	clients := map[string]*adapters.Client{}
	for _, d := range depts {
		c, err := adapters.Open(ctx, config(d))
		if err != nil {
			fail("open %s: %v", d, err)
		}
		clients[d] = c
		go func() {
			if err := c.Run(ctx); err != nil {
				fail("%s client: %v", d, err)
			}
		}()
	}
	return clients
}

type publishedRec struct {
	dept string
	seq  uint64
	i    int
}

// readPublished reads the child's record of published changes. A torn last
// line (none is expected: a killed process loses no written data) is
// reported, not trusted.
func readPublished(path string) ([]publishedRec, int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var (
		out  []publishedRec
		torn int
	)
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		var r publishedRec
		if n, err := fmt.Sscanf(line, "%s %d %d\n", &r.dept, &r.seq, &r.i); n != 3 || err != nil || !strings.HasSuffix(line, "\n") {
			torn++
			continue
		}
		out = append(out, r)
	}
	return out, torn, nil
}

// TestSDKKilledMidPublish runs a department system (a child process
// publishing through the SDK with outbox files, for three departments)
// against a real ingest and broker, SIGKILLs it at random moments while it
// publishes CROSSLEDGER_SDKKILL_KILLS (default 5) times, restarting it
// each time, and lets a last run finish. Then every change the child
// recorded as published (after Publish returned its seq) is in the log at
// that seq, exactly once, with the published values; each department's
// seqs in the log are dense from 1 (none lost, none twice, none skipped —
// including those Publish committed just before a kill, before the child
// could record them); and the outboxes hold nothing pending, every seq
// retired at the leaf the log holds it at.
//
// CROSSLEDGER_SDKKILL_CHANGES (default 600) is the changes per department.
func TestSDKKilledMidPublish(t *testing.T) {
	testenv.Long(t, "kills real processes")
	perDept := ingesttest.EnvInt(t, "CROSSLEDGER_SDKKILL_CHANGES", 600)
	kills := ingesttest.EnvInt(t, "CROSSLEDGER_SDKKILL_KILLS", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(perDept)*100*time.Millisecond)
	defer cancel()
	start := time.Now()
	s := ingesttest.Start(t, ctx, ingesttest.Options{})
	dir := t.TempDir()
	recPath := filepath.Join(dir, "published")
	stderr, err := os.Create(filepath.Join(dir, "child.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	childLogs := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }

	// run starts the child and returns it with a channel that gets its
	// stdout lines and is closed when it exits.
	run := func() (*exec.Cmd, <-chan string, <-chan struct{}) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envSDKChild+"="+dir, envSDKBroker+"="+s.Addr,
			envSDKTopics+"="+s.Config.ChangesTopic+","+s.Config.ReceiptsTopic, envSDKVKey+"="+s.VKey,
			envSDKTotal+"="+strconv.Itoa(perDept))
		cmd.Stderr = stderr
		lines, exited := ingesttest.StartChild(t, cmd)
		return cmd, lines, exited
	}
	recorded := func() int {
		recs, _, err := readPublished(recPath)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	target := perDept * len(sdkKillDepts)
	for k := range kills {
		cmd, lines, exited := run()
		// Kill k lands at a random point of the k-th stretch of the run,
		// once the child has published something since it started.
		before := recorded()
		mark := before + 1 + rng.IntN(max(1, (target-before)/(kills-k+1)))
		for recorded() < mark {
			select {
			case <-exited:
				t.Fatalf("child exited (%v) before kill %d; stderr:\n%s", cmd.ProcessState, k+1, childLogs())
			case <-time.After(time.Duration(5+rng.IntN(20)) * time.Millisecond):
			}
		}
		ingesttest.KillChild(t, cmd, lines, exited, fmt.Sprintf("kill %d", k+1), childLogs)
		t.Logf("kill %d at %v, %d changes recorded", k+1, time.Since(start).Round(time.Millisecond), recorded())
	}
	// The last, clean run: publish the rest and wait for every receipt.
	cmd, lines, exited := run()
	var said []string
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			said = append(said, l)
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump on stderr
			<-exited
			t.Fatalf("final run not done: %v; said %q; stderr:\n%s", ctx.Err(), said, tail(childLogs(), 20000))
		}
	}
	<-exited
	if !cmd.ProcessState.Success() || len(said) == 0 || said[len(said)-1] != "done" {
		t.Fatalf("final run: %v, said %q; stderr:\n%s", cmd.ProcessState, said, childLogs())
	}
	t.Logf("final run done at %v", time.Since(start).Round(time.Millisecond))

	recs, torn, err := readPublished(recPath)
	if err != nil {
		t.Fatal(err)
	}
	if torn > 0 {
		t.Errorf("%d torn lines in the published record", torn)
	}
	// What the child recorded: every change index at least once (it
	// resumes after the last recorded one), every seq once.
	recBySeq := map[string]map[uint64]int{}
	seen := map[string]map[int]bool{}
	for _, r := range recs {
		if recBySeq[r.dept] == nil {
			recBySeq[r.dept], seen[r.dept] = map[uint64]int{}, map[int]bool{}
		}
		if prev, dup := recBySeq[r.dept][r.seq]; dup {
			t.Errorf("%s seq %d returned by Publish twice (changes %d and %d)", r.dept, r.seq, prev, r.i)
		}
		recBySeq[r.dept][r.seq] = r.i
		seen[r.dept][r.i] = true
	}

	// The log: every department's seqs dense from 1, each once, and every
	// recorded change at its seq with the values published.
	idx := ingesttest.SeqIndex(t, ctx, s.Log)
	var logged int
	for _, d := range sdkKillDepts {
		if len(seen[d]) != perDept {
			t.Errorf("%s: %d distinct changes recorded, want %d", d, len(seen[d]), perDept)
		}
		m := idx[d]
		logged += len(m)
		for seq := uint64(1); seq <= uint64(len(m)); seq++ {
			if _, ok := m[seq]; !ok {
				t.Errorf("%s: seq %d missing from the log (it holds %d seqs)", d, seq, len(m))
			}
		}
		if extra := len(m) - len(recBySeq[d]); extra < 0 || extra > kills {
			t.Errorf("%s: %d seqs logged, %d recorded: at most one unrecorded per kill", d, len(m), len(recBySeq[d]))
		}
		dep, _ := s.Catalog.Department(d)
		rt := &dep.Types[0]
		for seq, i := range recBySeq[d] {
			leaf, ok := m[seq]
			if !ok {
				t.Errorf("%s seq %d (change %d) recorded as published but not in the log", d, seq, i)
				continue
			}
			checkLoggedValues(t, ctx, s, leaf, d, rt, ingesttest.Values(rt, i))
		}
	}
	if got := s.Log.Size(); got != uint64(logged) {
		t.Errorf("log size %d, %d entries of the child's departments", got, logged)
	}

	// The outboxes: nothing pending, every logged seq retired at its leaf.
	for _, d := range sdkKillDepts {
		cfg := s.ClientConfig(t, d, dir)
		c, err := adapters.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.Pending(ctx); err != nil || n != 0 {
			t.Errorf("%s: %d pending in the outbox (%v)", d, n, err)
		}
		for seq, leaf := range idx[d] {
			st, err := c.Status(ctx, seq)
			if err != nil || st.State != adapters.StateDone || st.Leaf != leaf {
				t.Errorf("%s seq %d: outbox status %+v, %v; logged at leaf %d", d, seq, st, err, leaf)
			}
		}
		if st, err := c.Status(ctx, uint64(len(idx[d])+1)); err == nil {
			t.Errorf("%s: outbox holds seq %d beyond the log: %+v", d, len(idx[d])+1, st)
		}
		c.Close()
	}
	t.Logf("%d kills, %d changes recorded, %d logged: %v", kills, len(recs), logged, time.Since(start).Round(time.Millisecond))
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// checkLoggedValues checks that leaf holds an upsert of dept's record with
// values want: the record reference and the disclosed values.
func checkLoggedValues(t *testing.T, ctx context.Context, s *ingesttest.Stack, leaf uint64, dept string, rt *schema.RecordType, want map[string]string) {
	t.Helper()
	raw, err := s.Log.Entry(ctx, leaf)
	if err != nil {
		t.Fatal(err)
	}
	env, err := schema.DecodeEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]string, len(rt.Key))
	for j, k := range rt.Key {
		f, _ := rt.Field(k)
		if key[j], err = f.Canonical(want[k]); err != nil {
			t.Fatal(err)
		}
	}
	if env.Change == nil || env.Change.Record != schema.RecordRef(schema.DemoSecret(dept), rt.Name, key) {
		t.Errorf("leaf %d (%s seq %d) is not the recorded change of %v", leaf, dept, env.Seq, key)
		return
	}
	enc, err := s.Payloads.Get(leaf)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := schema.CheckEncodedDisclosures(env.Change, enc)
	if err != nil {
		t.Fatalf("leaf %d: %v", leaf, err)
	}
	got, err := schema.Values(rt, ds)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := rt.CanonicalValues(want)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range canon {
		if got[k] != v {
			t.Errorf("leaf %d (%s seq %d) field %s = %q, published %q", leaf, dept, env.Seq, k, got[k], v)
		}
	}
}
