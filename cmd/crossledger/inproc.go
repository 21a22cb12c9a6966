package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// inProcConfig says how to open an [inProcLedger].
type inProcConfig struct {
	// Dir holds log/, log.key, payloads/, ledger.secret and (embedded
	// broker) broker/; the key and the secret are made on first use.
	Dir string
	// Brokers are an external broker's addresses; nil starts the
	// embedded broker on BrokerListen with its data in Dir/broker.
	Brokers      []string
	BrokerListen string
	// Ingest is ingest's configuration; Brokers and PayloadDir are set
	// here. Its topics are created before openInProc returns.
	Ingest ingest.Config
	// OpenStore opens the projection store.
	OpenStore func(context.Context) (store.Store, error)
	// Registerer, if set, gets ingest's and the projector's metrics.
	Registerer prometheus.Registerer
}

// inProcLedger is the ledger side that `dev` and `bench` run in one
// process: a broker (embedded or external), the log, ingest and the
// projection store. The caller runs ingester.Run and the projector it gets
// from [inProcLedger.newProjector], stops them, then calls close.
type inProcLedger struct {
	broker    *ops.Broker // nil on an external broker
	brokers   []string
	log       *merkle.Log
	catalog   *schema.Catalog
	keys      *schema.KeyRing
	ingester  *ingest.Ingester
	store     store.Store
	secret    []byte
	ingestCfg ingest.Config // with defaults

	reg       prometheus.Registerer
	projected projectionRef
	closers   []func() error
}

// openInProc opens the parts of an in-process ledger, in this order:
// broker, log, ingest, projection store, topics. On error it closes what
// it opened.
func openInProc(ctx context.Context, logger *slog.Logger, cfg inProcConfig) (_ *inProcLedger, err error) {
	l := &inProcLedger{brokers: cfg.Brokers, reg: cfg.Registerer}
	defer func() {
		if err != nil {
			l.close(logger)
		}
	}()
	if l.brokers == nil {
		bcfg := ops.DefaultBrokerConfig()
		bcfg.Listen, bcfg.DataDir = cfg.BrokerListen, filepath.Join(cfg.Dir, "broker")
		b, err := ops.StartBroker(bcfg, logger)
		if err != nil {
			return nil, err
		}
		l.broker, l.brokers = b, []string{b.Addr()}
		l.closers = append(l.closers, func() error { b.Close(); return nil })
	}

	skey, err := devLogKey(filepath.Join(cfg.Dir, "log.key"))
	if err != nil {
		return nil, err
	}
	if l.log, err = merkle.Open(ctx, filepath.Join(cfg.Dir, "log"), merkle.Options{SignerKey: skey}); err != nil {
		return nil, err
	}
	l.closers = append(l.closers, l.log.Close)

	g, err := schema.DemoGenesis()
	if err != nil {
		return nil, err
	}
	if l.keys, err = schema.NewKeyRing(g); err != nil {
		return nil, err
	}
	l.catalog = schema.Demo()
	icfg := cfg.Ingest
	icfg.Brokers, icfg.PayloadDir = l.brokers, filepath.Join(cfg.Dir, "payloads")
	l.ingester, err = ingest.New(ctx, icfg,
		ingest.Deps{Log: l.log, Catalog: l.catalog, Keys: l.keys, Logger: logger, Projection: &l.projected, Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	icfg.SetDefaults()
	l.ingestCfg = icfg

	if l.store, err = cfg.OpenStore(ctx); err != nil {
		return nil, err
	}
	l.closers = append(l.closers, l.store.Close)
	if l.secret, err = devSecret(filepath.Join(cfg.Dir, "ledger.secret")); err != nil {
		return nil, err
	}

	// Create the topics before any client publishes: a message produced
	// to a topic the broker auto-creates is not seen by ingest's first
	// fetch, and waits for the client's re-send.
	if err := ingest.EnsureTopics(ctx, l.brokers, icfg.TopicPartitions, icfg.ReplicationFactor,
		icfg.ChangesTopic, icfg.AccessTopic, icfg.ReceiptsTopic, icfg.RejectedTopic); err != nil {
		return nil, err
	}
	return l, nil
}

// newProjector makes the projector from the log and ingest's payloads
// into the store, and lets ingest see its progress (backpressure).
func (l *inProcLedger) newProjector(logger *slog.Logger) *ingest.Projector {
	proj := &ingest.Projector{Log: l.log, Payloads: l.ingester.Payloads(), Store: l.store, Catalog: l.catalog,
		LedgerSecret: l.secret, Logger: logger, Registerer: l.reg}
	l.projected.p.Store(proj)
	return proj
}

// close closes the store, the log and the broker, in that order.
func (l *inProcLedger) close(logger *slog.Logger) {
	for i := len(l.closers) - 1; i >= 0; i-- {
		if err := l.closers[i](); err != nil {
			logger.Warn("close", "err", err)
		}
	}
	l.closers = nil
}

// runLedger runs ingest and a projector until the returned stop is called
// (not when ctx ends: the caller stops its clients first). A failure of
// either is sent on failed, which has room for capacity errors (callers
// may send their own failures to it too).
func (l *inProcLedger) runLedger(ctx context.Context, logger *slog.Logger, capacity int) (proj *ingest.Projector, failed chan error, stop func()) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	proj = l.newProjector(logger)
	failed = make(chan error, capacity)
	for what, fn := range map[string]func(context.Context) error{"ingest": l.ingester.Run, "projector": proj.Run} {
		g.Go(func() error {
			if err := fn(lctx); err != nil && lctx.Err() == nil {
				failed <- fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
	}
	return proj, failed, func() { cancel(); g.Wait() }
}
