package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/clickhouse"
	"github.com/crossledger/crossledger/store/sqlite"
)

// IngestOptions are bench ingest's flags (see the command's help).
type IngestOptions struct {
	RunOptions
	N, Departments, Publishers, Batch int
	Witnesses                         int // local witnesses a majority of which cosign each checkpoint (0: none)
	Rate                              float64
	SQLite, ClickHouse, Trace         string
}

// IngestResult is what bench ingest reports (--json prints it).
type IngestResult struct {
	N            int     `json:"n"`
	Departments  int     `json:"departments"`
	Mode         string  `json:"mode"`           // "closed" or "open"
	Rate         float64 `json:"rate,omitempty"` // open loop: offered changes/s
	Broker       string  `json:"broker"`         // "embedded" or the address
	Store        string  `json:"store"`          // "sqlite" or "clickhouse"
	Seconds      float64 `json:"seconds"`        // first publish to all verified and projected
	Throughput   float64 `json:"throughput"`     // changes/s end to end
	LatencyP50   float64 `json:"latency_p50_ms"`
	LatencyP99   float64 `json:"latency_p99_ms"`
	LatencyMax   float64 `json:"latency_max_ms"`
	VerifyRate   float64 `json:"ed25519_verify_per_s"` // one core, crypto/ed25519
	Ratio        float64 `json:"throughput_per_verify_rate"`
	LogSize      uint64  `json:"log_size"`
	Witnesses    int     `json:"witnesses"` // local witnesses (a majority cosigns each checkpoint)
	CPUs         int     `json:"cpus"`
	GoVersion    string  `json:"go_version"`
	ErrQueued    int64   `json:"queued"` // publish calls that returned ErrQueued (sent later by the outbox)
	PublishedSec float64 `json:"published_seconds"`
	// Breakdown is, from ingest's and the projector's metrics, seconds
	// spent and count per stage ("ingest verify", "projector write", …),
	// plus counters (batches, duplicates), to see where the time went.
	Breakdown map[string]Stage `json:"breakdown,omitempty"`
}

// Stage is one histogram (sum and count; the sum is seconds for the
// *_seconds ones) or counter (count) of the run's metrics.
type Stage struct {
	Seconds float64 `json:"sum,omitempty"`
	Count   float64 `json:"count"`
}

// breakdown reads the stage histograms and a few counters of reg.
func breakdown(reg *prometheus.Registry) map[string]Stage {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	out := map[string]Stage{}
	for _, mf := range mfs {
		name := strings.TrimPrefix(mf.GetName(), "crossledger_")
		for _, m := range mf.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += " " + l.GetValue()
			}
			switch {
			case m.GetHistogram() != nil:
				out[key] = Stage{Seconds: m.GetHistogram().GetSampleSum(), Count: float64(m.GetHistogram().GetSampleCount())}
			case m.GetCounter() != nil && m.GetCounter().GetValue() > 0:
				out[key] = Stage{Count: m.GetCounter().GetValue()}
			}
		}
	}
	return out
}

// benchIngest is one run of bench ingest.
type benchIngest struct {
	opts   IngestOptions
	env    Env
	ledger Ledger
	depts  []string

	accepted  atomic.Int64
	rejected  atomic.Int64
	queued    atomic.Int64
	published atomic.Int64

	// latency: start time of each change's publishing call (or its
	// scheduled time, open loop) and its verified receipt, by department
	// and seq; whichever arrives second records the latency.
	mu        sync.Mutex
	started   map[string]map[uint64]time.Time
	receipted map[string]map[uint64]time.Time
	latencies []time.Duration
}

func (b *benchIngest) progressf(format string, args ...any) {
	fmt.Fprintf(b.env.Stderr, "bench: "+format+"\n", args...)
}

func (b *benchIngest) run(ctx context.Context) (*IngestResult, error) {
	o := b.opts
	res := &IngestResult{N: o.N, Departments: len(b.depts), Mode: "closed", Broker: o.brokerName(), Store: "sqlite",
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if o.Rate > 0 {
		res.Mode, res.Rate = "open", o.Rate
	}

	b.progressf("measuring one core's crypto/ed25519 Verify rate")
	res.VerifyRate = ed25519VerifyRate(time.Second)
	b.progressf("ed25519 Verify: %.0f/s on one core", res.VerifyRate)

	dir, cleanup, err := dataDir(o.Data, "crossledger-bench-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := os.MkdirAll(filepath.Join(dir, "outbox"), 0o755); err != nil {
		return nil, fmt.Errorf("couldn't create data dir: %w", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "outbox")); len(entries) > 0 {
		return nil, fmt.Errorf("%s already holds outboxes: bench needs a fresh --data directory", dir)
	}
	// Topics of this run's own, so a shared broker's earlier traffic is
	// neither read nor answered.
	reg := prometheus.NewRegistry()
	cfg := o.localConfig(topicsWithSuffix(fmt.Sprintf(".bench-%d", time.Now().UnixNano())), reg)
	if o.ClickHouse != "" {
		res.Store = "clickhouse"
		db := fmt.Sprintf("crossledger_bench_%d", time.Now().Unix())
		b.progressf("ClickHouse database %s (and %s_<department>), left in place", db, db)
		cfg.Store.ClickHouse = &clickhouse.Config{Server: clickhouse.Server{Addr: []string{o.ClickHouse}}, Database: db}
	} else {
		path := o.SQLite
		if path == "" {
			path = filepath.Join(dir, "projection.db")
		}
		cfg.Store.SQLite = &sqlite.Config{Path: path}
	}
	if o.Witnesses > 0 {
		policy, stop, err := b.ledger.StartWitnesses(dir, o.Witnesses)
		if err != nil {
			return nil, err
		}
		defer stop() // after the ledger (deferred below) has stopped
		cfg.Witnesses = policy
		res.Witnesses = o.Witnesses
		b.progressf("%d local witnesses; %s must cosign each checkpoint", o.Witnesses, policy.Quorum())
	}
	core, err := b.ledger.Open(ctx, dir, cfg)
	if err != nil {
		return nil, err
	}
	defer core.Close()
	if o.Broker == "" {
		b.progressf("embedded broker on %s", core.Brokers[0])
	}

	// Ledger side: ingest and the projector, stopped after the clients.
	failed, stopLedger := core.Start(ctx, 2)
	defer stopLedger()
	proj := core.Projector

	// Department side: one SDK client per department.
	b.started, b.receipted = map[string]map[uint64]time.Time{}, map[string]map[uint64]time.Time{}
	for _, dept := range b.depts {
		b.started[dept], b.receipted[dept] = map[uint64]time.Time{}, map[uint64]time.Time{}
	}
	clients, stopClients, err := openClients(ctx, b.env.Logger, core, dir, b.depts, clientConfig{
		// The closed loop queues the whole run at once: with the
		// default 5 s, changes still queued in ingest after 5 s
		// would be re-sent and verified twice.
		ResendAfter: 30 * time.Second, MaxResendAfter: 2 * time.Minute,
		OnAccepted: func(dept string, a adapters.Accepted) { b.receipt(dept, a.Seq, time.Now()) },
		Rejected:   &b.rejected,
	}, failed)
	defer stopClients()
	if err != nil {
		return nil, err
	}

	work := b.changes(core.Catalog)
	b.progressf("publishing %d changes over %d departments (%s loop) to %s, projecting to %s", o.N, len(b.depts), res.Mode, res.Broker, res.Store)
	stopProfiles, err := startProfiles(o.CPUProfile, o.Trace)
	if err != nil {
		return nil, err
	}
	defer stopProfiles()
	start := time.Now()
	pctx, stopPublish := context.WithCancel(ctx)
	defer stopPublish()
	pubDone := make(chan error, 1)
	go func() { pubDone <- b.publish(pctx, clients, work, start) }()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var publishedAt, doneAt time.Time
	target := uint64(0) // log size once every change is receipted
	for doneAt.IsZero() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-failed:
			return nil, err
		case err := <-pubDone:
			if err != nil {
				return nil, err
			}
			publishedAt = time.Now()
			b.progressf("all %d published in %.1fs", o.N, publishedAt.Sub(start).Seconds())
		case <-tick.C:
			b.progressf("%5.1fs published %d, receipts verified %d, log %d, projected %d",
				time.Since(start).Seconds(), b.published.Load(), b.accepted.Load(), core.Log.Size(), proj.ProjectedSize())
		case <-time.After(5 * time.Millisecond):
		}
		if n := b.rejected.Load(); n > 0 {
			return nil, fmt.Errorf("%d changes were rejected (see the log): the run is void", n)
		}
		if target == 0 && b.accepted.Load() == int64(o.N) {
			target = core.Log.Size()
		}
		if target > 0 && proj.ProjectedSize() >= target {
			doneAt = time.Now()
		}
	}
	if publishedAt.IsZero() { // the last receipt can beat the publisher's return
		if err := <-pubDone; err != nil {
			return nil, err
		}
		publishedAt = doneAt
	}
	wm, err := core.Store.Watermark(ctx)
	if err != nil {
		return nil, err
	}
	if wm.Size < target {
		return nil, fmt.Errorf("projector reports %d projected, the store's watermark says %d", target, wm.Size)
	}
	if err := b.figures(res, doneAt.Sub(start), publishedAt.Sub(start), core.Log.Size()); err != nil {
		return nil, err
	}
	res.Breakdown = breakdown(reg)
	b.progressf("done: %d changes verified and projected in %.2fs; stopping", o.N, res.Seconds)
	return res, nil
}

// figures fills res's throughput and latency figures from a run that
// took el (published after pub) and left a log of logSize entries.
func (b *benchIngest) figures(res *IngestResult, el, pub time.Duration, logSize uint64) error {
	o := b.opts
	res.Seconds = el.Seconds()
	res.PublishedSec = pub.Seconds()
	res.Throughput = float64(o.N) / el.Seconds()
	res.Ratio = res.Throughput / res.VerifyRate
	res.LogSize = logSize
	res.ErrQueued = b.queued.Load()
	b.mu.Lock()
	lat := slices.Clone(b.latencies)
	b.mu.Unlock()
	if len(lat) != o.N {
		return fmt.Errorf("%d latencies for %d changes", len(lat), o.N)
	}
	res.LatencyP50, res.LatencyP99, res.LatencyMax = percentiles(lat)
	return nil
}

// receipt records dept's seq as receipted at t.
func (b *benchIngest) receipt(dept string, seq uint64, t time.Time) {
	b.accepted.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.started[dept][seq]; ok {
		b.latencies = append(b.latencies, t.Sub(s))
		delete(b.started[dept], seq)
		return
	}
	b.receipted[dept][seq] = t
}

// start records dept's seqs as started at t (see receipt).
func (b *benchIngest) start(dept string, seqs []uint64, t time.Time) {
	b.published.Add(int64(len(seqs)))
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, seq := range seqs {
		if r, ok := b.receipted[dept][seq]; ok {
			b.latencies = append(b.latencies, r.Sub(t))
			delete(b.receipted[dept], seq)
			continue
		}
		b.started[dept][seq] = t
	}
}

// benchChange is one change to publish.
type benchChange struct {
	dept string
	adapters.Change
}

// changes makes the run's n changes, made before the clock starts:
// round-robin over the departments and each department's record types,
// valid values, keys repeating every 50 000 changes (so some are updates).
func (b *benchIngest) changes(cat *schema.Catalog) []benchChange {
	out := make([]benchChange, b.opts.N)
	for i := range out {
		dept := b.depts[i%len(b.depts)]
		d, _ := cat.Department(dept)
		k := i / len(b.depts)
		rt := &d.Types[k%len(d.Types)]
		out[i] = benchChange{dept: dept, Change: adapters.Change{RecordType: rt.Name, Op: schema.OpUpsert, Values: benchValues(rt, k%50000)}}
	}
	return out
}

// benchValues returns valid values for every field of rt, varying with i.
func benchValues(rt *schema.RecordType, i int) map[string]string {
	v := make(map[string]string, len(rt.Fields))
	for _, f := range rt.Fields {
		switch f.Type {
		case schema.TypeInt:
			v[f.Name] = fmt.Sprint(1 + i%1000)
		case schema.TypeDecimal:
			v[f.Name] = fmt.Sprintf("%d.50", i%100000)
		case schema.TypeDate:
			v[f.Name] = "2020-01-02"
		case schema.TypeDateTime:
			v[f.Name] = "2020-01-02T03:04:05Z"
		case schema.TypeBool:
			v[f.Name] = "true"
		case schema.TypeEnum:
			v[f.Name] = f.Values[i%len(f.Values)]
		case schema.TypeCitizenID:
			first := fmt.Sprintf("110105195001%02d%03d", 1+i/1000%28, i%1000)
			c, _ := schema.CitizenIDCheck(first)
			v[f.Name] = first + string(c)
		case schema.TypeCreditCode:
			first := fmt.Sprintf("91350100%09d", i)
			c, _ := schema.CreditCodeCheck(first)
			v[f.Name] = first + string(c)
		default:
			v[f.Name] = fmt.Sprintf("%s-%d", f.Name, i)
		}
	}
	return v
}

// publish publishes work: closed loop, --publishers calls of --batch
// changes per department at a time; open loop, each change at its
// scheduled time start + i/rate, in its own call.
func (b *benchIngest) publish(ctx context.Context, clients map[string]*adapters.Client, work []benchChange, start time.Time) error {
	check := func(err error) error {
		if errors.Is(err, adapters.ErrQueued) {
			b.queued.Add(1)
			return nil
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if b.opts.Rate > 0 {
		g.SetLimit(100000)
		interval := float64(time.Second) / b.opts.Rate
		for i, w := range work {
			at := start.Add(time.Duration(float64(i) * interval))
			if d := time.Until(at); d > 0 {
				select {
				case <-gctx.Done():
					return g.Wait()
				case <-time.After(d):
				}
			}
			g.Go(func() error {
				seq, err := clients[w.dept].Publish(gctx, w.RecordType, w.Op, w.Values)
				if err = check(err); err != nil {
					return fmt.Errorf("couldn't publish to %s: %w", w.dept, err)
				}
				b.start(w.dept, []uint64{seq}, at)
				return nil
			})
		}
		return g.Wait()
	}
	byDept := map[string][]adapters.Change{}
	for _, w := range work {
		byDept[w.dept] = append(byDept[w.dept], w.Change)
	}
	for dept, chs := range byDept {
		var next atomic.Int64
		for range b.opts.Publishers {
			g.Go(func() error {
				for {
					hi := int(next.Add(int64(b.opts.Batch)))
					lo := hi - b.opts.Batch
					if lo >= len(chs) {
						return nil
					}
					part := chs[lo:min(hi, len(chs))]
					t := time.Now()
					var seqs []uint64
					var err error
					if len(part) == 1 {
						var seq uint64
						seq, err = clients[dept].Publish(gctx, part[0].RecordType, part[0].Op, part[0].Values)
						seqs = []uint64{seq}
					} else {
						seqs, err = clients[dept].PublishBatch(gctx, part)
					}
					if err = check(err); err != nil {
						return fmt.Errorf("couldn't publish to %s: %w", dept, err)
					}
					b.start(dept, seqs, t)
				}
			})
		}
	}
	return g.Wait()
}

func (b *benchIngest) print(r *IngestResult) error {
	if b.opts.JSON {
		enc := json.NewEncoder(b.env.Stdout)
		return enc.Encode(r)
	}
	mode := "closed loop"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %g changes/s", r.Rate)
	}
	_, err := fmt.Fprintf(b.env.Stdout, `crossledger bench ingest: %d changes, %d departments, %s
  broker %s, store %s, %s, %d CPUs, %s
  end to end (all receipts verified and projected): %.2f s, %.0f changes/s (all published after %.2f s)
  receipt latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms
  crypto/ed25519 Verify, one core, same run: %.0f/s
  throughput / verify rate: %.3f×
%s`, r.N, r.Departments, mode, r.Broker, r.Store, witnessText(r.Witnesses), r.CPUs, r.GoVersion, r.Seconds, r.Throughput, r.PublishedSec,
		r.LatencyP50, r.LatencyP99, r.LatencyMax, r.VerifyRate, r.Ratio, breakdownText(r.Breakdown))
	return err
}

func witnessText(n int) string {
	if n == 0 {
		return "no witnesses"
	}
	return fmt.Sprintf("%d local witnesses (%d must cosign)", n, n/2+1)
}

// ed25519VerifyRate measures crypto/ed25519.Verify on one goroutine for
// about d, over a message the size of a typical envelope.
func ed25519VerifyRate(d time.Duration) float64 {
	priv := schema.DemoKey("bench")
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 600)
	sig := ed25519.Sign(priv, msg)
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		for range 64 {
			if !ed25519.Verify(pub, msg, sig) {
				panic("bench: ed25519 self-check failed")
			}
		}
		n += 64
	}
	return float64(n) / time.Since(start).Seconds()
}

func breakdownText(bd map[string]Stage) string {
	if len(bd) == 0 {
		return ""
	}
	keys := make([]string, 0, len(bd))
	for k := range bd {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	sb.WriteString("  where the time went (ingest and projector metrics):\n")
	for _, k := range keys {
		st := bd[k]
		if strings.Contains(k, "seconds") {
			fmt.Fprintf(&sb, "    %-40s %8.2f s over %.0f\n", k, st.Seconds, st.Count)
		} else if st.Seconds > 0 {
			fmt.Fprintf(&sb, "    %-40s %8.0f over %.0f\n", k, st.Seconds, st.Count)
		} else {
			fmt.Fprintf(&sb, "    %-40s %8.0f\n", k, st.Count)
		}
	}
	return sb.String()
}
