package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
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
	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"
)

// Targets of the issue, reported beside the figures.
const (
	benchQueryTargetP50Ratio = 1.5
	benchQueryTargetQPS      = 1000.0
)

// QueryOptions are bench query's flags (see the command's help).
type QueryOptions struct {
	RunOptions
	Records, Citizens, Queries, Concurrency int
	Seed                                    int64
	Duration                                time.Duration
}

// QueryPhase is one measured phase's figures.
type QueryPhase struct {
	Queries    int     `json:"queries"`
	Failures   int     `json:"failures"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"queries_per_s"`
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	LatencyMax float64 `json:"latency_max_ms"`
	// Records is the mean number of records per answer (gateway: with a
	// proof; direct: as the store returned them).
	Records float64 `json:"records_per_query"`
}

// QueryResult is what bench query reports (--json prints it).
type QueryResult struct {
	Records      int     `json:"records"`
	Citizens     int     `json:"citizens"`
	Seed         int64   `json:"seed"`
	Broker       string  `json:"broker"`
	Store        string  `json:"store"`
	Built        bool    `json:"built"` // this run built the ledger (false: reused --data)
	BuildSeconds float64 `json:"build_seconds,omitempty"`
	LogSize      uint64  `json:"log_size"` // before the gateway phase
	Concurrency  int     `json:"concurrency"`
	Departments  int     `json:"departments"` // asked per person query

	Gateway QueryPhase `json:"gateway"`
	Direct  QueryPhase `json:"direct"`

	P50Ratio        float64 `json:"gateway_p50_per_direct_p50"`
	ThroughputRatio float64 `json:"gateway_qps_per_direct_qps"`
	TargetP50Ratio  float64 `json:"target_p50_ratio"`
	TargetQPS       float64 `json:"target_gateway_qps"`
	P50Met          bool    `json:"p50_target_met"`
	QPSMet          bool    `json:"qps_target_met"`

	// AccessWriteMs is the gateway's mean time writing a query's access
	// entry (crossledger_gateway_access_write_seconds), of its latency.
	AccessWriteMs float64 `json:"access_write_mean_ms"`

	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// benchQuery is one run of bench query.
type benchQuery struct {
	opts   QueryOptions
	env    Env
	ledger Ledger
}

func (b *benchQuery) progressf(format string, args ...any) {
	fmt.Fprintf(b.env.Stderr, "bench: "+format+"\n", args...)
}

// benchQueryState is DIR/bench-query.json: what the data directory holds,
// written before the build (Built false) and after it (Built true).
type benchQueryState struct {
	Records  int    `json:"records"`
	Citizens int    `json:"citizens"`
	Seed     int64  `json:"seed"`
	Topics   string `json:"topics_suffix"` // the ledger's own topics, so that a shared broker's other traffic is not read
	Built    bool   `json:"built"`
}

func (b *benchQuery) statePath(dir string) string { return filepath.Join(dir, "bench-query.json") }

func (b *benchQuery) writeState(dir string, s benchQueryState) error {
	data, _ := json.Marshal(s)
	tmp := b.statePath(dir) + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("couldn't write the bench state: %w", err)
	}
	if err := os.Rename(tmp, b.statePath(dir)); err != nil {
		return fmt.Errorf("couldn't write the bench state: %w", err)
	}
	return nil
}

// state reads dir's bench state and says whether the ledger there can be
// reused; with none, it starts one.
func (b *benchQuery) state(dir string) (s benchQueryState, reuse bool, err error) {
	o := b.opts
	data, err := os.ReadFile(b.statePath(dir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return s, false, fmt.Errorf("%s is neither empty nor a bench query data directory", dir)
		}
		s = benchQueryState{Records: o.Records, Citizens: o.Citizens, Seed: o.Seed, Topics: fmt.Sprintf(".benchq-%d", time.Now().UnixNano())}
		return s, false, b.writeState(dir, s)
	case err != nil:
		return s, false, fmt.Errorf("couldn't read the bench state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, false, fmt.Errorf("couldn't read the bench state %s: %w", b.statePath(dir), err)
	}
	switch {
	case !s.Built:
		return s, false, fmt.Errorf("%s holds an interrupted build: remove it or use another --data", dir)
	case s.Records != o.Records || s.Citizens != o.Citizens || s.Seed != o.Seed:
		return s, false, fmt.Errorf("%s holds a ledger of %d records about %d citizens (seed %d), not %d about %d (seed %d): use another --data",
			dir, s.Records, s.Citizens, s.Seed, o.Records, o.Citizens, o.Seed)
	}
	return s, true, nil
}

func (b *benchQuery) run(ctx context.Context) (*QueryResult, error) {
	o := b.opts
	res := &QueryResult{Records: o.Records, Citizens: o.Citizens, Seed: o.Seed, Broker: o.brokerName(), Store: "sqlite",
		Concurrency: o.Concurrency, TargetP50Ratio: benchQueryTargetP50Ratio, TargetQPS: benchQueryTargetQPS,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	dir, cleanup, err := dataDir(o.Data, "crossledger-bench-query-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	st, reuse, err := b.state(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "outbox"), 0o755); err != nil {
		return nil, fmt.Errorf("couldn't create data dir: %w", err)
	}

	b.progressf("generating the demo data set: %d residents (seed %d)", o.Citizens, o.Seed)
	changes, pool := benchQueryData(o.Seed, o.Citizens, o.Records)
	if len(changes) < o.Records {
		return nil, fmt.Errorf("the demo data set of %d residents has %d changes, fewer than --records %d: give more --citizens", o.Citizens, len(changes), o.Records)
	}
	changes = changes[:o.Records]

	reg := prometheus.NewRegistry()
	cfg := o.localConfig(topicsWithSuffix(st.Topics), reg)
	cfg.Store.SQLite = &sqlite.Config{Path: filepath.Join(dir, "projection.db")}
	core, err := b.ledger.Open(ctx, dir, cfg)
	if err != nil {
		return nil, err
	}
	defer core.Close()

	// Ledger side: ingest and the projector, stopped last.
	failed, stopLedger := core.Start(ctx, 16)
	defer stopLedger()
	proj := core.Projector
	if reuse {
		b.progressf("reusing the ledger in %s: log %d entries", dir, core.Log.Size())
	} else {
		start := time.Now()
		if err := b.build(ctx, core, proj, dir, changes, failed); err != nil {
			return nil, err
		}
		res.Built, res.BuildSeconds = true, time.Since(start).Seconds()
		st.Built = true
		if err := b.writeState(dir, st); err != nil {
			return nil, err
		}
	}
	changes = nil

	// The gateway, behind a real listener.
	url, token, stopGateway, err := b.serveGateway(ctx, core, dir, reg, failed)
	defer stopGateway()
	if err != nil {
		return nil, err
	}

	// Start from a settled ledger: everything published (earlier runs'
	// access entries included) is projected.
	if err := b.settle(ctx, core, proj, failed); err != nil {
		return nil, err
	}
	res.LogSize = core.Log.Size()

	owners := personOwners(demo.RealEstate, demo.PurposeRealEstateTransfer)
	res.Departments = len(owners)
	asks, warm := b.citizens(pool)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * o.Concurrency, MaxIdleConnsPerHost: 2 * o.Concurrency, DisableCompression: true},
		Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	gwAsk := func(ctx context.Context, citizen string) (int, error) {
		return gatewayPerson(ctx, hc, url, token, citizen)
	}
	directAsk := func(ctx context.Context, citizen string) (int, error) {
		return directPerson(ctx, core.Store, core.Secret, owners, citizen)
	}

	// The gateway answers once its grant scan has read the whole log
	// (seconds, on a large one).
	b.progressf("waiting for the gateway's grant scan (log %d entries)", res.LogSize)
	for deadline := time.Now().Add(5 * time.Minute); ; {
		_, err := gwAsk(ctx, warm[0])
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("the gateway did not answer: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.progressf("warming up: %d queries each way", len(warm))
	if ph := b.measure(ctx, "warm-up gateway", warm, 0, gwAsk); ph.Failures > 0 {
		return nil, fmt.Errorf("%d of %d warm-up gateway queries failed", ph.Failures, len(warm))
	}
	if ph := b.measure(ctx, "warm-up direct", warm, 0, directAsk); ph.Failures > 0 {
		return nil, fmt.Errorf("%d of %d warm-up direct queries failed", ph.Failures, len(warm))
	}
	if err := b.settle(ctx, core, proj, failed); err != nil {
		return nil, err
	}
	accessBefore := histogramOf(reg, "crossledger_gateway_access_write_seconds")

	stopProfile, err := startProfiles(o.CPUProfile, "")
	if err != nil {
		return nil, err
	}
	b.progressf("gateway: person queries, %d workers, %s", o.Concurrency, url)
	res.Gateway = b.measure(ctx, "gateway", asks, o.Duration, gwAsk)
	stopProfile()
	if acc := histogramOf(reg, "crossledger_gateway_access_write_seconds"); acc.Count > accessBefore.Count {
		res.AccessWriteMs = 1000 * (acc.Seconds - accessBefore.Seconds) / (acc.Count - accessBefore.Count)
	}
	select {
	case err := <-failed:
		return nil, err
	default:
	}

	// The same citizens, directly.
	if err := b.settle(ctx, core, proj, failed); err != nil {
		return nil, err
	}
	b.progressf("direct: the same %d citizens, BySubject on %d departments, %d workers", res.Gateway.Queries, len(owners), o.Concurrency)
	res.Direct = b.measure(ctx, "direct", asks[:res.Gateway.Queries], 0, directAsk)

	if res.Direct.LatencyP50 > 0 {
		res.P50Ratio = res.Gateway.LatencyP50 / res.Direct.LatencyP50
	}
	if res.Direct.Throughput > 0 {
		res.ThroughputRatio = res.Gateway.Throughput / res.Direct.Throughput
	}
	res.P50Met = res.P50Ratio > 0 && res.P50Ratio <= benchQueryTargetP50Ratio
	res.QPSMet = res.Gateway.Throughput >= benchQueryTargetQPS
	b.progressf("done; stopping")
	return res, nil
}

// citizens draws, from pool, the citizens the measured phases ask about
// (--queries of them, or plenty for --duration) and those of the warm-up.
func (b *benchQuery) citizens(pool []string) (asks, warm []string) {
	o := b.opts
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 7))
	n := o.Queries
	if o.Duration > 0 {
		n = 1 << 20
	}
	asks = make([]string, n)
	for i := range asks {
		asks[i] = pool[rng.IntN(len(pool))]
	}
	warm = make([]string, max(min(n/20, 500), 2*o.Concurrency))
	for i := range warm {
		warm[i] = pool[rng.IntN(len(pool))]
	}
	return asks, warm
}

// serveGateway opens the gateway over core (rate limits raised), runs its
// access outbox (failures go to failed) and serves it on a loopback
// listener. It returns the GraphQL URL and an analyst token; stop stops
// and closes it all (call it even on error).
func (b *benchQuery) serveGateway(ctx context.Context, core *node.Local, dir string, reg prometheus.Registerer, failed chan<- error) (url, token string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	dg, token, err := b.ledger.OpenGateway(ctx, core, dir,
		limits.RateConfig{Authenticated: limits.Rate{PerSecond: 1e9, Burst: 1 << 30}, Anonymous: limits.Rate{PerSecond: 10, Burst: 10}, MaxKeys: 1000}, reg)
	if err != nil {
		return "", "", stop, err
	}
	stops = append(stops, func() { dg.Close() })
	cctx, stopClient := context.WithCancel(context.WithoutCancel(ctx))
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		if err := dg.Run(cctx); err != nil && cctx.Err() == nil {
			failed <- fmt.Errorf("gateway client: %w", err)
		}
	}()
	stops = append(stops, func() { stopClient(); <-clientDone }) // before dg.Close
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", stop, fmt.Errorf("couldn't listen for HTTP: %w", err)
	}
	srv := &http.Server{Handler: dg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	stops = append(stops, func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/graphql", token, stop, nil
}

// benchQueryData is the demo data set of citizens residents (all of it)
// and the residents' citizen ids. When the set has fewer than records
// changes, the simulator's update stream follows it.
func benchQueryData(seed int64, citizens, records int) ([]demo.Change, []string) {
	gen := demo.New(seed, citizens)
	changes := gen.Initial()
	var pool []string
	for _, c := range changes {
		if c.Type == "resident" {
			pool = append(pool, c.Values["citizen_id"])
		}
	}
	for len(changes) < records {
		changes = append(changes, gen.Next())
	}
	return changes, pool
}

// build publishes the demo grants and then changes, through one SDK
// client per department, and waits until every receipt is verified and
// the projection has caught up with the log.
func (b *benchQuery) build(ctx context.Context, core *node.Local, proj *ingest.Projector, dir string, changes []demo.Change, failed chan error) error {
	byDept := map[string][]adapters.Change{}
	for _, c := range changes {
		byDept[c.Department] = append(byDept[c.Department], adapters.Change{RecordType: c.Type, Op: c.Op, Values: c.Values})
	}
	grants := demo.Grants()
	var accepted, rejected, published atomic.Int64
	want := int64(len(changes))
	depts := core.Catalog.Departments()
	for _, dept := range depts {
		want += int64(len(grants[dept]))
	}
	clients, stopClients, err := openClients(ctx, b.env.Logger, core, dir, depts, clientConfig{
		// Publishing runs far ahead of ingest: with the default 5 s,
		// changes still queued in ingest would be re-sent.
		ResendAfter: time.Minute, MaxResendAfter: 5 * time.Minute,
		OnAccepted: func(string, adapters.Accepted) { accepted.Add(1) },
		Rejected:   &rejected,
	}, failed)
	defer stopClients()
	if err != nil {
		return err
	}
	b.progressf("building: %d grants and %d record changes over %d departments, to %s", want-int64(len(changes)), len(changes), len(clients), core.Brokers[0])

	start := time.Now()
	pctx, stopPublish := context.WithCancel(ctx)
	defer stopPublish()
	pubDone := make(chan error, 1)
	go func() {
		g, gctx := errgroup.WithContext(pctx)
		for dept, c := range clients {
			g.Go(func() error {
				// Grants first, in order: a department's first seqs.
				for _, gr := range grants[dept] {
					_, err := c.PublishEnvelope(gctx, &schema.Envelope{Kind: schema.KindGrant, Grant: &gr}, nil)
					if err != nil && !errors.Is(err, adapters.ErrQueued) {
						return fmt.Errorf("couldn't publish %s's grant to %s: %w", dept, gr.Consumer, err)
					}
					published.Add(1)
				}
				chs := byDept[dept]
				const batch = 500
				var next atomic.Int64
				var pg errgroup.Group
				for range 4 {
					pg.Go(func() error {
						for {
							hi := int(next.Add(batch))
							lo := hi - batch
							if lo >= len(chs) {
								return nil
							}
							part := chs[lo:min(hi, len(chs))]
							if _, err := c.PublishBatch(gctx, part); err != nil && !errors.Is(err, adapters.ErrQueued) {
								return fmt.Errorf("couldn't publish to %s: %w", dept, err)
							}
							published.Add(int64(len(part)))
						}
					})
				}
				return pg.Wait()
			})
		}
		pubDone <- g.Wait()
	}()

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for pubDone != nil || accepted.Load() < want {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case err := <-pubDone:
			if err != nil {
				return err
			}
			pubDone = nil
			b.progressf("all %d published in %.1fs", want, time.Since(start).Seconds())
		case <-tick.C:
			el := time.Since(start).Seconds()
			b.progressf("%6.1fs published %d, receipts verified %d (%.0f/s), log %d, projected %d",
				el, published.Load(), accepted.Load(), float64(accepted.Load())/el, core.Log.Size(), proj.ProjectedSize())
		}
		if n := rejected.Load(); n > 0 {
			return fmt.Errorf("%d changes were rejected (see the log): the build is void", n)
		}
	}
	b.progressf("all %d receipts verified after %.1fs", want, time.Since(start).Seconds())
	return b.settle(ctx, core, proj, failed)
}

// settle waits until the projection has caught up with the log, as the
// store's watermark says.
func (b *benchQuery) settle(ctx context.Context, core *node.Local, proj *ingest.Projector, failed <-chan error) error {
	last := time.Now()
	for {
		size := core.Log.Size()
		if proj.ProjectedSize() >= size {
			wm, err := core.Store.Watermark(ctx)
			if err != nil {
				return fmt.Errorf("couldn't read the projection's watermark: %w", err)
			}
			if wm.Size >= size {
				return nil
			}
		}
		if time.Since(last) > 2*time.Second {
			b.progressf("waiting for the projection: log %d, projected %d", size, proj.ProjectedSize())
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// personOwners are the departments person asks for consumer and purpose:
// consumer itself and every department that granted it something for the
// purpose (the demo grants have no expiry and are never revoked), in
// catalog order, as the gateway does.
func personOwners(consumer, purpose string) []string {
	grants := demo.Grants()
	var out []string
	for _, d := range schema.Demo().Departments() {
		ok := d == consumer
		for _, g := range grants[d] {
			ok = ok || g.Consumer == consumer && g.Purpose == purpose
		}
		if ok {
			out = append(out, d)
		}
	}
	return out
}

// measure asks for every citizen of asks (or, with d > 0, for as many as
// d allows) on --concurrency workers and returns the figures.
func (b *benchQuery) measure(ctx context.Context, name string, asks []string, d time.Duration, ask func(context.Context, string) (int, error)) QueryPhase {
	var next atomic.Int64
	var failures, records atomic.Int64
	lats := make([]time.Duration, len(asks))
	var stopAt time.Time
	if d > 0 {
		stopAt = time.Now().Add(d)
	}
	var logged atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range b.opts.Concurrency {
		wg.Go(func() {
			for {
				if ctx.Err() != nil || !stopAt.IsZero() && time.Now().After(stopAt) {
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(asks) {
					return
				}
				t := time.Now()
				n, err := ask(ctx, asks[i])
				lats[i] = time.Since(t)
				records.Add(int64(n))
				if err != nil {
					failures.Add(1)
					if logged.Add(1) <= 5 {
						b.progressf("%s: query %d failed: %v", name, i, err)
					}
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	done := min(int(next.Load()), len(asks))
	lats = slices.Clone(lats[:done]) // every index claimed was asked
	ph := QueryPhase{Queries: done, Failures: int(failures.Load()), Seconds: el.Seconds()}
	if done == 0 {
		return ph
	}
	ph.Throughput = float64(done) / el.Seconds()
	ph.LatencyP50, ph.LatencyP99, ph.LatencyMax = percentiles(lats)
	ph.Records = float64(records.Load()) / float64(done)
	if name == "gateway" || name == "direct" {
		b.progressf("%s: %d queries in %.2fs: %.0f/s, p50 %.2f ms, p99 %.2f ms, %d failed", name, done, ph.Seconds, ph.Throughput, ph.LatencyP50, ph.LatencyP99, ph.Failures)
	}
	return ph
}

// benchPersonQuery is the person query of the bench: every record with
// its fields, envelope, signature and proof.
const benchPersonQuery = `query($id: String!) { person(citizenId: $id, purpose: "real-estate-transfer") { departments { department records { type key leaf envelope keyId signature proof fields { name value disclosure digest redacted } } } } }`

// benchPersonAnswer is what the bench reads of an answer.
type benchPersonAnswer struct {
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
	Data struct {
		Person struct {
			Departments []struct {
				Department string `json:"department"`
				Records    []struct {
					Proof string `json:"proof"`
				} `json:"records"`
			} `json:"departments"`
		} `json:"person"`
	} `json:"data"`
}

// gatewayPerson asks the gateway about citizen and returns how many
// records with a proof the answer holds; an answer with errors or
// without a proof is an error.
func gatewayPerson(ctx context.Context, hc *http.Client, url, token, citizen string) (int, error) {
	body, _ := json.Marshal(map[string]any{"query": benchPersonQuery, "variables": map[string]string{"id": citizen}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, raw)
	}
	var a benchPersonAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, fmt.Errorf("the answer is not JSON: %w", err)
	}
	if len(a.Errors) > 0 {
		msgs := make([]string, len(a.Errors))
		for i, e := range a.Errors {
			msgs[i] = e.Message
		}
		return 0, fmt.Errorf("errors: %s", strings.Join(msgs, "; "))
	}
	n := 0
	for _, d := range a.Data.Person.Departments {
		for _, r := range d.Records {
			if r.Proof == "" {
				return n, fmt.Errorf("a %s record without a proof", d.Department)
			}
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("no record with a proof")
	}
	return n, nil
}

// directPerson makes the store lookups the gateway makes for person:
// BySubject on every owner, in parallel. It returns how many records the
// store returned.
func directPerson(ctx context.Context, s store.Store, secret []byte, owners []string, citizen string) (int, error) {
	canon, err := schema.Field{Name: "citizenId", Type: schema.TypeCitizenID}.Canonical(citizen)
	if err != nil {
		return 0, err
	}
	tag := schema.SubjectTag(secret, canon)
	counts := make([]int, len(owners))
	errs := make([]error, len(owners))
	var wg sync.WaitGroup
	for i, d := range owners {
		wg.Go(func() {
			recs, err := s.BySubject(ctx, d, tag)
			counts[i], errs[i] = len(recs), err
		})
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	if err := errors.Join(errs...); err != nil {
		return n, err
	}
	if n == 0 {
		return 0, errors.New("no record")
	}
	return n, nil
}

// histogramOf reads the sum and count of a histogram of reg.
func histogramOf(reg *prometheus.Registry, name string) Stage {
	mfs, err := reg.Gather()
	if err != nil {
		return Stage{}
	}
	var out Stage
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				out.Seconds += h.GetSampleSum()
				out.Count += float64(h.GetSampleCount())
			}
		}
	}
	return out
}

func (b *benchQuery) print(r *QueryResult) error {
	if b.opts.JSON {
		return json.NewEncoder(b.env.Stdout).Encode(r)
	}
	built := "reused"
	if r.Built {
		built = fmt.Sprintf("built in %.1f s", r.BuildSeconds)
	}
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	_, err := fmt.Fprintf(b.env.Stdout, `crossledger bench query: %d records about %d citizens (%s), log %d entries
  broker %s, store %s, %d CPUs, %s; %d concurrent queries, %d departments per person
  gateway (HTTP, proofs, access entry): %d queries in %.2f s, %.0f q/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.1f records/answer, %d failed
    of which writing the access entry: %.2f ms mean
  direct store lookups (BySubject):     %d queries in %.2f s, %.0f q/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.1f records/answer, %d failed
  gateway p50 / direct p50: %.2f× (target ≤ %.1f×: %s)
  gateway q/s: %.0f (target ≥ %.0f: %s); gateway q/s / direct q/s: %.2f×
`, r.Records, r.Citizens, built, r.LogSize, r.Broker, r.Store, r.CPUs, r.GoVersion, r.Concurrency, r.Departments,
		r.Gateway.Queries, r.Gateway.Seconds, r.Gateway.Throughput, r.Gateway.LatencyP50, r.Gateway.LatencyP99, r.Gateway.LatencyMax, r.Gateway.Records, r.Gateway.Failures,
		r.AccessWriteMs,
		r.Direct.Queries, r.Direct.Seconds, r.Direct.Throughput, r.Direct.LatencyP50, r.Direct.LatencyP99, r.Direct.LatencyMax, r.Direct.Records, r.Direct.Failures,
		r.P50Ratio, r.TargetP50Ratio, yes(r.P50Met), r.Gateway.Throughput, r.TargetQPS, yes(r.QPSMet), r.ThroughputRatio)
	return err
}
