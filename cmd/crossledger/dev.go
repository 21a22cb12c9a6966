package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crossledger/crossledger/internal/dev"
)

const devSynopsis = `dev [--data DIR] [--broker ADDR] [--http ADDR] [--rate N] [--citizens N] [--seed N]

Runs a whole local ledger in one process, with nothing to set up:

  broker      the embedded Kafka-protocol broker            DIR/broker
  log         the transparency log, key made on first run    DIR/log, DIR/log.key
  ingest      validates, signs off and appends changes       payloads in DIR/payloads
  projector   feeds the SQLite projection from the log       DIR/projection.db
  adapters    one SDK client per demo department             outboxes DIR/outbox/<dept>.db
  simulator   publishes the demo data set of --citizens residents (first run
              only), then --rate updates per second
  tile API    the log's C2SP tlog-tiles paths on --http

A second run resumes the same ledger: the departments' outboxes remember
what was published, so the initial data set is never sent twice and the
update stream continues where it stopped. Ctrl-C stops, in this order:
simulator, SDK clients, ingest, projector, HTTP server, log, broker.`

func runDev(ctx context.Context, env *cliEnv, args []string) error {
	f := newFlags(env, "dev", devSynopsis)
	var o dev.Options
	f.StringVar(&o.Data, "data", "data", "data directory")
	f.StringVar(&o.Broker, "broker", "127.0.0.1:9092", "broker listen address")
	f.StringVar(&o.HTTP, "http", "127.0.0.1:8080", "HTTP listen address for the log's tile API")
	f.Float64Var(&o.Rate, "rate", 20, "simulated updates per second after the initial data set (0: none)")
	f.IntVar(&o.Citizens, "citizens", 200, "residents in the demo data set (fixed by the first run's outboxes)")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the demo simulator (keep it across runs of one data directory)")
	f.DurationVar(&o.Progress, "progress", 10*time.Second, "how often to print a progress line (0: never)")
	if err := parse(f, args, 0); err != nil {
		return err
	}
	if o.Rate < 0 || o.Citizens < 2 || o.Progress < 0 {
		fmt.Fprintln(f.Output(), "need --rate ≥ 0, --citizens ≥ 2 and --progress ≥ 0")
		f.Usage()
		return errUsage
	}
	return dev.Run(ctx, dev.Env{Stdout: env.stdout, Logger: env.logger}, o)
}
