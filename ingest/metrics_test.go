package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	ktopics "github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/sqlite"
)

// metricsLedger is a log and an ingest config on the real broker with
// topics of its own.
type metricsLedger struct {
	log  *merkle.Log
	ring *schema.KeyRing
	cfg  ingest.Config
}

func newMetricsLedger(t *testing.T, ctx context.Context, cfg ingest.Config) *metricsLedger {
	t.Helper()
	addr := testenv.Kafka(t)
	dir := t.TempDir()
	l, _ := ingesttest.OpenLog(t, ctx, dir, "haidian.example/crossledger")
	cfg = ingesttest.Topics(cfg, ingesttest.Suffix("metrics"))
	cfg.Brokers, cfg.PayloadDir = []string{addr}, filepath.Join(dir, "payloads")
	cfg.BatchAge, cfg.TopicPartitions = 5*time.Millisecond, 2
	return &metricsLedger{log: l, ring: ingesttest.DemoKeys(t), cfg: cfg}
}

// taxChange signs a tax-credit upsert of record i as seq.
func taxChange(t *testing.T, seq uint64, i int, forge bool) []byte {
	t.Helper()
	rt, err := schema.Demo().RecordType("tax", "tax-credit", 0)
	if err != nil {
		t.Fatal(err)
	}
	code := fmt.Sprintf("91350100%09d", i)
	c, err := schema.CreditCodeCheck(code)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{"taxpayer_id": code + string(c), "year": fmt.Sprint(2000 + i), "rating": "A", "arrears": "1.5"}
	ch, ds, err := schema.BuildChange(rt, schema.OpUpsert, schema.RecordRef(schema.DemoSecret("tax"), rt.Name, []string{fmt.Sprint(i)}), vals, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: "tax", Seq: seq, Time: "2024-01-02T03:04:05Z", Change: ch}
	if err := schema.Sign(env, schema.DemoKey("tax")); err != nil {
		t.Fatal(err)
	}
	if forge {
		sig, _ := base64.RawURLEncoding.DecodeString(env.Sig)
		sig[0] ^= 1
		env.Sig = base64.RawURLEncoding.EncodeToString(sig)
	}
	return ingesttest.EncodeMessage(t, env, encoded(ds))
}

// metricValue returns the value of the gauge or counter name with the
// given label pairs, or the sample count of a histogram; -1 if absent.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// TestMetricsCountWhatHappened sends a known mix of messages through a
// real broker and checks every counter against it.
func TestMetricsCountWhatHappened(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ml := newMetricsLedger(t, ctx, ingest.Config{BatchSize: 4})
	reg := prometheus.NewPedanticRegistry()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "proj.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	proj := &ingest.Projector{Log: ml.log, Store: st, Catalog: schema.Demo(), LedgerSecret: []byte("ledger secret for tests"),
		Poll: 10 * time.Millisecond, Registerer: reg}
	in, err := ingest.New(ctx, ml.cfg, ingest.Deps{Log: ml.log, Catalog: proj.Catalog, Keys: ml.ring,
		Logger: slog.New(slog.DiscardHandler), Projection: proj, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	proj.Payloads = in.Payloads()
	// Both pause reasons are exported at 0 before anything happens.
	if v := metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseDisk); v != 0 {
		t.Errorf("paused{disk} = %v before running, want 0", v)
	}

	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ingesttest.Go(t, rctx, &wg, "ingest", in.Run)
	wg.Add(1)
	go func() { defer wg.Done(); proj.Run(rctx) }()
	defer func() { stop(); wg.Wait() }()

	seq2 := taxChange(t, 2, 2, false)
	msgs := [][]byte{
		taxChange(t, 1, 1, false),
		seq2,
		taxChange(t, 3, 3, false),
		seq2,                      // redelivery: duplicate
		taxChange(t, 3, 3, false), // same seq, new salts: equivocation
		[]byte("{not json"),       // malformed
		taxChange(t, 4, 4, true),  // forged: bad-signature
		taxChange(t, 4, 4, false),
		taxChange(t, 5, 5, false),
		taxChange(t, 9, 9, false), // a gap: held
	}
	// The topics exist before anything is produced to them (Run creates
	// them too, but may not have yet).
	if err := ingest.EnsureTopics(ctx, ml.cfg.Brokers, 2, 1, ml.cfg.ChangesTopic, ml.cfg.AccessTopic, ml.cfg.ReceiptsTopic, ml.cfg.RejectedTopic); err != nil {
		t.Fatal(err)
	}
	w := ktopics.NewWriter(ml.cfg.Brokers, "")
	defer w.Close()
	var out []kafka.Message
	for _, m := range msgs {
		out = append(out, kafka.Message{Topic: ml.cfg.ChangesTopic, Key: []byte("tax"), Value: m})
	}
	if err := w.WriteMessages(ctx, out...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "every message answered and projected", func() bool {
		return metricValue(t, reg, "crossledger_ingest_messages_consumed_total", "topic", ml.cfg.ChangesTopic) == 10 &&
			metricValue(t, reg, "crossledger_ingest_accepted_entries_total") == 5 &&
			metricValue(t, reg, "crossledger_ingest_duplicates_total") == 1 &&
			metricValue(t, reg, "crossledger_projector_watermark") == 5
	})
	waitFor(t, ctx, "three rejections", func() bool {
		n := 0.0
		for _, r := range []string{schema.ReasonEquivocation, schema.ReasonMalformed, schema.ReasonBadSignature} {
			n += max(0, metricValue(t, reg, "crossledger_ingest_rejected_total", "reason", r))
		}
		return n == 3
	})

	want := fmt.Sprintf(`
# HELP crossledger_ingest_accepted_entries_total Entries appended to the log.
# TYPE crossledger_ingest_accepted_entries_total counter
crossledger_ingest_accepted_entries_total 5
# HELP crossledger_ingest_duplicates_total Redelivered messages answered with their original receipt.
# TYPE crossledger_ingest_duplicates_total counter
crossledger_ingest_duplicates_total 1
# HELP crossledger_ingest_held_messages Messages held because their seq is ahead of their department's next expected one.
# TYPE crossledger_ingest_held_messages gauge
crossledger_ingest_held_messages 1
# HELP crossledger_ingest_log_size Entries in the log.
# TYPE crossledger_ingest_log_size gauge
crossledger_ingest_log_size 5
# HELP crossledger_ingest_messages_consumed_total Messages read from Kafka, by topic.
# TYPE crossledger_ingest_messages_consumed_total counter
crossledger_ingest_messages_consumed_total{topic=%q} 0
crossledger_ingest_messages_consumed_total{topic=%q} 10
# HELP crossledger_ingest_paused 1 while ingest stops fetching because the witnesses' quorum is not met (witnesses), the projection lags (projection-lag) or the disk is short (disk).
# TYPE crossledger_ingest_paused gauge
crossledger_ingest_paused{reason="disk"} 0
crossledger_ingest_paused{reason="projection-lag"} 0
crossledger_ingest_paused{reason="witnesses"} 0
# HELP crossledger_ingest_rejected_total Messages rejected, by the reason in their receipt.
# TYPE crossledger_ingest_rejected_total counter
crossledger_ingest_rejected_total{reason="bad-signature"} 1
crossledger_ingest_rejected_total{reason="equivocation"} 1
crossledger_ingest_rejected_total{reason="malformed"} 1
# HELP crossledger_projector_entries_total Entries written to the projection store.
# TYPE crossledger_projector_entries_total counter
crossledger_projector_entries_total 5
# HELP crossledger_projector_errors_total Failed projection steps: watermark read, log or payload read, decode, or store write.
# TYPE crossledger_projector_errors_total counter
crossledger_projector_errors_total 0
# HELP crossledger_projector_lag_entries Entries in the log not yet projected, as of the projector's last step.
# TYPE crossledger_projector_lag_entries gauge
crossledger_projector_lag_entries 0
# HELP crossledger_projector_watermark Log size the projection store has reached.
# TYPE crossledger_projector_watermark gauge
crossledger_projector_watermark 5
`, ml.cfg.AccessTopic, ml.cfg.ChangesTopic)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"crossledger_ingest_accepted_entries_total", "crossledger_ingest_duplicates_total", "crossledger_ingest_held_messages",
		"crossledger_ingest_log_size", "crossledger_ingest_messages_consumed_total", "crossledger_ingest_paused",
		"crossledger_ingest_rejected_total", "crossledger_projector_entries_total", "crossledger_projector_errors_total",
		"crossledger_projector_lag_entries", "crossledger_projector_watermark"); err != nil {
		t.Error(err)
	}
	if got := ml.log.Size(); got != 5 {
		t.Errorf("log size %d, want 5", got)
	}

	// Histograms: every message went through a batch; every stage and
	// the projector's write were timed.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "crossledger_ingest_batch_messages" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleSum() != 10 || h.GetSampleCount() < 3 { // BatchSize 4: at least 3 batches
				t.Errorf("batch_messages: sum %v count %d, want sum 10 over ≥ 3 batches", h.GetSampleSum(), h.GetSampleCount())
			}
		}
	}
	for _, s := range []string{"verify", "append", "receipts"} {
		if n := metricValue(t, reg, "crossledger_ingest_stage_seconds", "stage", s); n < 1 {
			t.Errorf("stage_seconds{stage=%q} has %v samples", s, n)
		}
	}
	if n := metricValue(t, reg, "crossledger_projector_write_seconds"); n < 1 {
		t.Errorf("projector write_seconds has %v samples", n)
	}
	if n, err := testutil.GatherAndLint(reg); err != nil || len(n) > 0 {
		t.Errorf("lint: %v %v", n, err)
	}
}

// TestMetricsShowPause: ingest that stops fetching says why in
// crossledger_ingest_paused, for both reasons.
func TestMetricsShowPause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(t *testing.T, cfg ingest.Config, p ingest.ProjectionProgress) (*prometheus.Registry, *metricsLedger, func()) {
		ml := newMetricsLedger(t, ctx, cfg)
		reg := prometheus.NewRegistry()
		in, err := ingest.New(ctx, ml.cfg, ingest.Deps{Log: ml.log, Catalog: schema.Demo(), Keys: ml.ring,
			Logger: slog.New(slog.DiscardHandler), Projection: p, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); in.Run(rctx) }()
		return reg, ml, func() { stop(); <-done }
	}

	t.Run("disk", func(t *testing.T) {
		reg, _, stop := run(t, ingest.Config{MinFreeDisk: 1 << 62}, nil)
		defer stop()
		waitFor(t, ctx, "paused{disk} = 1", func() bool {
			return metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseDisk) == 1
		})
		if v := metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseProjectionLag); v != 0 {
			t.Errorf("paused{projection-lag} = %v, want 0", v)
		}
	})

	t.Run("projection-lag", func(t *testing.T) {
		var p fakeProjection
		reg, ml, stop := run(t, ingest.Config{MaxProjectionLag: 1, BatchSize: 1}, &p)
		defer stop()
		w := ktopics.NewWriter(ml.cfg.Brokers, "")
		defer w.Close()
		var out []kafka.Message
		for seq := uint64(1); seq <= 4; seq++ {
			out = append(out, kafka.Message{Topic: ml.cfg.ChangesTopic, Key: []byte("tax"), Value: taxChange(t, seq, int(seq), false)})
		}
		if err := w.WriteMessages(ctx, out...); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "paused{projection-lag} = 1", func() bool {
			return metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseProjectionLag) == 1
		})
		if got := metricValue(t, reg, "crossledger_ingest_accepted_entries_total"); got != 2 {
			t.Errorf("accepted %v while paused at max_projection_lag 1, want 2", got)
		}
		p.size.Store(4)
		waitFor(t, ctx, "resumed: paused 0 and all 4 accepted", func() bool {
			return metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseProjectionLag) == 0 &&
				metricValue(t, reg, "crossledger_ingest_accepted_entries_total") == 4
		})
		if v := metricValue(t, reg, "crossledger_ingest_paused", "reason", ingest.PauseDisk); v != 0 {
			t.Errorf("paused{disk} = %v, want 0", v)
		}
	})
}

// TestMetricsRegistration: no registerer, no metrics, no panic; and a
// second Ingester on the same registry reuses the collectors.
func TestMetricsRegistration(t *testing.T) {
	ctx := context.Background()
	ml := newMetricsLedger(t, ctx, ingest.Config{})
	if _, err := ingest.New(ctx, ml.cfg, ingest.Deps{Log: ml.log, Catalog: schema.Demo(), Keys: ml.ring}); err != nil {
		t.Fatalf("nil Registerer: %v", err)
	}
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := ingest.New(ctx, ml.cfg, ingest.Deps{Log: ml.log, Catalog: schema.Demo(), Keys: ml.ring, Registerer: reg}); err != nil {
			t.Fatalf("New with a registry used before: %v", err)
		}
	}
	if n := metricValue(t, reg, "crossledger_ingest_log_size"); n != 0 {
		t.Errorf("log_size %v, want 0", n)
	}
}
