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
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/schema"
)

// devGatewayID is the department id the dev gateway signs access entries
// as (its key is in the demo genesis).
const devGatewayID = "gateway"

// devGateway is the gateway part of `crossledger dev` (and of `crossledger
// bench query`): the shared gateway assembly over the in-process log and
// store, trusting the dev token issuer.
type devGateway struct {
	*node.Gateway
	issuer *auth.DevIssuer
	token  string // a ready-made analyst token for the banner
}

// gatewayOptions say how [openDevGateway] differs between dev and bench.
type gatewayOptions struct {
	// Data is the data directory: the gateway's outbox is
	// Data/outbox/gateway.db, the dev issuer's key Data/gateway/dev-issuer.pem.
	Data string
	// Rate limits requests; zero: the gateway's defaults.
	Rate limits.RateConfig
	// Registerer gets the gateway's metrics; nil: none.
	Registerer prometheus.Registerer
}

// openDevGateway opens a gateway over l's log and store (serving every
// department from it), writing access entries signed as [devGatewayID] to
// l's access topic, trusting the dev token issuer (shared with
// `crossledger token`). The caller runs dg.Run, serves dg.Handler() and
// closes dg.
func openDevGateway(ctx context.Context, logger *slog.Logger, l *node.Local, o gatewayOptions) (*devGateway, error) {
	issuer, err := auth.LoadOrCreateDevIssuer(devIssuerKey(o.Data), devIssuerName)
	if err != nil {
		return nil, err
	}
	token, err := issuer.Issue(auth.Identity{User: "analyst-1", Department: demo.RealEstate, Roles: []auth.Role{auth.RoleAnalyst}}, 8*time.Hour)
	if err != nil {
		return nil, err
	}
	gw, err := node.OpenGateway(ctx, node.GatewayConfig{
		Gateway: gateway.Config{ID: devGatewayID, LedgerSecret: l.Secret, Purposes: demo.Purposes(), Rate: o.Rate},
		Log:     l.Log, Store: l.Store, Catalog: l.Catalog, Keys: l.Keys, Issuers: []auth.IssuerConfig{issuer.Config()},
		Key: schema.DemoKey(devGatewayID), LogVerifier: l.Log.Verifier(), Brokers: l.Brokers,
		AccessTopic: l.Ingest.AccessTopic, ReceiptsTopic: l.Ingest.ReceiptsTopic, ChangesTopic: l.Ingest.ChangesTopic,
		OutboxPath: filepath.Join(o.Data, "outbox", devGatewayID+".db"),
		Logger:     logger.With("department", devGatewayID), Registerer: o.Registerer,
	})
	if err != nil {
		return nil, err
	}
	return &devGateway{Gateway: gw, issuer: issuer, token: token}, nil
}

// devHandler composes dev's HTTP API: the gateway's (GraphQL, GraphiQL,
// health), the log's tile and proof API, and metrics.
func (d *devLedger) devHandler(dg *devGateway) http.Handler {
	mux := http.NewServeMux()
	logAPI := d.Log.Handler()
	for _, p := range []string{"/checkpoint", "/tile/", "/proof/"} {
		mux.Handle(p, logAPI)
	}
	mux.Handle("/", dg.Handler())
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
