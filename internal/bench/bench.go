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
	"runtime/pprof"
	"runtime/trace"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/ingest"
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
