package dev

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

// GatewayID is the department id the dev gateway signs access entries
// as (its key is in the demo genesis).
const GatewayID = "gateway"

// Gateway is the gateway part of `crossledger dev` (and of `crossledger
// bench query`): the shared gateway assembly over the in-process log and
// store, trusting the dev token issuer.
type Gateway struct {
	*node.Gateway
	issuer *auth.DevIssuer
	Token  string // a ready-made analyst token for the banner
}

// GatewayOptions say how [OpenGateway] differs between dev and bench.
type GatewayOptions struct {
	// Data is the data directory: the gateway's outbox is
	// Data/outbox/gateway.db, the dev issuer's key Data/gateway/dev-issuer.pem.
	Data string
	// Rate limits requests; zero: the gateway's defaults.
	Rate limits.RateConfig
	// Registerer gets the gateway's metrics; nil: none.
	Registerer prometheus.Registerer
}

// OpenGateway opens a gateway over l's log and store (serving every
// department from it), writing access entries signed as [GatewayID] to
// l's access topic, trusting the dev token issuer (shared with
// `crossledger token`). The caller runs dg.Run, serves dg.Handler() and
// closes dg.
func OpenGateway(ctx context.Context, logger *slog.Logger, l *node.Local, o GatewayOptions) (*Gateway, error) {
	issuer, err := auth.LoadOrCreateDevIssuer(IssuerKey(o.Data), IssuerName)
	if err != nil {
		return nil, err
	}
	token, err := issuer.Issue(auth.Identity{User: "analyst-1", Department: demo.RealEstate, Roles: []auth.Role{auth.RoleAnalyst}}, 8*time.Hour)
	if err != nil {
		return nil, err
	}
	gw, err := node.OpenGateway(ctx, node.GatewayConfig{
		Gateway: gateway.Config{ID: GatewayID, LedgerSecret: l.Secret, Purposes: demo.Purposes(), Rate: o.Rate},
		Log:     l.Log, Store: l.Store, Catalog: l.Catalog, Keys: l.Keys, Issuers: []auth.IssuerConfig{issuer.Config()},
		Key: schema.DemoKey(GatewayID), LogVerifier: l.Log.Verifier(), Brokers: l.Brokers,
		AccessTopic: l.Ingest.AccessTopic, ReceiptsTopic: l.Ingest.ReceiptsTopic, ChangesTopic: l.Ingest.ChangesTopic,
		OutboxPath: filepath.Join(o.Data, "outbox", GatewayID+".db"),
		Logger:     logger.With("department", GatewayID), Registerer: o.Registerer,
	})
	if err != nil {
		return nil, err
	}
	return &Gateway{Gateway: gw, issuer: issuer, Token: token}, nil
}

// devHandler composes dev's HTTP API: the gateway's (GraphQL, GraphiQL,
// health), the log's tile and proof API, and metrics.
func (d *devLedger) devHandler(dg *Gateway) http.Handler {
	mux := http.NewServeMux()
	logAPI := d.Log.Handler()
	for _, p := range []string{"/checkpoint", "/tile/", "/proof/"} {
		mux.Handle(p, logAPI)
	}
	mux.Handle("/", dg.Handler())
	return node.WithMetrics(d.reg, mux)
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

// IssuerName is the iss of the tokens of the local dev issuer, which
// `crossledger dev` trusts.
const IssuerName = "crossledger-dev"

// IssuerKey is where the dev issuer's Ed25519 key lives in a data
// directory; `crossledger dev` and `crossledger token` share it.
func IssuerKey(data string) string {
	return filepath.Join(data, "gateway", "dev-issuer.pem")
}
