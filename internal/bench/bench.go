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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/internal/node"
)

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
