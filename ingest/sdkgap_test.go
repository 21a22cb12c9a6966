package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/schema"
)

// The backlog test re-executes the test binary as a department system, as
// the SDK kill test does; these environment variables switch the child on
// and configure it.
const (
	envGapDir    = "CROSSLEDGER_SDKGAP_DIR" // outboxes and the gap record
	envGapPhase  = "CROSSLEDGER_SDKGAP_PHASE"
	envGapBroker = "CROSSLEDGER_SDKGAP_BROKER"
	envGapTopics = "CROSSLEDGER_SDKGAP_TOPICS" // changes,receipts
	envGapVKey   = "CROSSLEDGER_SDKGAP_VKEY"
	envGapNew    = "CROSSLEDGER_SDKGAP_NEW" // changes per department after the restart
)

// sdkGapDepts are the departments the backlog child publishes for.
var sdkGapDepts = []string{"tax", "civil-affairs"}

const (
	gapDelivered = 50  // changes per department delivered before the gap
	gapBatch     = 100 // changes per PublishBatch into the gap
	gapBatches   = 3   // the group-commit pipeline's depth: stored, never sent
	gapWorkers   = 8   // concurrent publishers per department after the restart
)

// sdkGapChild is the department process of
// [TestSDKRestartSendsBacklogFirst]; TestMain runs it when the parent
// re-runs the test binary for it. Phase "gap": per department, it
// publishes gapDelivered
// changes and waits for their receipts, then opens the outbox again on a
// broker that accepts connections and never answers, stores gapBatches
// batches of gapBatch changes there (committed, never sent), records their
// seqs in the file "gap", says "gap ready" and waits to be killed. Phase
// "resume": it opens the outboxes on the real broker and publishes
// CROSSLEDGER_SDKGAP_NEW more changes per department from gapWorkers
// goroutines each, as fast as they go; once nothing is pending it says
// "done" and exits 0. Both phases use the default ResendAfter (5s).
func sdkGapChild(dir string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "sdk gap child: "+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	topics := strings.Split(os.Getenv(envGapTopics), ",")
	v, err := note.NewVerifier(os.Getenv(envGapVKey))
	if err != nil {
		fail("verifier: %v", err)
	}
	cat := schema.Demo()
	config := func(d, broker string) adapters.Config {
		return adapters.Config{Department: d, Key: schema.DemoKey(d), RecordSecret: schema.DemoSecret(d), Catalog: cat,
			LogVerifier: v, Brokers: []string{broker}, ChangesTopic: topics[0], ReceiptsTopic: topics[1],
			OutboxPath: filepath.Join(dir, d+".outbox"),
			OnRejected: func(r adapters.Rejection) { fail("%s: rejection %+v", d, r) }}
	}
	change := func(d string, i int) adapters.Change {
		dep, _ := cat.Department(d)
		rt := &dep.Types[0]
		return adapters.Change{RecordType: rt.Name, Op: schema.OpUpsert, Values: ingesttest.Values(rt, i)}
	}
	waitDelivered := func(d string, c *adapters.Client) {
		for {
			n, err := c.Pending(ctx)
			if err != nil {
				fail("%s pending: %v", d, err)
			}
			if n == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	switch phase := os.Getenv(envGapPhase); phase {
	case "gap":
		for _, d := range sdkGapDepts {
			c, err := adapters.Open(ctx, config(d, os.Getenv(envGapBroker)))
			if err != nil {
				fail("open %s: %v", d, err)
			}
			rctx, stop := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- c.Run(rctx) }()
			for i := range gapDelivered {
				ch := change(d, i)
				if _, err := c.Publish(ctx, ch.RecordType, ch.Op, ch.Values); err != nil && !errors.Is(err, adapters.ErrQueued) {
					fail("%s publish %d: %v", d, i, err)
				}
			}
			waitDelivered(d, c)
			stop()
			if err := <-ran; err != nil && !errors.Is(err, context.Canceled) {
				fail("%s client: %v", d, err)
			}
			if err := c.Close(); err != nil {
				fail("close %s: %v", d, err)
			}
		}
		// A broker that takes requests and never answers: the sender's
		// first write hangs, the committer stores the next batches behind
		// it, and none of them reaches Kafka.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail("listen: %v", err)
		}
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, conn)
			}
		}()
		rec, err := os.Create(filepath.Join(dir, "gap"))
		if err != nil {
			fail("gap record: %v", err)
		}
		for _, d := range sdkGapDepts {
			c, err := adapters.Open(ctx, config(d, ln.Addr().String()))
			if err != nil {
				fail("open %s on the silent broker: %v", d, err)
			}
			for k := range gapBatches {
				chs := make([]adapters.Change, gapBatch)
				for j := range chs {
					chs[j] = change(d, gapDelivered+k*gapBatch+j)
				}
				bctx, cancel := context.WithTimeout(ctx, time.Second)
				seqs, err := c.PublishBatch(bctx, chs)
				cancel()
				if !errors.Is(err, adapters.ErrQueued) || len(seqs) != gapBatch {
					fail("%s gap batch %d: %d seqs, %v; want all stored and not sent (ErrQueued)", d, k, len(seqs), err)
				}
				if _, err := fmt.Fprintf(rec, "%s %d %d\n", d, seqs[0], seqs[len(seqs)-1]); err != nil {
					fail("gap record: %v", err)
				}
			}
			// c stays open, its sender stuck in the write: the kill finds
			// it publishing.
		}
		if err := rec.Sync(); err != nil {
			fail("gap record: %v", err)
		}
		fmt.Println("gap ready")
		select {}
	case "resume":
		total, err := strconv.Atoi(os.Getenv(envGapNew))
		if err != nil {
			fail("new changes: %v", err)
		}
		clients := runChildClients(ctx, sdkGapDepts, func(d string) adapters.Config { return config(d, os.Getenv(envGapBroker)) }, fail)
		fmt.Println("ready")
		var wg sync.WaitGroup
		for _, d := range sdkGapDepts {
			var next atomic.Int64
			for range gapWorkers {
				wg.Go(func() {
					for {
						k := int(next.Add(1)) - 1
						if k >= total {
							return
						}
						ch := change(d, gapDelivered+gapBatches*gapBatch+k)
						if _, err := clients[d].Publish(ctx, ch.RecordType, ch.Op, ch.Values); err != nil && !errors.Is(err, adapters.ErrQueued) {
							fail("%s publish %d: %v", d, k, err)
						}
					}
				})
			}
		}
		wg.Wait()
		for d, c := range clients {
			waitDelivered(d, c)
		}
		fmt.Println("done")
		os.Exit(0)
	default:
		fail("unknown phase %q", phase)
	}
}

// TestSDKRestartSendsBacklogFirst kills a department system (a child
// process publishing through the SDK) while its outbox holds changes that
// were committed but never sent — the last three group-commit batches,
// stuck behind a broker that does not answer — and restarts it on the real
// broker, where it publishes new changes as fast as it can. The restarted
// client must send its recovered backlog first: on the changes topic, each
// department's gap comes first, whole and in seq order, before any new
// seq; the first receipts after the restart are for the gap; ingest holds
// few messages (its held gauge stays well below max_pending, none
// dropped); and the log ends dense. The stall — from the restart until
// the gap is filled — is logged, not asserted.
//
// CROSSLEDGER_SDKGAP_CHANGES (default 1500) is the new changes per
// department after the restart: more than max_pending, so that a client
// sending them ahead of the gap overflows ingest's held set.
func TestSDKRestartSendsBacklogFirst(t *testing.T) {
	newPerDept := ingesttest.EnvInt(t, "CROSSLEDGER_SDKGAP_CHANGES", 1500)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The ledger side, with a registry to watch the held gauge.
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	st := ingesttest.Start(t, ctx, ingesttest.Options{Dir: dir, Registerer: reg,
		Config: ingest.Config{BatchAge: 5 * time.Millisecond}})
	addr, cfg, vkey := st.Addr, st.Config, st.VKey
	cfg.SetDefaults() // for MaxPending

	childDir := filepath.Join(dir, "child")
	if err := os.Mkdir(childDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "child.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	childLogs := func() string { b, _ := os.ReadFile(stderr.Name()); return tail(string(b), 20000) }
	run := func(phase string) (*exec.Cmd, <-chan string, <-chan struct{}) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envGapDir+"="+childDir, envGapPhase+"="+phase, envGapBroker+"="+addr,
			envGapTopics+"="+cfg.ChangesTopic+","+cfg.ReceiptsTopic, envGapVKey+"="+vkey, envGapNew+"="+strconv.Itoa(newPerDept))
		cmd.Stderr = stderr
		lines, exited := ingesttest.StartChild(t, cmd)
		return cmd, lines, exited
	}
	// await waits for the child to say want, failing t if it exits or
	// says anything else first.
	await := func(cmd *exec.Cmd, lines <-chan string, want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					<-time.After(100 * time.Millisecond)
					t.Fatalf("child exited (%v) before saying %q; stderr:\n%s", cmd.ProcessState, want, childLogs())
				}
				if l == want {
					return
				}
				if l != "ready" {
					t.Fatalf("child said %q, waiting for %q; stderr:\n%s", l, want, childLogs())
				}
			case <-ctx.Done():
				cmd.Process.Signal(syscall.SIGQUIT)
				t.Fatalf("child did not say %q: %v; stderr:\n%s", want, ctx.Err(), childLogs())
			}
		}
	}

	// Phase 1: a delivered prefix, then the gap, then the kill.
	cmd, lines, exited := run("gap")
	await(cmd, lines, "gap ready")
	gaps := readGaps(t, filepath.Join(childDir, "gap"))
	changesFrom := ingesttest.EndOffsets(t, ctx, addr, cfg.ChangesTopic)
	receiptsFrom := ingesttest.EndOffsets(t, ctx, addr, cfg.ReceiptsTopic)
	ingesttest.KillChild(t, cmd, lines, exited, "the kill", childLogs)
	for _, d := range sdkGapDepts {
		if want := [2]uint64{gapDelivered + 1, gapDelivered + gapBatches*gapBatch}; gaps[d] != want {
			t.Fatalf("%s: gap %v recorded, want %v", d, gaps[d], want)
		}
	}

	// Phase 2: the restart, watched through the held gauge and the
	// receipts topic.
	receipts := ingesttest.WatchReceipts(t, ctx, addr, cfg.ReceiptsTopic, receiptsFrom, 1<<16)
	type answer struct {
		at  time.Duration // since the restart
		seq uint64
		st  string
	}
	var (
		mu      sync.Mutex
		answers = map[string][]answer{}
		peak    float64
	)
	restart := time.Now()
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() { stopWatch(); watchers.Wait() }()
	watchers.Go(func() {
		for {
			select {
			case r := <-receipts:
				mu.Lock()
				answers[r.Department] = append(answers[r.Department], answer{time.Since(restart), r.Seq, string(r.Status)})
				mu.Unlock()
			case <-watchCtx.Done():
				return
			}
		}
	})
	watchers.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if v := gatherValue(t, reg, "crossledger_ingest_held_messages"); v > peak {
					mu.Lock()
					peak = v
					mu.Unlock()
				}
			case <-watchCtx.Done():
				return
			}
		}
	})
	cmd, lines, exited = run("resume")
	await(cmd, lines, "done")
	<-exited
	if !cmd.ProcessState.Success() {
		t.Fatalf("resumed child: %v; stderr:\n%s", cmd.ProcessState, childLogs())
	}
	finished := time.Since(restart)
	total := uint64(gapDelivered + gapBatches*gapBatch + newPerDept)
	ingesttest.WaitFor(t, ctx, "every receipt on the receipts topic", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range sdkGapDepts {
			seen := map[uint64]bool{}
			for _, a := range answers[d] {
				seen[a.seq] = true
			}
			if len(seen) < int(total-gapDelivered) {
				return false
			}
		}
		return true
	})
	stopWatch()
	watchers.Wait()

	// The changes topic since the kill: each department's gap first, in
	// seq order, then the new seqs.
	sent := changesSince(t, ctx, addr, cfg.ChangesTopic, changesFrom)
	for _, d := range sdkGapDepts {
		lo, hi := gaps[d][0], gaps[d][1]
		seqs := sent[d]
		n := int(hi - lo + 1)
		if len(seqs) < n {
			t.Errorf("%s: %d messages on the changes topic since the kill, fewer than the gap of %d", d, len(seqs), n)
			continue
		}
		for i, seq := range seqs[:n] {
			if seq != lo+uint64(i) {
				firstNew := slices.IndexFunc(seqs, func(s uint64) bool { return s > hi })
				t.Errorf("%s: message %d since the kill is seq %d, want %d: the gap %d–%d was not sent first, in order (first new seq at message %d: %v)",
					d, i, seq, lo+uint64(i), lo, hi, firstNew, seqs[:min(len(seqs), 10)])
				break
			}
		}
	}

	// The receipts since the kill: the gap's first, the stall logged.
	for _, d := range sdkGapDepts {
		lo, hi := gaps[d][0], gaps[d][1]
		as := answers[d]
		if len(as) == 0 {
			t.Errorf("%s: no receipt after the restart", d)
			continue
		}
		if as[0].seq < lo || as[0].seq > hi {
			t.Errorf("%s: first receipt after the restart is for seq %d (%s), not for the gap %d–%d", d, as[0].seq, as[0].st, lo, hi)
		}
		answered := map[uint64]bool{}
		var filled, firstNew time.Duration
		for _, a := range as {
			if a.seq > hi && firstNew == 0 {
				firstNew = a.at
				if len(answered) < int(hi-lo+1) {
					t.Errorf("%s: seq %d answered at %v, before the gap was (%d of %d gap seqs answered)", d, a.seq, a.at, len(answered), hi-lo+1)
				}
			}
			if a.seq >= lo && a.seq <= hi && !answered[a.seq] {
				answered[a.seq] = true
				if len(answered) == int(hi-lo+1) {
					filled = a.at
				}
			}
		}
		t.Logf("%s: after the restart, first receipt (seq %d) at %v, gap %d–%d filled at %v (the stall), first new seq answered at %v; all %d new changes answered by %v",
			d, as[0].seq, as[0].at.Round(time.Millisecond), lo, hi, filled.Round(time.Millisecond), firstNew.Round(time.Millisecond), newPerDept, finished.Round(time.Millisecond))
	}

	// Ingest held little and dropped nothing.
	dropped := gatherValue(t, reg, "crossledger_ingest_held_dropped_total")
	t.Logf("ingest's held gauge peaked at %v (max_pending %d per department); %v early messages dropped", peak, cfg.MaxPending, dropped)
	if peak >= float64(cfg.MaxPending)/8 {
		t.Errorf("ingest held up to %v messages behind the gap (max_pending %d): the backlog was not sent first", peak, cfg.MaxPending)
	}
	if dropped != 0 {
		t.Errorf("ingest dropped %v early messages: its held set filled", dropped)
	}

	// The log: every department dense from 1 to the last seq.
	idx := ingesttest.SeqIndex(t, ctx, st.Log)
	for _, d := range sdkGapDepts {
		if got := uint64(len(idx[d])); got != total {
			t.Errorf("%s: %d seqs logged, want %d", d, got, total)
		}
		for seq := uint64(1); seq <= total; seq++ {
			if _, ok := idx[d][seq]; !ok {
				t.Errorf("%s: seq %d missing from the log", d, seq)
				break
			}
		}
	}
}

// readGaps reads the gap child's record: per department, the first and
// last seq it stored and never sent.
func readGaps(t *testing.T, path string) map[string][2]uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var d string
		var lo, hi uint64
		if n, err := fmt.Sscanf(line, "%s %d %d", &d, &lo, &hi); n != 3 || err != nil {
			t.Fatalf("gap record line %q: %v", line, err)
		}
		r, ok := out[d]
		if !ok {
			r = [2]uint64{lo, hi}
		}
		r[0], r[1] = min(r[0], lo), max(r[1], hi)
		out[d] = r
	}
	return out
}

// changesSince returns, per department, the seqs of the messages on topic
// after the offsets from, in the order they were written (a department's
// messages share one partition).
func changesSince(t *testing.T, ctx context.Context, addr, topic string, from map[int]int64) map[string][]uint64 {
	t.Helper()
	out := map[string][]uint64{}
	for p, last := range ingesttest.EndOffsets(t, ctx, addr, topic) {
		if last <= from[p] {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond, MaxBytes: 16 << 20})
		if err := r.SetOffset(from[p]); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			msg, err := schema.DecodeMessage(m.Value)
			if err != nil {
				t.Fatalf("%s/%d@%d: %v", topic, p, m.Offset, err)
			}
			env, err := schema.DecodeEnvelope([]byte(msg.Envelope))
			if err != nil {
				t.Fatalf("%s/%d@%d: %v", topic, p, m.Offset, err)
			}
			out[env.Department] = append(out[env.Department], env.Seq)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// gatherValue is the value of the unlabelled gauge or counter name in reg.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Error(err)
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Errorf("metric %s not registered", name)
	return 0
}
