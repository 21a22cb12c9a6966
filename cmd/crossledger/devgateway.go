package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/graphiql"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// devGatewayID is the department id the dev gateway signs access entries
// as (its key is in the demo genesis).
const devGatewayID = "gateway"

// devGateway is the gateway part of `crossledger dev`.
type devGateway struct {
	gw     *gateway.Gateway
	client *adapters.Client // signs access entries, publishes to crossledger.access
	fwd    *adapters.Forwarder
	issuer *auth.DevIssuer
	token  string // a ready-made analyst token for the banner
}

// openGateway opens the gateway over dev's log and SQLite projection, with
// the dev token issuer (data/gateway/dev-issuer.pem, shared with
// `crossledger token`), and returns the HTTP handler serving GraphQL at
// /graphql, GraphiQL at /, the log's tile API and /metrics.
func (d *devLedger) openGateway(ctx context.Context, brokers []string, keys *schema.KeyRing) (*devGateway, error) {
	dg := &devGateway{}
	c, err := adapters.Open(ctx, adapters.Config{
		Department: devGatewayID, Key: schema.DemoKey(devGatewayID), RecordSecret: schema.DemoSecret(devGatewayID),
		Catalog: d.catalog, LogVerifier: d.log.Verifier(), Brokers: brokers, ChangesTopic: ingest.TopicAccess,
		OutboxPath: d.path("outbox", devGatewayID+".db"),
		OnRejected: func(r adapters.Rejection) {
			d.env.logger.Error("dev: access entry rejected", "seq", r.Seq, "reason", r.Reason)
		},
		Logger: d.env.logger.With("department", devGatewayID),
	})
	if err != nil {
		return nil, err
	}
	dg.client = c
	d.defer_(c.Close)
	dg.fwd = adapters.NewForwarder(brokers, ingest.TopicChanges)
	d.defer_(dg.fwd.Close)

	if dg.issuer, err = auth.LoadOrCreateDevIssuer(devIssuerKey(d.opts.data), devIssuerName); err != nil {
		return nil, err
	}
	authn, err := auth.New(ctx, []auth.IssuerConfig{dg.issuer.Config()})
	if err != nil {
		return nil, err
	}
	d.defer_(authn.Close)
	if dg.token, err = dg.issuer.Issue(auth.Identity{User: "analyst-1", Department: demo.RealEstate, Roles: []auth.Role{auth.RoleAnalyst}}, 8*time.Hour); err != nil {
		return nil, err
	}
	stores := map[string]store.Store{}
	for _, dept := range d.catalog.Departments() {
		stores[dept] = d.store
	}
	dg.gw, err = gateway.New(gateway.Config{ID: devGatewayID, LedgerSecret: d.secret, Purposes: demo.Purposes()}, gateway.Deps{
		Log: d.log, Stores: stores, Ledger: d.store, Catalog: d.catalog, Keys: keys, Auth: authn,
		Access: adapters.AccessWriter{Client: c}, Grants: dg.fwd, Registerer: d.reg, Logger: d.env.logger,
	})
	if err != nil {
		return nil, err
	}
	d.defer_(dg.gw.Close)
	return dg, nil
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
