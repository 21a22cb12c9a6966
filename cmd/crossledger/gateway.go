package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/config"
	"github.com/crossledger/crossledger/schema"
)

const gatewaySynopsis = `gateway [--config crossledger.yaml] [--check]

Runs the GraphQL gateway against a running ledger: it follows the log over
its HTTP API (gateway.log_url, served by 'crossledger ingest'), accepting a
checkpoint only if it is signed by gateway.log_public_key and consistent
with the last one; reads the projection store (store section: SQLite, or
ClickHouse with per-department servers); authenticates callers with the
configured token issuers; and writes an access entry for every answer to
Kafka (acks=all) through its own outbox (gateway.outbox), signed with
gateway.key_file as department gateway.id.

On gateway.listen it serves:
  /graphql  GraphQL (POST, application/json)
  /         GraphiQL
  /metrics  Prometheus metrics (crossledger_gateway_*)
  /healthz  200 while the process runs
  /readyz   200 while the log is followed and the access outbox drains

SIGTERM or Ctrl-C stops it.`

func runGateway(ctx context.Context, env *cliEnv, args []string) error {
	cfg, err := configCommand(env, "gateway", gatewaySynopsis, args, (*config.Config).ValidateGateway)
	if cfg == nil || err != nil {
		return err
	}
	return serveGateway(ctx, env, cfg)
}

func serveGateway(ctx context.Context, env *cliEnv, cfg *config.Config) error {
	logger := env.logger
	key, err := cfg.GatewayKey()
	if err != nil {
		return err
	}
	secret, catalog, genesis, err := loadLedgerConfig(cfg, logger)
	if err != nil {
		return err
	}
	keys, err := schema.NewKeyRing(genesis)
	if err != nil {
		return err
	}
	vkey, err := cfg.LogPublicKey()
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("gateway.log_public_key: %w", err)
	}
	policy, err := cfg.GatewayWitnessPolicy()
	if err != nil {
		return err
	}
	var remoteOpts []merkle.RemoteOption
	if policy != nil {
		remoteOpts = append(remoteOpts, merkle.WithCheckpointCheck(func(signed []byte) error {
			_, err := policy.Check(signed, verifier)
			return err
		}))
	}
	log, err := merkle.OpenRemote(ctx, cfg.Gateway.LogURL, verifier, nil, 500*time.Millisecond, logger, remoteOpts...)
	if err != nil {
		return fmt.Errorf("couldn't follow the log at %s: %w", cfg.Gateway.LogURL, err)
	}
	defer log.Close()

	st, err := node.OpenStore(ctx, storeConfig(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	reg := node.NewRegistry()
	gcfg := cfg.GatewayConfig()
	gcfg.LedgerSecret = secret
	k := cfg.Kafka
	gw, err := node.OpenGateway(ctx, node.GatewayConfig{
		Gateway: gcfg, Log: log, Store: st, Catalog: catalog, Keys: keys, Issuers: cfg.Gateway.Issuers,
		Key: key, LogVerifier: verifier, Brokers: k.Brokers,
		AccessTopic: k.Topics.Access, ReceiptsTopic: k.Topics.Receipts, ChangesTopic: k.Topics.Changes,
		OutboxPath: cfg.Gateway.Outbox, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return err
	}
	defer gw.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", node.MetricsHandler(reg))
	mux.Handle("/", gw.Handler())

	ln, err := net.Listen("tcp", cfg.GatewayListen())
	if err != nil {
		return fmt.Errorf("couldn't listen on gateway.listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(env.stdout, "crossledger gateway: GraphQL http://%s/graphql, GraphiQL http://%s/; log %s (size %d)\n",
		ln.Addr(), ln.Addr(), cfg.Gateway.LogURL, logSizeOf(log))

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clientDone := make(chan error, 1)
	go func() { clientDone <- gw.Run(cctx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-served:
		cancel()
		<-clientDone
		return fmt.Errorf("HTTP server: %w", err)
	case err = <-clientDone:
		if err != nil && ctx.Err() == nil {
			srv.Close()
			return fmt.Errorf("access outbox: %w", err)
		}
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	cancel()
	if err := <-clientDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Warn("gateway: access outbox stopped", "err", err)
	}
	logger.Info("gateway stopped")
	return nil
}

func logSizeOf(l gateway.Ledger) uint64 {
	cp, _, err := merkle.ParseCheckpoint(l.Checkpoint(), l.Verifier())
	if err != nil {
		return 0
	}
	return cp.Size
}
