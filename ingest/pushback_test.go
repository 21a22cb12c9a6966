package ingest_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	ktopics "github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/schema"
)

// fakeProjection reports whatever projected size the test sets.
type fakeProjection struct{ size atomic.Uint64 }

func (f *fakeProjection) ProjectedSize() uint64 { return f.size.Load() }

// recorder keeps the messages of the log records at or above Info.
type recorder struct {
	mu   sync.Mutex
	recs []string // "LEVEL msg"
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.recs...)
}
func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.recs {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// TestPushbackProjectionLag: while the projection is too far behind,
// ingest appends nothing although messages wait on the broker; once the
// projection catches up it appends them all.
func TestPushbackProjectionLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := broker(t)
	dir := t.TempDir()
	l, _ := ingesttest.OpenLog(t, ctx, dir, "pushback.example/crossledger")
	cat := schema.Demo()
	tc := topics(ingest.Config{Brokers: []string{addr}, PayloadDir: filepath.Join(dir, "payloads"),
		BatchSize: 100, BatchAge: 2 * time.Millisecond, MaxProjectionLag: 5},
		fmt.Sprintf(".pushback.%d", time.Now().UnixNano()))
	// Create the topics before publishing (Run would, concurrently).
	if err := ingest.EnsureTopics(ctx, tc.Brokers, 6, 1, tc.ChangesTopic, tc.AccessTopic, tc.ReceiptsTopic, tc.RejectedTopic); err != nil {
		t.Fatal(err)
	}
	proj := &fakeProjection{}
	rec := &recorder{}
	in, err := ingest.New(ctx, tc, ingest.Deps{Log: l, Catalog: cat, Keys: ingesttest.DemoKeys(t), Logger: slog.New(rec), Projection: proj})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ingesttest.Go(t, rctx, &wg, "ingest", in.Run)
	defer func() { stop(); wg.Wait() }()

	rt, _ := cat.RecordType("tax", "tax-credit", 0)
	w := ktopics.NewWriter([]string{addr}, "")
	defer w.Close()
	publish := func(from, to uint64) {
		t.Helper()
		var msgs []kafka.Message
		for seq := from; seq <= to; seq++ {
			ch, ds, err := schema.BuildChange(rt, schema.OpUpsert, schema.RecordRef(schema.DemoSecret("tax"), rt.Name, []string{fmt.Sprint(seq)}),
				values(t, rt, int(seq)), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: "tax", Seq: seq, Time: "2024-01-02T03:04:05Z", Change: ch}
			if err := schema.Sign(env, schema.DemoKey("tax")); err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, kafka.Message{Topic: tc.ChangesTopic, Key: []byte("tax"), Value: ingesttest.EncodeMessage(t, env, encoded(ds))})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}

	// The projection stays at 0: once more than 5 entries are logged,
	// ingest pauses.
	publish(1, 20)
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	waitFor(t, pctx, "ingest to pause", func() bool { p, _ := in.Paused(); return p })
	pcancel()
	held := l.Size()
	if held <= 5 || held > 20 {
		t.Fatalf("paused at log size %d, want (5, 20]", held)
	}
	_, reason := in.Paused()
	if !strings.Contains(reason, "projection") || !strings.Contains(reason, "max_projection_lag 5") {
		t.Errorf("pause reason %q", reason)
	}
	publish(21, 50)
	onBroker := lastOffsets(t, ctx, addr, tc.ChangesTopic)
	if onBroker != 50 {
		t.Fatalf("%d messages on the broker, want 50", onBroker)
	}
	time.Sleep(1500 * time.Millisecond)
	if got := l.Size(); got != held {
		t.Fatalf("log grew from %d to %d while paused", held, got)
	}
	if p, _ := in.Paused(); !p {
		t.Fatal("not paused any more while the projection is still behind")
	}

	// The projection catches up: everything is appended.
	proj.size.Store(1 << 40)
	waitFor(t, ctx, "all 50 entries", func() bool { return l.Size() == 50 })
	if p, r := in.Paused(); p {
		t.Fatalf("still paused: %s", r)
	}
	if n := rec.count("WARN pausing ingest"); n != 1 {
		t.Errorf("%d pause warnings, want 1 (%q)", n, rec.all())
	}
	if n := rec.count("INFO resuming ingest"); n != 1 {
		t.Errorf("%d resume infos, want 1 (%q)", n, rec.all())
	}
}

// lastOffsets sums the end offsets of topic's partitions.
func lastOffsets(t *testing.T, ctx context.Context, addr, topic string) int64 {
	t.Helper()
	var n int64
	for _, last := range ingesttest.EndOffsets(t, ctx, addr, topic) {
		n += last
	}
	return n
}
