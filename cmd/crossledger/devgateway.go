package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/graphiql"
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// devGatewayID is the department id the dev gateway signs access entries
// as (its key is in the demo genesis).
const devGatewayID = "gateway"

// devGateway is the gateway part of `crossledger dev` (and of `crossledger
// bench query`). close releases what [openInProcGateway] opened.
type devGateway struct {
	gw      *gateway.Gateway
	client  *adapters.Client // signs access entries, publishes to the access topic
	fwd     *adapters.Forwarder
	issuer  *auth.DevIssuer
	token   string // a ready-made analyst token for the banner
	closers []func() error
}

// gatewayOptions say how [openInProcGateway] differs between dev and bench.
type gatewayOptions struct {
	// Data is the data directory: the gateway's outbox is
	// Data/outbox/gateway.db, the dev issuer's key Data/gateway/dev-issuer.pem.
	Data string
	// Rate limits requests; zero: the gateway's defaults.
	Rate limits.RateConfig
	// Registerer gets the gateway's metrics; nil: none.
	Registerer prometheus.Registerer
}

// openGateway opens the gateway over dev's log and SQLite projection, with
// the dev token issuer (data/gateway/dev-issuer.pem, shared with
// `crossledger token`).
func (d *devLedger) openGateway(ctx context.Context, brokers []string, keys *schema.KeyRing) (*devGateway, error) {
	dg, err := openInProcGateway(ctx, d.env.logger, d.inProcLedger, gatewayOptions{Data: d.opts.data, Registerer: d.reg})
	if err != nil {
		return nil, err
	}
	d.defer_(dg.close)
	return dg, nil
}

// openInProcGateway opens a gateway over l's log and store (serving every
// department from it), writing access entries through an SDK client that
// signs as [devGatewayID] and publishes to l's access topic, trusting the
// dev token issuer. The caller runs dg.client.Run and serves
// dg.gw.Handler(); dg.close closes the gateway, the authenticator, the
// forwarder and the client, in that order. On error it closes what it
// opened.
func openInProcGateway(ctx context.Context, logger *slog.Logger, l *inProcLedger, o gatewayOptions) (_ *devGateway, err error) {
	dg := &devGateway{}
	defer func() {
		if err != nil {
			dg.close()
		}
	}()
	c, err := adapters.Open(ctx, adapters.Config{
		Department: devGatewayID, Key: schema.DemoKey(devGatewayID), RecordSecret: schema.DemoSecret(devGatewayID),
		Catalog: l.catalog, LogVerifier: l.log.Verifier(), Brokers: l.brokers,
		ChangesTopic: l.ingestCfg.AccessTopic, ReceiptsTopic: l.ingestCfg.ReceiptsTopic,
		OutboxPath: filepath.Join(o.Data, "outbox", devGatewayID+".db"),
		OnRejected: func(r adapters.Rejection) {
			logger.Error("dev: access entry rejected", "seq", r.Seq, "reason", r.Reason)
		},
		Logger: logger.With("department", devGatewayID),
	})
	if err != nil {
		return nil, err
	}
	dg.client = c
	dg.closers = append(dg.closers, c.Close)
	dg.fwd = adapters.NewForwarder(l.brokers, l.ingestCfg.ChangesTopic)
	dg.closers = append(dg.closers, dg.fwd.Close)

	if dg.issuer, err = auth.LoadOrCreateDevIssuer(devIssuerKey(o.Data), devIssuerName); err != nil {
		return nil, err
	}
	authn, err := auth.New(ctx, []auth.IssuerConfig{dg.issuer.Config()})
	if err != nil {
		return nil, err
	}
	dg.closers = append(dg.closers, authn.Close)
	if dg.token, err = dg.issuer.Issue(auth.Identity{User: "analyst-1", Department: demo.RealEstate, Roles: []auth.Role{auth.RoleAnalyst}}, 8*time.Hour); err != nil {
		return nil, err
	}
	stores := map[string]store.Reader{}
	for _, dept := range l.catalog.Departments() {
		stores[dept] = l.store
	}
	dg.gw, err = gateway.New(gateway.Config{ID: devGatewayID, LedgerSecret: l.secret, Purposes: demo.Purposes(), Rate: o.Rate}, gateway.Deps{
		Log: l.log, Stores: stores, Ledger: l.store, Catalog: l.catalog, Keys: l.keys, Auth: authn,
		Access: adapters.AccessWriter{Client: c}, Grants: dg.fwd, Registerer: o.Registerer, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	dg.closers = append(dg.closers, dg.gw.Close)
	return dg, nil
}

// close closes what openInProcGateway opened, in reverse order.
func (dg *devGateway) close() error {
	var errs []error
	for i := len(dg.closers) - 1; i >= 0; i-- {
		errs = append(errs, dg.closers[i]())
	}
	dg.closers = nil
	return errors.Join(errs...)
}

// devHandler composes dev's HTTP API: GraphQL, GraphiQL, the log's tile
// and proof API, and metrics.
func (d *devLedger) devHandler(dg *devGateway) http.Handler {
	mux := http.NewServeMux()
	logAPI := d.log.Handler()
	for _, p := range []string{"/checkpoint", "/tile/", "/proof/"} {
		mux.Handle(p, logAPI)
	}
	mux.Handle("/graphql", dg.gw.Handler())
	mux.Handle("/", graphiql.Handler("/graphql"))
	return withMetrics(d.reg, mux)
}

// seedGrants is how many of each department's first seqs are the demo
// grants (published before its data).
func seedGrants(dept string) []schema.Grant { return demo.Grants()[dept] }

// publishGrants publishes the demo grants of dept from index from on.
func (d *devLedger) publishGrants(ctx context.Context, dept string, from int) error {
	gs := seedGrants(dept)
	for i := from; i < len(gs); i++ {
		g := gs[i]
		_, err := d.clients[dept].PublishEnvelope(ctx, &schema.Envelope{Kind: schema.KindGrant, Grant: &g}, nil)
		if err != nil && !errors.Is(err, adapters.ErrQueued) {
			return fmt.Errorf("couldn't publish %s's grant to %s: %w", dept, g.Consumer, err)
		}
	}
	return nil
}

// exampleCitizen picks a citizen of the demo data set with records in
// several departments: a married title owner.
func exampleCitizen(gen []demo.Change) string {
	owners := map[string]bool{}
	for _, c := range gen {
		if c.Type == "property-title" {
			owners[c.Values["owner_id"]] = true
		}
	}
	var ids []string
	for _, c := range gen {
		if c.Type == "marriage" && c.Values["status"] == "married" && owners[c.Values["spouse_a_id"]] {
			ids = append(ids, c.Values["spouse_a_id"])
		}
	}
	if len(ids) == 0 {
		for id := range owners {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
