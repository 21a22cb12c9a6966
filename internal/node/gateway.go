package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/graphiql"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// GatewayConfig says how to open a [Gateway]: the one assembly that
// `crossledger gateway` (over a log it follows by HTTP) and `crossledger
// dev` and `bench query` (over their in-process log) share.
type GatewayConfig struct {
	// Gateway is the gateway's own configuration (ID, purposes, limits,
	// ledger secret, …).
	Gateway gateway.Config
	// Log is the log the gateway answers against: a local *merkle.Log or
	// a merkle.Remote that follows one.
	Log gateway.Ledger
	// Store holds every department's projection and the ledger's access
	// entries; the gateway gets only its reader side.
	Store   store.Reader
	Catalog *schema.Catalog
	Keys    *schema.KeyRing
	// Issuers are the token issuers the gateway trusts.
	Issuers []auth.IssuerConfig

	// The access outbox: access entries are signed with Key as department
	// Gateway.ID, kept in OutboxPath, published to AccessTopic and settled
	// by verified receipts from ReceiptsTopic (signed by LogVerifier).
	// Submitted grants are forwarded to ChangesTopic.
	Key                                      ed25519.PrivateKey
	LogVerifier                              note.Verifier
	Brokers                                  []string
	AccessTopic, ReceiptsTopic, ChangesTopic string
	OutboxPath                               string

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Gateway is an open gateway with its access outbox, grant forwarder and
// authenticator. Serve [Gateway.Handler], run [Gateway.Run] (the outbox),
// then [Gateway.Close].
type Gateway struct {
	*gateway.Gateway
	log     gateway.Ledger
	access  *adapters.Publisher
	closers []func() error
}

// maxPendingAccess is how many access entries may await their receipts
// before /readyz reports the gateway not ready.
const maxPendingAccess = 1000

// OpenGateway opens, in this order, the access outbox, the grant
// forwarder, the authenticator and the gateway. On error it closes what
// it opened.
func OpenGateway(ctx context.Context, cfg GatewayConfig) (_ *Gateway, err error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{log: cfg.Log}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	id := cfg.Gateway.ID
	if g.access, err = adapters.OpenPublisher(ctx, adapters.PublisherConfig{
		Department: id, Key: cfg.Key, LogVerifier: cfg.LogVerifier,
		Brokers: cfg.Brokers, ChangesTopic: cfg.AccessTopic, ReceiptsTopic: cfg.ReceiptsTopic, OutboxPath: cfg.OutboxPath,
		OnRejected: func(r adapters.Rejection) {
			logger.Error("gateway: an access entry was rejected by ingest", "seq", r.Seq, "reason", r.Reason, "detail", r.Detail)
		},
		Logger: logger.With("component", "access-outbox"),
	}); err != nil {
		return nil, err
	}
	g.closers = append(g.closers, g.access.Close)
	fwd := adapters.NewForwarder(cfg.Brokers, cfg.ChangesTopic)
	g.closers = append(g.closers, fwd.Close)
	authn, err := auth.New(ctx, cfg.Issuers, auth.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, authn.Close)
	stores := map[string]store.Reader{}
	for _, d := range cfg.Catalog.Departments() {
		stores[d] = cfg.Store
	}
	if g.Gateway, err = gateway.New(cfg.Gateway, gateway.Deps{
		Log: cfg.Log, Stores: stores, Ledger: cfg.Store, Catalog: cfg.Catalog, Keys: cfg.Keys, Auth: authn,
		Access: adapters.AccessWriter{Publisher: g.access}, Grants: fwd, Registerer: cfg.Registerer, Logger: logger,
	}); err != nil {
		return nil, err
	}
	g.closers = append(g.closers, g.Gateway.Close)
	return g, nil
}

// Handler serves /graphql, /healthz, /readyz (the log is followed and the
// access outbox drains) and GraphiQL on /.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/graphql", g.Gateway.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := g.ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/", graphiql.Handler("/graphql"))
	return mux
}

// ready reports why the gateway is not doing its job, or nil.
func (g *Gateway) ready(ctx context.Context) error {
	if f, ok := g.log.(interface{ Err() error }); ok {
		if err := f.Err(); err != nil {
			return fmt.Errorf("the log: %w", err)
		}
	}
	n, err := g.access.Pending(ctx)
	if err != nil {
		return fmt.Errorf("the access outbox: %w", err)
	}
	if n > maxPendingAccess {
		return fmt.Errorf("%d access entries await their receipts", n)
	}
	return nil
}

// Pending is how many access entries await their receipts.
func (g *Gateway) Pending(ctx context.Context) (int, error) { return g.access.Pending(ctx) }

// Run runs the access outbox (sending entries, settling receipts) until
// ctx ends.
func (g *Gateway) Run(ctx context.Context) error { return g.access.Run(ctx) }

// Close closes the gateway, the authenticator, the forwarder and the
// outbox, in that order.
func (g *Gateway) Close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}
