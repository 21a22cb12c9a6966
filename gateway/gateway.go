package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqllog "github.com/graph-gophers/graphql-go/log"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// SDL is the gateway's GraphQL schema.
//
//go:embed schema.graphql
var SDL string

// Ledger is what the gateway reads of the log: the current signed
// checkpoint, entries and proofs. *merkle.Log implements it.
type Ledger interface {
	Checkpoint() []byte
	Verifier() note.Verifier
	Entries(ctx context.Context, from, n uint64) ([][]byte, error)
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
	ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error)
}

// AccessWriter writes access entries to the ledger. WriteAccess returns
// only once the entry is durably on its way (Kafka acks=all); its id is
// "<signer department>:<seq>". Any error fails the query that needed it.
type AccessWriter interface {
	WriteAccess(ctx context.Context, a *schema.Access) (id string, err error)
}

// GrantSender forwards a signed grant or revoke wire message to the
// ledger's changes topic (acks=all).
type GrantSender interface {
	SendGrant(ctx context.Context, department string, message []byte) error
}

// Authenticator authenticates a request's bearer token.
// *auth.Authenticator implements it.
type Authenticator interface {
	Authenticate(r *http.Request) (auth.Identity, error)
}

// Config configures a [Gateway]. Zero durations and sizes take the
// defaults named.
type Config struct {
	// ID is the gateway's own department id (the signer of access
	// entries), used as the department of denials that concern no
	// department (authentication failures). Default "gateway".
	ID string
	// LedgerSecret keys subject tags (schema.SubjectTag); it must be the
	// projector's. Required, ≥ 16 bytes.
	LedgerSecret []byte
	// Purposes are the business purposes callers may declare. Required.
	Purposes []string

	// FederationTimeout bounds person's fan-out to the departments
	// (within Limits.QueryTimeout). Default 3s.
	FederationTimeout time.Duration
	// MaxRecords bounds the records one department contributes to a
	// person answer. Default 100.
	MaxRecords int
	// GrantWait is how long a query waits for the grant scan to reach the
	// checkpoint it answers against before failing. Default 2s.
	GrantWait time.Duration
	// GrantPoll is how often the log is scanned for new grants. Default
	// 100ms.
	GrantPoll time.Duration

	// Limits bounds requests and queries: body size, length, depth,
	// selections, cost, time (see gateway/limits); zero: limits.Default().
	Limits limits.Limits
	// Rate limits requests per identity and, for unauthenticated
	// requests, per client IP; zero: limits.DefaultRates().
	Rate limits.RateConfig

	// Now is the clock for grant expiry. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.ID == "" {
		c.ID = "gateway"
	}
	if c.FederationTimeout == 0 {
		c.FederationTimeout = 3 * time.Second
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = 100
	}
	if c.GrantWait == 0 {
		c.GrantWait = 2 * time.Second
	}
	if c.GrantPoll == 0 {
		c.GrantPoll = 100 * time.Millisecond
	}
	if c.Limits == (limits.Limits{}) {
		c.Limits = limits.Default()
	}
	if c.Limits.QueryTimeout == 0 {
		c.Limits.QueryTimeout = 10 * time.Second
	}
	if c.Rate == (limits.RateConfig{}) {
		c.Rate = limits.DefaultRates()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Deps are the components a gateway uses.
type Deps struct {
	Log Ledger
	// Stores maps every department of the catalog to the store holding
	// its records and their disclosures (several may share one).
	Stores map[string]store.Reader
	// Ledger is the store holding the ledger-wide entries: access
	// entries (accessLog, accessEntry).
	Ledger  store.Reader
	Catalog *schema.Catalog
	// Keys verifies grants submitted through the gateway.
	Keys   *schema.KeyRing
	Auth   Authenticator
	Access AccessWriter
	// Grants forwards submitted grants; nil disables submitGrant.
	Grants GrantSender
	// Registerer receives the gateway's metrics; nil: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Gateway serves GraphQL over HTTP. Create it with [New], serve
// [Gateway.Handler], stop it with [Gateway.Close].
type Gateway struct {
	cfg    Config
	deps   Deps
	schema *graphql.Schema // for queries without introspection
	// introSchema runs queries that select __schema or __type.
	introSchema *graphql.Schema
	checker     *limits.Checker
	rate        *limits.RateLimiters
	grants      *grantWatch
	cursors     *cursors
	// queryKey keys the query digests of access entries.
	queryKey []byte
	metrics  *metrics
	logger   *slog.Logger

	cpMu   sync.Mutex
	cpLast []byte
	cpPars merkle.Checkpoint

	stop context.CancelFunc
	done chan struct{}
}

// New checks cfg and deps, parses the schema and starts the grant scan.
func New(cfg Config, deps Deps) (*Gateway, error) {
	cfg.setDefaults()
	switch {
	case len(cfg.LedgerSecret) < 16:
		return nil, errors.New("gateway: LedgerSecret must be at least 16 bytes")
	case len(cfg.Purposes) == 0:
		return nil, errors.New("gateway: Purposes is required")
	case deps.Log == nil || deps.Ledger == nil || deps.Catalog == nil || deps.Auth == nil || deps.Access == nil || deps.Keys == nil:
		return nil, errors.New("gateway: Log, Ledger, Catalog, Keys, Auth and Access are required")
	}
	for _, p := range cfg.Purposes {
		if !schema.ValidID(p) {
			return nil, fmt.Errorf("gateway: purpose %q is not a lowercase identifier [a-z0-9-]{1,64}", p)
		}
		if slices.Contains([]string{noPurpose, readsAccessLog, readsGrants, readsSubmitGrant}, p) {
			return nil, fmt.Errorf("gateway: purpose %q is reserved: the access entries of requests without a data query name it", p)
		}
	}
	for _, d := range deps.Catalog.Departments() {
		if deps.Stores[d] == nil {
			return nil, fmt.Errorf("gateway: no store configured for department %s", d)
		}
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, deps: deps, logger: deps.Logger, done: make(chan struct{})}
	var err error
	if g.cursors, err = newCursors(cfg.LedgerSecret); err != nil {
		return nil, fmt.Errorf("gateway: cursors: %w", err)
	}
	qk := hmac.New(sha256.New, cfg.LedgerSecret)
	qk.Write([]byte("crossledger gateway query digest key v1"))
	g.queryKey = qk.Sum(nil)
	if g.checker, err = limits.New(SDL, cfg.Limits); err != nil {
		return nil, fmt.Errorf("gateway: limits: %w", err)
	}
	if g.rate, err = limits.NewRateLimiters(cfg.Rate); err != nil {
		return nil, fmt.Errorf("gateway: rate limits: %w", err)
	}
	g.metrics = newMetrics(deps.Registerer)
	// graphql-go's own bounds are a second line behind the checker's and
	// no looser: two schemas, one holding queries to MaxDepth and one, for
	// the queries the checker found to use introspection, to
	// MaxIntrospectionDepth (graphql-go has one depth for both). Its
	// selection count includes fragment spreads and inline fragments,
	// which MaxFields does not, so MaxFields is the stricter of the two.
	// The text it is given is the checker's canonical print, which the
	// checker holds to MaxQueryBytes too; the overlap limit admits every
	// pair of MaxFields selections.
	opts := func(depth int) []graphql.SchemaOpt {
		return []graphql.SchemaOpt{
			graphql.UseStringDescriptions(),
			graphql.UseFieldResolvers(),
			graphql.MaxDepth(depth),
			graphql.MaxQueryLength(cfg.Limits.MaxQueryBytes),
			graphql.MaxSelections(cfg.Limits.MaxFields),
			graphql.MaxParallelism(16),
			graphql.OverlapValidationLimit(max(100_000, cfg.Limits.MaxFields*(cfg.Limits.MaxFields-1)/2)),
			graphql.RestrictIntrospection(func(ctx context.Context) bool {
				st := stateOf(ctx)
				return st != nil && st.authenticated
			}),
			graphql.PanicHandler(panicHandler{}),
			// One line per panic: graphql-go's default logger writes a
			// 64 KiB stack trace for each, which a caller could repeat at
			// will.
			graphql.Logger(gqllog.LoggerFunc(func(ctx context.Context, value any) {
				deps.Logger.Error("gateway: resolver panic", "panic", fmt.Sprint(value))
			})),
		}
	}
	if g.schema, err = graphql.ParseSchema(SDL, &resolver{g: g}, opts(cfg.Limits.MaxDepth)...); err != nil {
		return nil, fmt.Errorf("gateway: schema: %w", err)
	}
	if g.introSchema, err = graphql.ParseSchema(SDL, &resolver{g: g}, opts(max(cfg.Limits.MaxDepth, cfg.Limits.MaxIntrospectionDepth))...); err != nil {
		return nil, fmt.Errorf("gateway: schema: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	g.grants = newGrantWatch(deps.Log, deps.Logger, cfg.GrantPoll)
	go func() {
		defer close(g.done)
		g.grants.run(ctx)
	}()
	return g, nil
}

// Close stops the grant scan. It does not close the dependencies.
func (g *Gateway) Close() error {
	g.stop()
	<-g.done
	return nil
}

// checkpoint returns the current checkpoint, parsed and verified (cached
// while it does not change).
func (g *Gateway) checkpoint() (signed []byte, cp merkle.Checkpoint, err error) {
	signed = g.deps.Log.Checkpoint()
	if signed == nil {
		return nil, merkle.Checkpoint{}, errors.New("gateway: the log has published no checkpoint yet (its witnesses have not cosigned one)")
	}
	g.cpMu.Lock()
	defer g.cpMu.Unlock()
	if slices.Equal(signed, g.cpLast) {
		return g.cpLast, g.cpPars, nil
	}
	cp, _, err = merkle.ParseCheckpoint(signed, g.deps.Log.Verifier())
	if err != nil {
		return nil, merkle.Checkpoint{}, fmt.Errorf("gateway: the log's checkpoint does not verify: %w", err)
	}
	g.cpLast, g.cpPars = signed, cp
	return signed, cp, nil
}

// ledgerSize returns the size of l's current checkpoint: 0 before a
// witnessed log published its first.
func ledgerSize(l Ledger) (uint64, error) {
	signed := l.Checkpoint()
	if signed == nil {
		return 0, nil
	}
	cp, _, err := merkle.ParseCheckpoint(signed, l.Verifier())
	if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

// panicHandler answers a recovered resolver panic (logged by the
// schema's Logger) with an INTERNAL error.
type panicHandler struct{}

func (panicHandler) MakePanicError(ctx context.Context, value any) *gqlerror {
	return newError(codeInternal, "internal error")
}
