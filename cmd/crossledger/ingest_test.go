package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/internal/dev"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/sqlite"
)

const envIngestChild = "CROSSLEDGER_TEST_INGEST_CHILD" // the child's --config file

// ingestChild is the `crossledger ingest` process of
// TestIngestCommandStandbyAndMetrics, run by TestMain when that test
// re-runs the test binary with envIngestChild set.
func ingestChild(file string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	return run(ctx, env, []string{"ingest", "--config", file})
}

// ingestProc is a running child `crossledger ingest`.
type ingestProc struct {
	cmd    *exec.Cmd
	addr   string // metrics address
	stderr *syncBuffer
	done   chan error
}

func startIngestProc(t *testing.T, ctx context.Context, config string) *ingestProc {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envIngestChild+"="+config)
	p := &ingestProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`on http://(\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("ingest child %d stderr:\n%s", cmd.Process.Pid, p.stderr.String())
		}
	})
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		t.Fatalf("ingest child exited before serving: %v\n%s", err, p.stderr.String())
	case <-ctx.Done():
		t.Fatal("ingest child never printed its metrics address")
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *ingestProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("ingest child after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ingest child did not stop within 30s of SIGTERM\n%s", p.stderr.String())
	}
}

func (p *ingestProc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample line "name value" (name may
// include labels) on /metrics, or -1.
func (p *ingestProc) metric(t *testing.T, name string) float64 {
	t.Helper()
	code, body := p.get(t, "/metrics")
	if code != http.StatusOK {
		return -1
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func taxValues(t *testing.T, i int) map[string]string {
	code := fmt.Sprintf("91350100%09d", i)
	c, err := schema.CreditCodeCheck(code)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"taxpayer_id": code + string(c), "year": fmt.Sprint(2000 + i), "rating": "B", "arrears": "0.5"}
}

// TestIngestCommandStandbyAndMetrics runs two real `crossledger ingest`
// processes on one log directory against the real broker with a SQLite
// projection: the first serves, the second waits as standby; the SDK's
// changes get verified receipts; /metrics counts them; SIGTERM stops the
// first cleanly and the standby takes over.
func TestIngestCommandStandbyAndMetrics(t *testing.T) {
	broker := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	skey, _, err := merkle.GenerateKey("haidian.example/crossledger")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, verifier, err := merkle.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	sfx := fmt.Sprintf(".cmdingest.%d", time.Now().UnixNano())
	cfg := fmt.Sprintf(`
log:
  dir: log
  key_file: log.key
kafka:
  brokers: %s
  topics: {changes: crossledger.changes%[2]s, access: crossledger.access%[2]s, receipts: crossledger.receipts%[2]s, rejected: crossledger.rejected%[2]s}
  partitions: 2
ingest:
  payload_dir: payloads
  batch_age: 5ms
  min_free_disk: 1MiB
store:
  sqlite: {path: projection.db}
ledger_secret: %s
metrics:
  listen: 127.0.0.1:0
`, broker, sfx, hex.EncodeToString([]byte("ledger secret for the cmd test")))
	cfgFile := filepath.Join(dir, "crossledger.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "ingest", "--config", cfgFile, "--check"); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("--check: exit %d, %q %q", code, out, errOut)
	}

	start := time.Now()
	a := startIngestProc(t, ctx, cfgFile)
	if code, body := a.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("first /healthz: %d %s", code, body)
	}
	waitUntil(t, ctx, "the first instance ready", func() bool { code, _ := a.get(t, "/readyz"); return code == http.StatusOK })
	b := startIngestProc(t, ctx, cfgFile)
	waitUntil(t, ctx, "the second instance to report standby", func() bool {
		code, body := b.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "standby")
	})
	if code, _ := b.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("standby /healthz: %d", code)
	}
	t.Logf("two instances up in %v", time.Since(start).Round(time.Millisecond))

	var wg sync.WaitGroup
	cctx, stopClient := context.WithCancel(ctx)
	defer func() { stopClient(); wg.Wait() }()
	c, err := adapters.Open(ctx, adapters.Config{
		Department: "tax", Key: schema.DemoKey("tax"), RecordSecret: schema.DemoSecret("tax"), Catalog: schema.Demo(),
		LogVerifier: verifier, Brokers: []string{broker}, ChangesTopic: "crossledger.changes" + sfx, ReceiptsTopic: "crossledger.receipts" + sfx,
		OutboxPath: filepath.Join(dir, "tax-outbox.db"), ResendAfter: 2 * time.Second, MaxResendAfter: 4 * time.Second,
		OnRejected: func(r adapters.Rejection) { t.Errorf("unexpected rejection %+v", r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(cctx) }()
	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := c.Publish(ctx, "tax-credit", schema.OpUpsert, taxValues(t, i)); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
		waitUntil(t, ctx, "every receipt verified", func() bool { n, err := c.Pending(ctx); return err == nil && n == 0 })
	}

	publish(0, 3)
	waitUntil(t, ctx, "the first instance's metrics", func() bool {
		return a.metric(t, "crossledger_ingest_accepted_entries_total") == 3 &&
			a.metric(t, "crossledger_ingest_log_size") == 3 &&
			a.metric(t, "crossledger_projector_watermark") == 3 &&
			a.metric(t, "crossledger_projector_lag_entries") == 0
	})
	for _, m := range []string{`crossledger_ingest_paused{reason="disk"}`, `crossledger_ingest_paused{reason="projection-lag"}`, "crossledger_ingest_duplicates_total"} {
		if v := a.metric(t, m); v != 0 {
			t.Errorf("%s = %v, want 0", m, v)
		}
	}
	if v := a.metric(t, `crossledger_ingest_messages_consumed_total{topic="crossledger.changes`+sfx+`"}`); v != 3 {
		t.Errorf("consumed = %v, want 3", v)
	}
	if _, body := a.get(t, "/metrics"); !strings.Contains(body, "go_goroutines") || !strings.Contains(body, `crossledger_ingest_stage_seconds_bucket{stage="append"`) {
		t.Errorf("/metrics lacks the runtime or stage metrics:\n%s", body)
	}

	// SIGTERM: the first exits cleanly and the standby takes over.
	stopAt := time.Now()
	a.stop(t)
	t.Logf("first instance stopped in %v", time.Since(stopAt).Round(time.Millisecond))
	waitUntil(t, ctx, "the standby to take over", func() bool { code, _ := b.get(t, "/readyz"); return code == http.StatusOK })
	t.Logf("standby ready %v after SIGTERM", time.Since(stopAt).Round(time.Millisecond))
	if v := b.metric(t, "crossledger_ingest_log_size"); v != 3 {
		t.Errorf("standby took over at log size %v, want 3", v)
	}
	publish(3, 5)
	waitUntil(t, ctx, "the second instance's metrics", func() bool {
		return b.metric(t, "crossledger_ingest_accepted_entries_total") == 2 &&
			b.metric(t, "crossledger_ingest_log_size") == 5 &&
			b.metric(t, "crossledger_projector_watermark") == 5
	})
	// A standby stopped before it ever got the lock exits cleanly too.
	c3 := startIngestProc(t, ctx, cfgFile)
	waitUntil(t, ctx, "a third instance to report standby", func() bool {
		code, body := c3.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "standby")
	})
	c3.stop(t)
	if !strings.Contains(c3.stderr.String(), "stopped while standby") {
		t.Errorf("third instance did not stop as a standby:\n%s", c3.stderr.String())
	}
	b.stop(t)
	if !strings.Contains(b.stderr.String(), "took over the log") {
		t.Errorf("standby never logged its take-over:\n%s", b.stderr.String())
	}

	// The projection file holds all five; the log is whole.
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "projection.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if wm, err := st.Watermark(ctx); err != nil || wm.Size != 5 {
		t.Fatalf("projection watermark %+v, %v; want 5", wm, err)
	}
	if code, out, errOut := runCLI(t, "log", "verify", "--dir", filepath.Join(dir, "log"), "--key", filepath.Join(dir, "log.key")); code != 0 {
		t.Fatalf("log verify: exit %d %s %s", code, out, errOut)
	}
}

func TestIngestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("log:\n  dir: l\ningest:\n  batch_size: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "ingest", "--config", bad)
	if code != 1 || !strings.Contains(errOut, bad+":4: ") {
		t.Errorf("bad type: exit %d, %q; want exit 1 naming %s:4", code, errOut, bad)
	}
	missing := filepath.Join(dir, "missing.yaml")
	if err := os.WriteFile(missing, []byte("log:\n  dir: l\n  key_file: k\nkafka:\n  brokers: b:9092\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "ingest", "--config", missing, "--check")
	if code != 1 || !strings.Contains(errOut, "ingest.payload_dir: is required") {
		t.Errorf("missing payload_dir: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "ingest", "--config", filepath.Join(dir, "nope.yaml"))
	if code != 1 || !strings.Contains(errOut, "couldn't read config file") {
		t.Errorf("no file: exit %d, %q", code, errOut)
	}
}

// TestDevServesMetrics: `crossledger dev` serves ingest's and the
// projector's metrics beside the tile API.
func TestDevServesMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	env := &cliEnv{stdout: out, stderr: io.Discard, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env, []string{"dev", "--data", t.TempDir(), "--broker", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--rate", "0", "--citizens", "4", "--progress", "0"})
	}()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	var p ingestProc
	waitUntil(t, wctx, "the tile API", func() bool {
		m := regexp.MustCompile(`http://(\S+)/checkpoint`).FindStringSubmatch(out.String())
		if m != nil {
			p.addr = m[1]
		}
		return m != nil
	})
	waitUntil(t, wctx, "entries logged and projected, per /metrics", func() bool {
		n := p.metric(t, "crossledger_ingest_accepted_entries_total")
		return n > 0 && p.metric(t, "crossledger_ingest_log_size") == n && p.metric(t, "crossledger_projector_watermark") == n
	})
	if code, body := p.get(t, "/checkpoint"); code != http.StatusOK || !strings.HasPrefix(body, dev.Origin) {
		t.Errorf("the tile API behind /metrics: %d %q", code, body)
	}
}
