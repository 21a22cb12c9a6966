package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/internal/bench"
	"github.com/crossledger/crossledger/internal/dev"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

const benchSynopsis = `bench ingest [flags]

Measures the ledger end to end, in one process, on this machine.

  ingest   publishes --n signed record changes through the SDK (one client
           per department, --departments of them, concurrently) to a broker
           (--broker, or an embedded one), with ingest, the log and the
           projector running in-process on --sqlite or --clickhouse: fsync,
           dedup, signature checks and projection all on. It reports
           throughput (changes/s until every receipt is verified AND every
           change is projected), receipt latency p50/p99 (publish call to
           verified receipt), and, measured in the same run, one core's
           crypto/ed25519 Verify rate and throughput / that rate.
           --rate R publishes open-loop at R changes/s instead (latency is
           then counted from each change's scheduled time).

Progress goes to stderr; the result to stdout (--json: one JSON object).`

// benchKinds are the bench sub-verbs.
var benchKinds = map[string]func(context.Context, *cliEnv, []string) error{
	"ingest": runBenchIngest,
	"query":  runBenchQuery,
}

func runBench(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "bench", benchSynopsis)
	kind, rest, err := subcommand(f, args)
	if err != nil {
		return err
	}
	run, ok := benchKinds[kind]
	if !ok {
		return usageErrorf(f, "unknown bench %q (want: ingest, query)", kind)
	}
	return run(ctx, env, rest)
}

func runBenchIngest(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "bench ingest", benchSynopsis)
	var o bench.IngestOptions
	f.IntVar(&o.N, "n", 100000, "changes to publish")
	f.IntVar(&o.Departments, "departments", 4, "departments publishing concurrently, one SDK client each (demo departments)")
	f.IntVar(&o.Publishers, "publishers", 8, "closed loop: concurrent publishing calls per department")
	f.IntVar(&o.Batch, "batch", 100, "closed loop: changes per call (PublishBatch; 1: Publish)")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: publish at this many changes/s (0: closed loop, as fast as it goes)")
	f.IntVar(&o.Witnesses, "witnesses", 0, "run N local department witnesses; a majority must cosign each checkpoint before it is published (0: none)")
	benchRunFlags(f, &o.RunOptions, "data directory for log, payloads, outboxes", "measured phase")
	f.StringVar(&o.SQLite, "sqlite", "", "SQLite projection file (default: one in the data directory)")
	f.StringVar(&o.ClickHouse, "clickhouse", "", "ClickHouse HOST:PORT (native) for the projection; a fresh database per run")
	f.StringVar(&o.Trace, "trace", "", "write an execution trace of the measured phase to FILE (go tool trace; -pprof=sync|syscall|net for off-CPU time)")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	depts := schema.Demo().Departments()
	switch {
	case o.N < 1 || o.Publishers < 1 || o.Batch < 1 || o.Rate < 0:
		return usageErrorf(f, "need --n, --publishers, --batch ≥ 1 and --rate ≥ 0")
	case o.Witnesses < 0 || o.Witnesses > len(depts):
		return usageErrorf(f, "--witnesses must be in 0..%d (one per demo department)", len(depts))
	case o.Departments < 1 || o.Departments > len(depts):
		return usageErrorf(f, "--departments must be in 1..%d (the demo departments)", len(depts))
	case o.SQLite != "" && o.ClickHouse != "":
		return usageErrorf(f, "give at most one of --sqlite and --clickhouse")
	}
	return bench.Ingest(ctx, benchEnv(env), benchLedger(env), o, depts[:o.Departments])
}

const benchQuerySynopsis = `bench query [flags]

Measures person queries through the gateway against the same lookups made
directly on the projection store, in one run, on this machine.

  build    (skipped when --data already holds a ledger built with the same
           --records, --citizens and --seed) publishes the demo grants, then
           --records record changes of the Haidian demo data set about
           --citizens residents, through one SDK client per department, with
           the broker (--broker, or an embedded one), ingest, the log and the
           projector (SQLite, DIR/projection.db) in-process, and waits until
           every receipt is verified and everything is projected.
  gateway  runs the gateway behind an HTTP listener on 127.0.0.1 (rate limits
           raised) and has --concurrency workers ask person(citizenId,
           purpose: "real-estate-transfer") with every record's fields,
           envelope, signature and proof, as a real-estate analyst, for
           random residents, --queries of them (or for --duration). Every
           answer must have no errors and at least one proof. Every query
           writes an access entry to the ledger (Kafka acks=all): part of
           the cost.
  direct   the same citizens, same concurrency: the store lookups the gateway
           makes for person (BySubject on every department that granted
           real-estate something for the purpose, in parallel).

It reports queries/s and latency p50/p99 of both, and the ratios gateway
p50 / direct p50 (target ≤ 1.5) and gateway queries/s (target ≥ 1000).
Progress goes to stderr; the result to stdout (--json: one JSON object).
Any failed query fails the bench.`

func runBenchQuery(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "bench query", benchQuerySynopsis)
	var o bench.QueryOptions
	f.IntVar(&o.Records, "records", 1_000_000, "record changes in the ledger")
	f.IntVar(&o.Citizens, "citizens", 0, "residents of the data set (default: --records / 2.8, the demo set's changes per resident)")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the demo data set")
	f.IntVar(&o.Queries, "queries", 20000, "person queries to measure (each path)")
	f.DurationVar(&o.Duration, "duration", 0, "measure the gateway for this long instead of --queries (the direct phase repeats its citizens)")
	f.IntVar(&o.Concurrency, "concurrency", 16, "concurrent queries")
	benchRunFlags(f, &o.RunOptions, "data directory; a ledger built there is reused by later runs of the same size", "gateway phase")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	if o.Citizens == 0 {
		o.Citizens = max(o.Records*10/28, 2)
	}
	if o.Records < 1 || o.Citizens < 2 || o.Citizens > o.Records || o.Queries < 1 || o.Concurrency < 1 || o.Duration < 0 {
		return usageErrorf(f, "need --records ≥ 1, 2 ≤ --citizens ≤ --records, --queries ≥ 1, --concurrency ≥ 1, --duration ≥ 0")
	}
	return bench.Query(ctx, benchEnv(env), benchLedger(env), o)
}

// benchRunFlags are the flags both benches take: dataUsage says what
// --data holds, phase which phase --cpuprofile covers.
func benchRunFlags(f *flag.FlagSet, o *bench.RunOptions, dataUsage, phase string) {
	f.StringVar(&o.Broker, "broker", "", "Kafka bootstrap address (default: an embedded broker, started in-process)")
	f.StringVar(&o.Data, "data", "", dataUsage+" (default: a temporary one, removed after)")
	f.BoolVar(&o.JSON, "json", false, "print the result as one JSON object")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the "+phase+" (all components) to FILE")
}

func benchEnv(env *cliEnv) bench.Env {
	return bench.Env{Stdout: env.stdout, Stderr: env.stderr, Logger: env.logger}
}

// benchLedger keeps a bench data directory as dev keeps its own: the log
// key and ledger secret made on first use, the dev token issuer.
func benchLedger(env *cliEnv) bench.Ledger {
	return bench.Ledger{
		Open: func(ctx context.Context, dir string, cfg node.LocalConfig) (*node.Local, error) {
			return dev.OpenLocal(ctx, env.logger, dir, cfg)
		},
		OpenGateway: func(ctx context.Context, l *node.Local, dir string, rate limits.RateConfig, reg prometheus.Registerer) (*node.Gateway, string, error) {
			dg, err := dev.OpenGateway(ctx, env.logger, l, dev.GatewayOptions{Data: dir, Rate: rate, Registerer: reg})
			if err != nil {
				return nil, "", err
			}
			return dg.Gateway, dg.Token, nil
		},
		StartWitnesses: func(dir string, n int) (*witness.Policy, func() error, error) {
			skey, err := dev.LogKey(filepath.Join(dir, "log.key"))
			if err != nil {
				return nil, nil, err
			}
			vkey, err := merkle.VerifierKey(skey)
			if err != nil {
				return nil, nil, err
			}
			depts := schema.Demo().Departments()
			if n > len(depts) {
				return nil, nil, fmt.Errorf("at most %d witnesses (one per demo department)", len(depts))
			}
			origin, _, _ := strings.Cut(vkey, "+")
			w, err := dev.StartWitnesses(filepath.Join(dir, "witnesses"), depts[:n], n/2+1, origin, vkey, env.logger)
			if err != nil {
				return nil, nil, err
			}
			return w.Policy, w.Close, nil
		},
	}
}
