// Package node assembles a ledger node: the transparency log, the private
// payload store, the projection store, ingest and the projector, opened
// and closed in one documented order. `crossledger ingest`, `dev`,
// `bench` and `reproject` all run their ledger through it, so the
// dependency between ingest and the projector (the projector reads
// ingest's payloads; ingest pauses on the projector's lag) is wired in one
// place.
//
// Open order: log (waiting as a standby for its writer lock if asked),
// payloads (opened on the log's size, dropping those of an append that
// did not commit), projection store, projector, ingest. [Node.Run] runs
// ingest and the projector and stops them in that order; [Node.Close]
// closes the store, then the log (releasing the lock).
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/clickhouse"
	"github.com/crossledger/crossledger/store/sqlite"
)

// StoreConfig names the projection store: exactly one of SQLite and
// ClickHouse.
type StoreConfig struct {
	SQLite     *sqlite.Config
	ClickHouse *clickhouse.Config
}

// OpenStore opens the projection store sc names. It is the one place
// that chooses between SQLite and ClickHouse.
func OpenStore(ctx context.Context, sc StoreConfig) (store.Store, error) {
	var st store.Store
	var err error
	switch {
	case (sc.SQLite == nil) == (sc.ClickHouse == nil):
		return nil, errors.New("node: give exactly one projection store (SQLite or ClickHouse)")
	case sc.SQLite != nil:
		st, err = sqlite.Open(ctx, *sc.SQLite)
	default:
		st, err = clickhouse.Open(ctx, *sc.ClickHouse)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't open the projection store: %w", err)
	}
	return st, nil
}

// Kind is "sqlite" or "clickhouse".
func (sc StoreConfig) Kind() string {
	if sc.SQLite != nil {
		return "sqlite"
	}
	return "clickhouse"
}

// Config says how to open a [Node].
type Config struct {
	// LogDir and LogKey (a signed-note signer key) open the log.
	LogDir, LogKey string
	// WaitForLock makes Open wait as a standby while another process
	// holds the log's writer lock, calling OnStandby first; false fails
	// with merkle.ErrLocked at once.
	WaitForLock bool
	OnStandby   func()

	// Witnesses, if set, is the policy whose quorum must cosign a
	// checkpoint before the log publishes it (its witnesses' URLs are
	// asked); WitnessTimeout bounds one round (0: witness.DefaultTimeout).
	Witnesses      *witness.Policy
	WitnessTimeout time.Duration

	// Ingest configures ingest (Brokers, topics, PayloadDir, tunables).
	Ingest ingest.Config
	// NoIngest opens only the log, payloads, store and projector (for
	// `crossledger reproject`, which projects what is logged).
	NoIngest bool

	// Catalog and Keys are the department schemas and the key ring of
	// the genesis; ingest adds what the log holds to both.
	Catalog *schema.Catalog
	Keys    *schema.KeyRing
	// LedgerSecret keys the projection's subject tags.
	LedgerSecret []byte

	// Store is the projection store; OpenStore, if set, opens it instead
	// (a caller that checks the store before use).
	Store     StoreConfig
	OpenStore func(context.Context) (store.Store, error)
	// ProjectionBatch is the most entries per projection write; zero: the
	// projector's default.
	ProjectionBatch int

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Node is an open ledger node. Its parts are exported for the commands
// that report on them (sizes, metrics) and serve them (the log's API).
type Node struct {
	Log       *merkle.Log
	Payloads  *ingest.Payloads
	Store     store.Store
	Projector *ingest.Projector
	Ingester  *ingest.Ingester   // nil with Config.NoIngest
	Publisher *witness.Publisher // nil without Config.Witnesses

	logger  *slog.Logger
	closers []func() error
}

// Open opens a node in the package's order. On error it closes what it
// opened.
func Open(ctx context.Context, cfg Config) (_ *Node, err error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{logger: logger}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.Log, err = openLog(ctx, cfg); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.Log.Close)
	if n.Payloads, err = ingest.OpenPayloads(cfg.Ingest.PayloadDir, n.Log.Size()); err != nil {
		return nil, err
	}
	open := cfg.OpenStore
	if open == nil {
		open = func(ctx context.Context) (store.Store, error) { return OpenStore(ctx, cfg.Store) }
	}
	if n.Store, err = open(ctx); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.Store.Close)
	n.Projector = &ingest.Projector{Log: n.Log, Payloads: n.Payloads, Store: n.Store, Catalog: cfg.Catalog,
		LedgerSecret: cfg.LedgerSecret, BatchSize: cfg.ProjectionBatch,
		Logger: logger.With("component", "projector"), Registerer: cfg.Registerer}
	if cfg.NoIngest {
		return n, nil
	}
	var wit ingest.Witnessing
	if cfg.Witnesses != nil {
		c, err := witness.NewCosigner(cfg.Witnesses, nil, cfg.WitnessTimeout, logger.With("component", "witnesses"))
		if err != nil {
			return nil, err
		}
		n.Publisher = witness.NewPublisher(n.Log, c, logger.With("component", "witnesses"))
		wit = n.Publisher
	}
	n.Ingester, err = ingest.New(ctx, cfg.Ingest, ingest.Deps{Log: n.Log, Catalog: cfg.Catalog, Keys: cfg.Keys,
		Payloads: n.Payloads, Projection: n.Projector, Witnessing: wit, Logger: logger.With("component", "ingest"), Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// openLog opens the log, waiting as a standby while another process holds
// it if cfg says so.
func openLog(ctx context.Context, cfg Config) (*merkle.Log, error) {
	opts := merkle.Options{SignerKey: cfg.LogKey, Witnessed: cfg.Witnesses != nil}
	lg, err := merkle.Open(ctx, cfg.LogDir, opts)
	if err == nil || !errors.Is(err, merkle.ErrLocked) {
		return lg, err
	}
	if !cfg.WaitForLock {
		return nil, fmt.Errorf("%s is held by another writer: %w", cfg.LogDir, err)
	}
	if cfg.OnStandby != nil {
		cfg.OnStandby()
	}
	opts.WaitForLock = true
	return merkle.Open(ctx, cfg.LogDir, opts)
}

// Run runs ingest, the witness publisher (with Config.Witnesses) and the
// projector until ctx ends or one of them fails, then stops ingest first
// (no new appends), the projector second and the publisher last. It
// returns the first failure, naming the part; nil when ctx ended it.
func (n *Node) Run(ctx context.Context) error {
	if n.Ingester == nil {
		return errors.New("node: opened without ingest")
	}
	if n.Publisher != nil {
		pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
		pubDone := make(chan struct{})
		go func() { n.Publisher.Run(pubCtx); close(pubDone) }()
		defer func() { stopPub(); <-pubDone }()
	}
	inCtx, stopIn := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIn()
	pjCtx, stopPj := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPj()
	inDone, pjDone := make(chan error, 1), make(chan error, 1)
	go func() { inDone <- n.Ingester.Run(inCtx) }()
	go func() { pjDone <- n.Projector.Run(pjCtx) }()

	var failed error
	select {
	case <-ctx.Done():
	case err := <-inDone:
		inDone <- err
		failed = fmt.Errorf("ingest: %w", err)
	case err := <-pjDone:
		pjDone <- err
		failed = fmt.Errorf("projector: %w", err)
	}
	stopIn()
	if err := <-inDone; !errors.Is(err, context.Canceled) && failed == nil {
		failed = fmt.Errorf("ingest: %w", err)
	}
	n.logger.Info("ingest stopped", "log_size", n.Log.Size())
	stopPj()
	if err := <-pjDone; !errors.Is(err, context.Canceled) && failed == nil {
		failed = fmt.Errorf("projector: %w", err)
	}
	n.logger.Info("projector stopped", "projected", n.Projector.ProjectedSize())
	return failed
}

// Close closes the store, then the log (releasing its writer lock). Call
// it after Run has returned.
func (n *Node) Close() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		if err := n.closers[i](); err != nil {
			n.logger.Warn("close", "err", err)
			errs = append(errs, err)
		}
	}
	n.closers = nil
	return errors.Join(errs...)
}
