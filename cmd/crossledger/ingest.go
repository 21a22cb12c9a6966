package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/config"
	"github.com/crossledger/crossledger/schema"
)

const ingestSynopsis = `ingest [--config FILE] [--check]

Runs ingest, the transparency log and the projector against external Kafka
brokers and a projection store (SQLite or ClickHouse), configured by one
YAML file (sections log, kafka, catalog, genesis, ingest, store,
ledger_secret, metrics; see ops/config/example.yaml). Secrets may stay out
of the file: $CROSSLEDGER_LOG_KEY (the log key itself),
$CROSSLEDGER_LEDGER_SECRET, $CROSSLEDGER_CLICKHOUSE_PASSWORD[_<DEPT>].

On metrics.listen it serves:
  /metrics  Prometheus metrics (crossledger_ingest_*, crossledger_projector_*, go_*, process_*)
  /healthz  200 while the process runs
  /readyz   200 when the log is open (not standby), a broker answers and ingest is not paused

With log.witness_policy (a C2SP tlog-policy file naming witnesses and their
URLs), a checkpoint is published — at /checkpoint, in receipts and proofs —
only once the policy's quorum cosigned it; below quorum nothing new is
published, receipts wait and ingest pauses (/readyz and
crossledger_ingest_paused{reason="witnesses"} say so).

It holds the log's writer lock. With log.wait_for_lock (the default), a
second instance on the same log directory waits as a standby (its /readyz
says so) and takes over when the first exits. SIGTERM or Ctrl-C stops, in
this order: ingest, projector, store, log (releasing the lock), HTTP.`

func runIngest(ctx context.Context, env *cliEnv, args []string) error {
	cfg, err := configCommand(env, "ingest", ingestSynopsis, args, (*config.Config).ValidateIngest)
	if cfg == nil || err != nil {
		return err
	}
	n := &ingestNode{cfg: cfg, env: env, logger: env.logger}
	return n.run(ctx)
}

// configCommand parses the flags of a command that runs from the YAML
// config (--config, --check), loads the file and validates it for the
// command. It returns a nil config (and nil error) when --check asked only
// for validation, which it reported.
func configCommand(env *cliEnv, name, synopsis string, args []string, validate func(*config.Config) error) (*config.Config, error) {
	f := newFlags(env, name, synopsis)
	file := f.String("config", "crossledger.yaml", "configuration file (YAML)")
	check := f.Bool("check", false, "validate the configuration file and exit")
	if err := parse(f, args, 0); err != nil {
		return nil, err
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return nil, err
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if *check {
		fmt.Fprintf(env.stdout, "%s: ok\n", *file)
		return nil, nil
	}
	return cfg, nil
}

// loadLedgerConfig reads what every ledger process needs from the config:
// the ledger secret, the catalog and the genesis; it warns when they are
// the built-in demo ones.
func loadLedgerConfig(cfg *config.Config, logger *slog.Logger) (secret []byte, catalog *schema.Catalog, genesis *schema.Genesis, err error) {
	if secret, err = cfg.Secret(); err != nil {
		return nil, nil, nil, fmt.Errorf("ledger_secret: %w", err)
	}
	if catalog, err = cfg.LoadCatalog(); err != nil {
		return nil, nil, nil, err
	}
	if genesis, err = cfg.LoadGenesis(); err != nil {
		return nil, nil, nil, err
	}
	if cfg.UsesDemoKeys() {
		logger.Warn("using the built-in demo catalog or genesis: demo keys come from public seeds; set catalog.dir and genesis.file for a real ledger")
	}
	return secret, catalog, genesis, nil
}

// Node states, as /readyz reports them.
const (
	nodeStarting = "starting"
	nodeStandby  = "standby: waiting for the log's writer lock"
	nodeRunning  = "running"
	nodeStopping = "stopping"
)

// ingestNode is one `crossledger ingest` process.
type ingestNode struct {
	cfg    *config.Config
	env    *cliEnv
	logger *slog.Logger

	state    atomic.Value // string: a node* constant
	ingester atomic.Pointer[ingest.Ingester]
	log      atomic.Pointer[merkle.Log] // set once the log is open (not while standby)
}

func (n *ingestNode) run(ctx context.Context) error {
	cfg := n.cfg
	n.state.Store(nodeStarting)
	// Read the secrets first: a bad key should fail before any standby wait.
	skey, err := cfg.LogKey()
	if err != nil {
		return err
	}
	if _, _, err := merkle.NewSigner(skey); err != nil {
		return fmt.Errorf("couldn't use the log key: %w", err)
	}
	secret, catalog, genesis, err := loadLedgerConfig(cfg, n.logger)
	if err != nil {
		return err
	}
	ring, err := schema.NewKeyRing(genesis)
	if err != nil {
		return err
	}
	policy, err := cfg.WitnessPolicy()
	if err != nil {
		return err
	}

	reg := node.NewRegistry()
	ln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("couldn't listen on metrics.listen: %w", err)
	}
	srv := &http.Server{Handler: n.handler(reg), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-served
		n.logger.Info("stopped")
	}()
	fmt.Fprintf(n.env.stdout, "crossledger ingest: /metrics /healthz /readyz on http://%s\n", ln.Addr())
	n.logger.Info("serving metrics and health", "addr", ln.Addr().String())

	nd, err := node.Open(ctx, node.Config{
		LogDir: cfg.Log.Dir, LogKey: skey, WaitForLock: *cfg.Log.WaitForLock,
		OnStandby: func() {
			n.state.Store(nodeStandby)
			n.logger.Info("the log is held by another writer; waiting as standby", "dir", cfg.Log.Dir)
		},
		Ingest: cfg.IngestConfig(), Catalog: catalog, Keys: ring, LedgerSecret: secret,
		Witnesses: policy, WitnessTimeout: cfg.Log.WitnessTimeout,
		Store: storeConfig(cfg), ProjectionBatch: cfg.Store.BatchSize,
		Logger: n.logger, Registerer: reg,
	})
	if err != nil {
		if ctx.Err() != nil {
			n.logger.Info("stopped while standby")
			return nil
		}
		if errors.Is(err, merkle.ErrLocked) {
			return fmt.Errorf("%w (log.wait_for_lock is false)", err)
		}
		return err
	}
	defer nd.Close()
	if n.state.Load() == nodeStandby {
		n.logger.Info("took over the log", "dir", cfg.Log.Dir, "size", nd.Log.Size())
	}
	if genesis.Origin != nd.Log.Origin() {
		n.logger.Warn("the genesis origin differs from the log key's origin", "genesis", genesis.Origin, "log", nd.Log.Origin())
	}
	n.log.Store(nd.Log)
	defer n.log.Store(nil)
	n.ingester.Store(nd.Ingester)
	n.state.Store(nodeRunning)
	n.logger.Info("ingest running", "log_size", nd.Log.Size(), "brokers", strings.Join(cfg.Kafka.Brokers, ","),
		"changes_topic", cfg.Kafka.Topics.Changes)
	if policy != nil {
		n.logger.Info("publishing only checkpoints the witnesses' quorum cosigned", "quorum", policy.Quorum(), "witnesses", len(policy.Witnesses),
			"published_size", nd.Log.PublishedSize())
	}

	// The node stops ingest, then the projector, when ctx ends or either
	// fails; the metrics server failing stops it too.
	nctx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- nd.Run(nctx) }()
	var failed error
	select {
	case <-ctx.Done():
		n.state.Store(nodeStopping)
		n.logger.Info("stopping: ingest, projector, store, log, HTTP")
		failed = <-ran
	case failed = <-ran:
	case err := <-served:
		served <- err
		stop()
		failed = errors.Join(fmt.Errorf("metrics server: %w", err), <-ran)
	}
	n.state.Store(nodeStopping)
	return failed
}

// storeConfig is the projection store the config file names.
func storeConfig(cfg *config.Config) node.StoreConfig {
	if cfg.Store.SQLite != nil {
		sc := cfg.SQLiteConfig()
		return node.StoreConfig{SQLite: &sc}
	}
	cc := cfg.ClickHouseConfig()
	return node.StoreConfig{ClickHouse: &cc}
}

func (n *ingestNode) handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", node.MetricsHandler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// The log's read API (tiles, checkpoint, proofs) for auditors and the
	// gateway, once this instance holds the log.
	logAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lg := n.log.Load()
		if lg == nil {
			http.Error(w, "the log is not open here (standby or stopping)", http.StatusServiceUnavailable)
			return
		}
		lg.Handler().ServeHTTP(w, r)
	})
	for _, p := range []string{"/checkpoint", "/tile/", "/proof/"} {
		mux.Handle(p, logAPI)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := n.ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// ready reports why the node is not doing its job, or nil.
func (n *ingestNode) ready(ctx context.Context) error {
	if s := n.state.Load().(string); s != nodeRunning {
		return errors.New(s)
	}
	if p, why := n.ingester.Load().Paused(); p {
		return fmt.Errorf("paused: %s", why)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var errs []error
	for _, b := range n.cfg.Kafka.Brokers {
		conn, err := kafka.DialContext(ctx, "tcp", b)
		if err == nil {
			conn.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no broker answers: %w", errors.Join(errs...))
}
