package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/verify"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"
)

var ledgerSecret = []byte("gateway-test-ledger-secret-0123456789")

// stack is a whole ledger for gateway tests: the real broker (TCP), the
// log, ingest, the projector into a real store, SDK clients for the
// departments and the gateway signing access entries through its own SDK
// client, served over real HTTP.
type stack struct {
	t        *testing.T
	ctx      context.Context
	log      *merkle.Log
	store    store.Store
	catalog  *schema.Catalog
	keys     *schema.KeyRing
	clients  map[string]*adapters.Client
	issuer   *auth.DevIssuer
	gw       *gateway.Gateway
	srv      *httptest.Server
	clock    *clock
	proj     *ingest.Projector
	tc       ingest.Config
	brokers  []string
	dataDir  string
	gwClient *adapters.Client
	verified atomic.Int64 // records of responses verified offline
}

// clock is a settable clock for grant expiry.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

type stackOptions struct {
	// stores overrides the gateway's store of some departments.
	stores func(projection store.Store) map[string]store.Reader
	// projection overrides the projection store (default SQLite).
	projection func(t *testing.T) store.Store
	// issuers adds issuers besides the dev issuer.
	issuers []auth.IssuerConfig
	// rate overrides rate limits.
	cfg func(*gateway.Config)
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	addr := testenv.Kafka(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	s := &stack{t: t, ctx: ctx, clients: map[string]*adapters.Client{}, clock: &clock{}, brokers: []string{addr}, dataDir: dir}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	s.log, _ = ingesttest.OpenLog(t, ctx, dir, "haidian.example/crossledger")
	s.keys = ingesttest.DemoKeys(t)
	s.catalog = schema.Demo()
	s.tc = ingesttest.Topics(ingest.Config{Brokers: s.brokers, PayloadDir: filepath.Join(dir, "payloads"), BatchSize: 500, BatchAge: 2 * time.Millisecond},
		ingesttest.Suffix("gw"))
	if o.projection != nil {
		s.store = o.projection(t)
	} else {
		db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "projection.db")})
		if err != nil {
			t.Fatal(err)
		}
		s.store = db
	}
	t.Cleanup(func() { s.store.Close() })
	in, err := ingest.New(ctx, s.tc, ingest.Deps{Log: s.log, Catalog: schema.Demo(), Keys: ingesttest.DemoKeys(t), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	s.proj = &ingest.Projector{Log: s.log, Payloads: in.Payloads(), Store: s.store, Catalog: schema.Demo(),
		LedgerSecret: ledgerSecret, Poll: 5 * time.Millisecond, Logger: logger}
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	ingesttest.Go(t, ctx, &wg, "ingest", in.Run)
	ingesttest.Go(t, ctx, &wg, "projector", s.proj.Run)

	open := func(dept, topic string) *adapters.Client {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: dept, Key: schema.DemoKey(dept), RecordSecret: schema.DemoSecret(dept), Catalog: s.catalog,
			LogVerifier: s.log.Verifier(), Brokers: s.brokers, ChangesTopic: topic, ReceiptsTopic: s.tc.ReceiptsTopic,
			OutboxPath: filepath.Join(dir, "outbox-"+dept+".db"), ResendAfter: 2 * time.Second, MaxResendAfter: 5 * time.Second,
			OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", dept, r) },
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, d := range s.catalog.Departments() {
		s.clients[d] = open(d, s.tc.ChangesTopic)
	}
	s.gwClient = open("gateway", s.tc.AccessTopic)

	if s.issuer, err = auth.LoadOrCreateDevIssuer(filepath.Join(dir, "issuer.pem"), "crossledger-test"); err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(ctx, append([]auth.IssuerConfig{s.issuer.Config()}, o.issuers...))
	if err != nil {
		t.Fatal(err)
	}
	stores := map[string]store.Reader{}
	for _, d := range s.catalog.Departments() {
		stores[d] = s.store
	}
	if o.stores != nil {
		for d, st := range o.stores(s.store) {
			stores[d] = st
		}
	}
	fwd := adapters.NewForwarder(s.brokers, s.tc.ChangesTopic)
	t.Cleanup(func() { fwd.Close() })
	cfg := gateway.Config{LedgerSecret: ledgerSecret, Purposes: []string{"real-estate-transfer", "tax-assessment"}, Now: s.clock.now}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	s.gw, err = gateway.New(cfg, gateway.Deps{
		Log: s.log, Stores: stores, Ledger: s.store, Catalog: s.catalog, Keys: s.keys, Auth: authn,
		Access: adapters.AccessWriter{Client: s.gwClient}, Grants: fwd, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.gw.Close() })
	mux := http.NewServeMux()
	mux.Handle("/graphql", s.gw.Handler())
	mux.Handle("/", s.log.Handler())
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// token issues a dev token.
func (s *stack) token(dept string, roles ...auth.Role) string {
	s.t.Helper()
	tok, err := s.issuer.Issue(auth.Identity{User: "u-" + dept, Department: dept, Roles: roles}, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func (s *stack) citizenToken(citizenID string) string {
	s.t.Helper()
	tok, err := s.issuer.Issue(auth.Identity{User: "citizen-" + citizenID[len(citizenID)-4:], Department: "public", Roles: []auth.Role{auth.RoleCitizen}, CitizenID: citizenID}, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// publish publishes a record change and returns its seq.
func (s *stack) publish(dept, recordType string, values map[string]string) {
	s.t.Helper()
	if _, err := s.clients[dept].Publish(s.ctx, recordType, schema.OpUpsert, values); err != nil {
		s.t.Fatalf("publish %s/%s: %v", dept, recordType, err)
	}
}

// grant publishes a grant signed by owner.
func (s *stack) grant(owner string, g schema.Grant) {
	s.t.Helper()
	if _, err := s.clients[owner].PublishEnvelope(s.ctx, &schema.Envelope{Kind: schema.KindGrant, Grant: &g}, nil); err != nil {
		s.t.Fatalf("grant: %v", err)
	}
}

func (s *stack) revoke(owner string, r schema.Revoke) {
	s.t.Helper()
	if _, err := s.clients[owner].PublishEnvelope(s.ctx, &schema.Envelope{Kind: schema.KindRevoke, Revoke: &r}, nil); err != nil {
		s.t.Fatalf("revoke: %v", err)
	}
}

// settle waits until every client's outbox is empty (all receipts
// verified) and the projection has caught up with the log.
func (s *stack) settle() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		pending := 0
		for _, c := range s.clients {
			n, err := c.Pending(s.ctx)
			if err != nil {
				s.t.Fatal(err)
			}
			pending += n
		}
		n, err := s.gwClient.Pending(s.ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		pending += n
		if pending == 0 && s.proj.ProjectedSize() == s.log.Size() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("ledger did not settle: log %d, projected %d", s.log.Size(), s.proj.ProjectedSize())
}

// response is a GraphQL response as the tests read it.
type response struct {
	Status     int
	Body       []byte
	Data       map[string]any
	Errors     []gqlErr
	Extensions map[string]any
}

type gqlErr struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (r *response) reason() string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["reason"].(string)
	return s
}

func (r *response) accessID() string {
	acc, _ := r.Extensions["access"].(map[string]any)
	id, _ := acc["id"].(string)
	return id
}

// query posts a GraphQL query with token ("" for none).
func (s *stack) query(token, q string, vars map[string]any) *response {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	return s.post(token, body)
}

func (s *stack) post(token string, body []byte) *response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	out := &response{Status: resp.StatusCode, Body: raw}
	var parsed struct {
		Data       map[string]any `json:"data"`
		Errors     []gqlErr       `json:"errors"`
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		s.t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, truncate(raw))
	}
	out.Data, out.Errors, out.Extensions = parsed.Data, parsed.Errors, parsed.Extensions
	// Every record any test gets back must verify offline.
	if bytes.Contains(raw, []byte(`"envelope":`)) {
		rep, err := verify.Response(raw, s.log.Verifier(), s.keys, verify.WithCatalog(s.catalog))
		if err != nil || !rep.OK() {
			s.t.Fatalf("a response does not verify offline: %v %v\n%s", err, rep.Failures, truncate(raw))
		}
		s.verified.Add(int64(rep.Records))
	}
	return out
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// waitAccess waits until the access entry id is in the projection and
// returns it.
func (s *stack) waitAccess(id string) store.AccessEvent {
	s.t.Helper()
	dept, seqText, ok := strings.Cut(id, ":")
	if !ok {
		s.t.Fatalf("access id %q", id)
	}
	var seq uint64
	fmt.Sscan(seqText, &seq)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ref, err := s.store.EntryBySeq(s.ctx, dept, seq)
		if err == nil {
			evs, err := s.store.Accesses(s.ctx, store.AccessQuery{FromLeaf: ref.Leaf, Limit: 1})
			if err != nil {
				s.t.Fatal(err)
			}
			if len(evs) == 1 && evs[0].Leaf == ref.Leaf {
				return evs[0]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("access entry %s never reached the projection", id)
	return store.AccessEvent{}
}
