package node

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/ops"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// LocalConfig says how to open a [Local] ledger.
type LocalConfig struct {
	// Dir holds log/, payloads/ and (embedded broker) broker/.
	Dir string
	// LogKey signs the log; LedgerSecret keys the projection's subject
	// tags (the caller keeps both, e.g. in Dir/log.key and
	// Dir/ledger.secret).
	LogKey       string
	LedgerSecret []byte
	// Brokers are an external broker's addresses; nil starts the
	// embedded broker on BrokerListen with its data in Dir/broker.
	Brokers      []string
	BrokerListen string
	// Ingest is ingest's configuration; Brokers and PayloadDir are set
	// here. Its topics are created before OpenLocal returns.
	Ingest ingest.Config
	// Witnesses, if set, is the policy whose quorum must cosign each
	// checkpoint before it is published (see [Config.Witnesses]).
	Witnesses *witness.Policy

	// Store is the projection store; OpenStore, if set, opens it instead.
	Store     StoreConfig
	OpenStore func(context.Context) (store.Store, error)

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Local is the whole ledger side in one process, as `crossledger dev` and
// `crossledger bench` run it: a broker (embedded or external), the demo
// catalog and genesis, and a [Node].
type Local struct {
	*Node
	Broker  *ops.Broker // nil on an external broker
	Brokers []string
	Catalog *schema.Catalog
	Keys    *schema.KeyRing
	Secret  []byte
	Ingest  ingest.Config // with its defaults: the topics clients use
}

// OpenLocal opens, in this order, the broker, the node and the topics (a
// message produced to a topic the broker auto-creates is not seen by
// ingest's first fetch, so they are created before any client publishes).
// On error it closes what it opened.
func OpenLocal(ctx context.Context, cfg LocalConfig) (_ *Local, err error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Local{Brokers: cfg.Brokers, Secret: cfg.LedgerSecret}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.Brokers == nil {
		bcfg := ops.DefaultBrokerConfig()
		bcfg.Listen, bcfg.DataDir = cfg.BrokerListen, filepath.Join(cfg.Dir, "broker")
		if l.Broker, err = ops.StartBroker(bcfg, logger); err != nil {
			return nil, err
		}
		l.Brokers = []string{l.Broker.Addr()}
	}
	g, err := schema.DemoGenesis()
	if err != nil {
		return nil, err
	}
	if l.Keys, err = schema.NewKeyRing(g); err != nil {
		return nil, err
	}
	l.Catalog = schema.Demo()
	icfg := cfg.Ingest
	icfg.Brokers, icfg.PayloadDir = l.Brokers, filepath.Join(cfg.Dir, "payloads")
	icfg.SetDefaults()
	l.Ingest = icfg
	l.Node, err = Open(ctx, Config{
		LogDir: filepath.Join(cfg.Dir, "log"), LogKey: cfg.LogKey, Ingest: icfg,
		Catalog: l.Catalog, Keys: l.Keys, LedgerSecret: cfg.LedgerSecret, Witnesses: cfg.Witnesses,
		Store: cfg.Store, OpenStore: cfg.OpenStore, Logger: logger, Registerer: cfg.Registerer,
	})
	if err != nil {
		return nil, err
	}
	if err := ingest.EnsureTopics(ctx, l.Brokers, icfg.TopicPartitions, icfg.ReplicationFactor,
		icfg.ChangesTopic, icfg.AccessTopic, icfg.ReceiptsTopic, icfg.RejectedTopic); err != nil {
		return nil, err
	}
	return l, nil
}

// Start runs the node (ingest and the projector) in the background until
// stop is called: not when ctx ends, since callers stop their clients
// first. A failure is sent on failed, which has room for capacity more
// (callers may send their own failures to it too).
func (l *Local) Start(ctx context.Context, capacity int) (failed chan error, stop func()) {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	failed = make(chan error, capacity+1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Node.Run(lctx); err != nil {
			failed <- err
		}
	}()
	return failed, func() { cancel(); <-done }
}

// Close closes the node, then the broker.
func (l *Local) Close() error {
	var err error
	if l.Node != nil {
		err = l.Node.Close()
	}
	if l.Broker != nil {
		l.Broker.Close()
		l.Broker = nil
	}
	return err
}
