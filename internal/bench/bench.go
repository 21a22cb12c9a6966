// Package bench holds the benchmark harnesses of `crossledger bench`:
// ingest (end-to-end throughput and receipt latency against one core's
// Ed25519 verify rate) and query (person queries through the gateway
// against the same lookups made directly on the store). Each runs the
// whole ledger in one process through internal/node; the command parses
// the flags and supplies how the ledger's keys and the gateway's token
// issuer are kept ([Ledger]).
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// RunOptions are the flags both benches take (see the commands' help).
type RunOptions struct {
	// Broker is the Kafka bootstrap address; empty: an embedded broker.
	Broker string
	// Data is the data directory; empty: a temporary one, removed after.
	Data string
	// CPUProfile names a file for a CPU profile of the measured phase.
	CPUProfile string
	// JSON prints the result as one JSON object.
	JSON bool
}

// brokerName is how a result names the broker: its address, or "embedded".
func (o RunOptions) brokerName() string {
	if o.Broker != "" {
		return o.Broker
	}
	return "embedded"
}

// localConfig is the in-process ledger's configuration, with ingest's
// topics and metrics registry, on o.Broker or an embedded broker; the
// caller picks the store.
func (o RunOptions) localConfig(topics ingest.Config, reg prometheus.Registerer) node.LocalConfig {
	cfg := node.LocalConfig{BrokerListen: "127.0.0.1:0", Ingest: topics, Registerer: reg}
	if o.Broker != "" {
		cfg.Brokers = []string{o.Broker}
	}
	return cfg
}

// percentiles sorts lat, which must not be empty, and returns its
// median, 99th percentile and maximum in milliseconds.
func percentiles(lat []time.Duration) (p50, p99, maxMs float64) {
	slices.Sort(lat)
	n := len(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(lat[n/2]), ms(lat[min(n-1, n*99/100)]), ms(lat[n-1])
}

// clientConfig is what the benches' SDK clients differ in.
type clientConfig struct {
	// ResendAfter and MaxResendAfter are the clients' (see
	// [adapters.Config]): a bench queues far ahead of ingest, so the
	// default 5 s would re-send changes still queued there.
	ResendAfter, MaxResendAfter time.Duration
	// OnAccepted is called with each verified receipt of department dept.
	OnAccepted func(dept string, a adapters.Accepted)
	// Rejected counts the rejected changes (each is also logged).
	Rejected *atomic.Int64
}

// openClients opens and runs one SDK client of the demo keys per
// department of depts, its outbox in dir/outbox; a client's failure goes
// to failed. stop stops and closes them (call it even on error).
func openClients(ctx context.Context, logger *slog.Logger, core *node.Local, dir string, depts []string, cc clientConfig, failed chan<- error) (_ map[string]*adapters.Client, stop func(), _ error) {
	clients := map[string]*adapters.Client{}
	cctx, stopClients := context.WithCancel(context.WithoutCancel(ctx))
	var cg sync.WaitGroup
	stop = func() {
		stopClients()
		cg.Wait()
		for _, c := range clients {
			c.Close()
		}
	}
	for _, dept := range depts {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: dept, Key: schema.DemoKey(dept), RecordSecret: schema.DemoSecret(dept), Catalog: core.Catalog,
			LogVerifier: core.Log.Verifier(), Brokers: core.Brokers, OutboxPath: filepath.Join(dir, "outbox", dept+".db"),
			ChangesTopic: core.Ingest.ChangesTopic, ReceiptsTopic: core.Ingest.ReceiptsTopic,
			ResendAfter: cc.ResendAfter, MaxResendAfter: cc.MaxResendAfter,
			OnAccepted: func(a adapters.Accepted) { cc.OnAccepted(dept, a) },
			OnRejected: func(r adapters.Rejection) {
				cc.Rejected.Add(1)
				logger.Error("bench: change rejected", "department", dept, "seq", r.Seq, "reason", r.Reason, "detail", r.Detail)
			},
			Logger: logger.With("department", dept),
		})
		if err != nil {
			return clients, stop, err
		}
		clients[dept] = c
		cg.Go(func() {
			if err := c.Run(cctx); err != nil && cctx.Err() == nil {
				failed <- fmt.Errorf("%s client: %w", dept, err)
			}
		})
	}
	return clients, stop, nil
}

// Env is where a run reports: progress on Stderr, the result on Stdout.
type Env struct {
	Stdout, Stderr io.Writer
	Logger         *slog.Logger
}

// Ledger opens the parts a run needs in its data directory dir.
type Ledger struct {
	// Open opens the in-process ledger (cfg as the harness needs it; the
	// log key and ledger secret are the caller's).
	Open func(ctx context.Context, dir string, cfg node.LocalConfig) (*node.Local, error)
	// OpenGateway opens a gateway over l with rate limits rate, and
	// returns it with a bearer token of a real-estate analyst it trusts.
	OpenGateway func(ctx context.Context, l *node.Local, dir string, rate limits.RateConfig, reg prometheus.Registerer) (*node.Gateway, string, error)
	// StartWitnesses starts n local witnesses of the log of dir (its
	// log key made on first use, as Open does) and returns the policy a
	// majority of them forms and how to stop them.
	StartWitnesses func(dir string, n int) (*witness.Policy, func() error, error)
}

// Ingest runs bench ingest with the departments depts and prints its
// result.
func Ingest(ctx context.Context, env Env, ledger Ledger, o IngestOptions, depts []string) error {
	b := &benchIngest{opts: o, env: env, ledger: ledger, depts: depts}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	return b.print(res)
}

// Query runs bench query and prints its result; a failed query fails it.
func Query(ctx context.Context, env Env, ledger Ledger, o QueryOptions) error {
	b := &benchQuery{opts: o, env: env, ledger: ledger}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	if err := b.print(res); err != nil {
		return err
	}
	if n := res.Gateway.Failures + res.Direct.Failures; n > 0 {
		return fmt.Errorf("%d queries failed (see stderr): the run is void", n)
	}
	return nil
}

// dataDir is the run's data directory: dir (created if missing), or a
// temporary one (prefix) that cleanup removes.
func dataDir(dir, prefix string) (_ string, cleanup func(), err error) {
	cleanup = func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", prefix)
		if err != nil {
			return "", cleanup, fmt.Errorf("couldn't make a data directory: %w", err)
		}
		dir, cleanup = tmp, func() { os.RemoveAll(tmp) }
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", cleanup, fmt.Errorf("couldn't create data dir: %w", err)
	}
	return dir, cleanup, nil
}

// topicsWithSuffix is an ingest configuration whose topics are the
// default names with sfx appended: a run's own, so that a shared broker's
// other traffic is neither read nor answered.
func topicsWithSuffix(sfx string) ingest.Config {
	return ingest.Config{ChangesTopic: ingest.TopicChanges + sfx, AccessTopic: ingest.TopicAccess + sfx,
		ReceiptsTopic: ingest.TopicReceipts + sfx, RejectedTopic: ingest.TopicRejected + sfx}
}

// startProfiles starts a CPU profile into cpuprofile and an execution
// trace into traceFile, each if named; stop ends both.
func startProfiles(cpuprofile, traceFile string) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if cpuprofile != "" {
		pf, err := os.Create(cpuprofile)
		if err != nil {
			return stop, fmt.Errorf("couldn't create CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return stop, err
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); pf.Close() })
	}
	if traceFile != "" {
		tf, err := os.Create(traceFile)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("couldn't create trace: %w", err)
		}
		if err := trace.Start(tf); err != nil {
			tf.Close()
			stop()
			return func() {}, err
		}
		stops = append(stops, func() { trace.Stop(); tf.Close() })
	}
	return stop, nil
}
