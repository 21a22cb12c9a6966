// Package dev is the whole local ledger of `crossledger dev` in one
// process — embedded broker, log, ingest, projector, SQLite projection,
// one SDK client per demo department, a simulator publishing the demo
// data set, and the gateway — plus the conventions of its data directory
// (log key, ledger secret, dev token issuer) that `crossledger bench`,
// `token` and `reproject` share.
package dev

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/internal/atomicfile"
	"github.com/crossledger/crossledger/internal/keyfile"
	"github.com/crossledger/crossledger/internal/node"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store/sqlite"
)

// Origin is the log origin `crossledger dev` uses.
const Origin = "dev.crossledger.local/log"

// Options are the dev command's flags (see its help).
type Options struct {
	Data, Broker, HTTP string
	Rate               float64
	Citizens           int
	Seed               int64
	Progress           time.Duration
}

// Run runs the dev ledger of o until ctx ends (Ctrl-C) or a part fails,
// then stops it in order (simulator, SDK clients, ingest, projector, HTTP
// server, log, broker).
func Run(ctx context.Context, env Env, o Options) error {
	d := &devLedger{opts: o, env: env}
	defer d.close()
	if err := d.open(ctx); err != nil {
		return err
	}
	return d.run(ctx)
}

// Env is where dev reports: the banner and progress on Stdout, the rest
// to Logger.
type Env struct {
	Stdout io.Writer
	Logger *slog.Logger
}

// devLedger is everything `dev` runs. open starts the parts that have no
// goroutines of their own (broker, log, stores, clients, listener); run
// starts the goroutines and stops them; close releases what open made,
// in reverse order.
type devLedger struct {
	opts Options
	env  Env

	*node.Local // broker, log, ingest, projector, SQLite store, shared with bench
	clients     map[string]*adapters.Client
	ln          net.Listener
	srv         *http.Server
	reg         *prometheus.Registry // metrics of ingest, the projector and the gateway, on /metrics
	gw          *Gateway
	wits        *Witnesses
	logVKey     string

	rejected atomic.Int64
	closers  []func() error
}

func (d *devLedger) defer_(f func() error) { d.closers = append(d.closers, f) }

func (d *devLedger) close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](); err != nil {
			d.env.Logger.Warn("dev: close", "err", err)
		}
	}
	d.closers = nil
}

func (d *devLedger) path(elem ...string) string {
	return filepath.Join(append([]string{d.opts.Data}, elem...)...)
}

func (d *devLedger) open(ctx context.Context) error {
	logger := d.env.Logger
	if err := os.MkdirAll(d.path("outbox"), 0o755); err != nil {
		return fmt.Errorf("couldn't create data dir: %w", err)
	}

	d.reg = node.NewRegistry()
	skey, err := LogKey(d.path("log.key"))
	if err != nil {
		return err
	}
	if d.logVKey, err = merkle.VerifierKey(skey); err != nil {
		return err
	}
	origin, _, _ := strings.Cut(d.logVKey, "+")
	if d.wits, err = StartWitnesses(d.path("witnesses"), DevWitnesses, DevQuorum, origin, d.logVKey, logger); err != nil {
		return err
	}
	d.defer_(d.wits.Close) // after the node: it stops publishing first
	core, err := OpenLocal(ctx, logger, d.opts.Data, node.LocalConfig{BrokerListen: d.opts.Broker, Witnesses: d.wits.Policy,
		Store: node.StoreConfig{SQLite: &sqlite.Config{Path: d.path("projection.db")}}, Registerer: d.reg})
	if err != nil {
		return err
	}
	d.Local = core
	d.defer_(core.Close)
	d.clients = map[string]*adapters.Client{}
	for _, dept := range d.Catalog.Departments() {
		c, err := adapters.Open(ctx, adapters.Config{
			Department: dept, Key: schema.DemoKey(dept), RecordSecret: schema.DemoSecret(dept), Catalog: d.Catalog,
			LogVerifier: d.Log.Verifier(), WitnessPolicy: d.wits.Policy, Brokers: d.Brokers, OutboxPath: d.path("outbox", dept+".db"),
			OnRejected: func(r adapters.Rejection) {
				d.rejected.Add(1)
				logger.Warn("dev: change rejected", "department", dept, "seq", r.Seq, "reason", r.Reason, "detail", r.Detail)
			},
			Logger: logger.With("department", dept),
		})
		if err != nil {
			return err
		}
		d.clients[dept] = c
		d.defer_(c.Close)
	}
	removeStaleIssuerTemps(IssuerKey(d.opts.Data), logger)
	if d.gw, err = OpenGateway(ctx, logger, d.Local, GatewayOptions{Data: d.opts.Data, Registerer: d.reg}); err != nil {
		return err
	}
	d.defer_(d.gw.Close)

	d.ln, err = net.Listen("tcp", d.opts.HTTP)
	if err != nil {
		return fmt.Errorf("couldn't listen for HTTP: %w", err)
	}
	d.srv = &http.Server{Handler: d.devHandler(d.gw), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	d.defer_(func() error { return d.srv.Close() }) // closes ln too; a no-op after Shutdown
	return nil
}

// stage is a set of goroutines stopped together.
type stage struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	g      errgroup.Group
}

// run starts the goroutines, waits for Ctrl-C or the first failure, and
// stops the stages in order: simulator, SDK clients, ingest, projector,
// HTTP server. (The log and the broker are closed by close, after run.)
func (d *devLedger) run(ctx context.Context) error {
	done, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var stages []*stage
	newStage := func(name string) *stage {
		s := &stage{name: name}
		s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
		stages = append(stages, s)
		return s
	}
	// goFn runs fn in s; a failure that is not the stage being stopped
	// stops the whole ledger.
	goFn := func(s *stage, what string, fn func(context.Context) error) {
		s.g.Go(func() error {
			err := fn(s.ctx)
			if err != nil && s.ctx.Err() == nil {
				err = fmt.Errorf("%s: %w", what, err)
				fail(err)
				return err
			}
			return nil
		})
	}

	plan, err := d.plan(ctx)
	if err != nil {
		return err
	}

	sim := newStage("simulator")
	goFn(sim, "simulator", plan.run)
	if d.opts.Progress > 0 {
		goFn(sim, "progress", d.progressLoop)
	}
	cl := newStage("SDK clients")
	goFn(cl, "gateway client", d.gw.Run)
	for dept, c := range d.clients {
		goFn(cl, dept+" client", c.Run)
	}
	ledger := newStage("ingest and projector") // the node stops ingest, then the projector
	goFn(ledger, "ledger", d.Node.Run)
	web := newStage("HTTP server")
	goFn(web, "HTTP server", func(context.Context) error {
		if err := d.srv.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	stopWeb := web.cancel
	web.cancel = func() {
		defer stopWeb()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		d.srv.Shutdown(sctx)
	}
	// The tile API answers 503 until the witnesses cosigned a first
	// checkpoint: announce the ledger once they have (a moment).
	wctx, cancel := context.WithTimeout(done, 30*time.Second)
	if err := d.Log.WaitPublished(wctx, 0); err != nil && done.Err() == nil {
		d.env.Logger.Warn("dev: the witnesses have not cosigned a checkpoint yet; /checkpoint answers 503 until they do")
	}
	cancel()
	d.banner(plan)

	<-done.Done()
	cause := context.Cause(done)
	if errors.Is(cause, context.Canceled) {
		cause = nil
		fmt.Fprintln(d.env.Stdout, "stopping: simulator, SDK clients, ingest, projector, HTTP server, log, broker")
	}
	var errs []error
	for _, s := range stages {
		s.cancel()
		if err := s.g.Wait(); err != nil && !errors.Is(err, cause) {
			errs = append(errs, err)
		}
	}
	if cause != nil {
		errs = append([]error{cause}, errs...)
	}
	return errors.Join(errs...)
}

// devPlan is what the simulator still has to publish: the rest of the
// initial data set per department, and how many stream updates earlier
// runs already published (skipped, so the stream continues).
type devPlan struct {
	d         *devLedger
	grants    map[string]int // per department, how many of its demo grants are published
	initial   map[string][]demo.Change
	remaining int
	published int // everything earlier runs published
	skip      int
	gen       *demo.Generator
	example   string // a citizen with records in several departments, for the banner
}

func (d *devLedger) plan(ctx context.Context) (*devPlan, error) {
	p := &devPlan{d: d, gen: demo.New(d.opts.Seed, d.opts.Citizens), initial: map[string][]demo.Change{}, grants: map[string]int{}}
	all := p.gen.Initial()
	for _, c := range all {
		p.initial[c.Department] = append(p.initial[c.Department], c)
	}
	p.example = exampleCitizen(all)
	complete := true
	extra := 0
	for dept, c := range d.clients {
		n, err := publishedCount(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("couldn't read the %s outbox: %w", dept, err)
		}
		// A department's first seqs are its demo grants.
		p.grants[dept] = min(n, len(seedGrants(dept)))
		n -= p.grants[dept]
		p.published += n
		init := p.initial[dept]
		if n < len(init) {
			complete = false
			p.initial[dept] = init[n:]
			p.remaining += len(init) - n
		} else {
			p.initial[dept] = nil
			extra += n - len(init)
		}
	}
	if complete {
		p.skip = extra
	}
	return p, nil
}

// publishedCount is the highest seq in c's outbox: seqs are assigned
// 1, 2, … with no gaps and outbox rows are kept (settled, not deleted).
func publishedCount(ctx context.Context, c *adapters.Client) (int, error) {
	has := func(seq int) (bool, error) {
		_, err := c.Status(ctx, uint64(seq))
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}
	hi := 1
	for {
		ok, err := has(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		hi *= 2
	}
	lo := hi / 2 // has(lo) or lo == 0
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		ok, err := has(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// run publishes the rest of the initial set, every department in
// parallel and each in order, then the update stream at the set rate.
func (p *devPlan) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for dept := range p.d.clients {
		cs := p.initial[dept]
		if len(cs) == 0 && p.grants[dept] == len(seedGrants(dept)) {
			continue
		}
		g.Go(func() error {
			if err := p.d.publishGrants(gctx, dept, p.grants[dept]); err != nil {
				return err
			}
			for _, c := range cs {
				if err := p.publish(gctx, c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if p.remaining > 0 {
		fmt.Fprintf(p.d.env.Stdout, "simulator: published the initial data set (%d changes)\n", p.remaining)
	}
	if p.d.opts.Rate == 0 {
		return nil
	}
	for range p.skip {
		p.gen.Next()
	}
	return every(ctx, time.Duration(float64(time.Second)/p.d.opts.Rate), func() error {
		return p.publish(ctx, p.gen.Next())
	})
}

// every calls fn once per interval until ctx ends (nil) or fn fails.
func every(ctx context.Context, interval time.Duration, fn func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

func (p *devPlan) publish(ctx context.Context, c demo.Change) error {
	_, err := p.d.clients[c.Department].Publish(ctx, c.Type, c.Op, c.Values)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, adapters.ErrQueued):
		// Durable in the outbox; the client re-sends it.
		p.d.env.Logger.Debug("dev: change queued", "department", c.Department, "err", err)
		return nil
	case ctx.Err() != nil:
		return nil
	}
	return fmt.Errorf("couldn't publish %s/%s: %w", c.Department, c.Type, err)
}

func (d *devLedger) banner(p *devPlan) {
	var initial string
	switch {
	case p.remaining == 0:
		initial = fmt.Sprintf("initial data set already published (%d changes so far, over %d departments)", p.published, len(d.clients))
	case p.published == 0:
		initial = fmt.Sprintf("publishing the initial data set: %d changes over %d departments", p.remaining, len(d.clients))
	default:
		initial = fmt.Sprintf("publishing the rest of the initial data set: %d changes", p.remaining)
	}
	stream := "no update stream (--rate 0)"
	if d.opts.Rate > 0 {
		stream = fmt.Sprintf("then %g updates/s", d.opts.Rate)
		if p.skip > 0 {
			stream += fmt.Sprintf(", continuing after the %d earlier ones", p.skip)
		}
	}
	depts := d.Catalog.Departments()
	fmt.Fprintf(d.env.Stdout, `crossledger dev is running (Ctrl-C stops it):
  broker     %s  (Kafka protocol; data %s)
  log        %s  (%d entries; origin %s; key %s)
  ingest     payloads %s
  projection %s  (SQLite)
  adapters   %s  (outboxes %s)
  simulator  seed %d, %d residents; %s; %s
  witnesses  %s  (%d of %d cosign each checkpoint before it is published; policy %s)
  log key    %s
  tile API   http://%s/checkpoint  /tile/...  /proof/inclusion?index=&size=  /proof/consistency?from=&to=  (metrics: /metrics)
  audit      crossledger audit --url http://%s/ --log-key %s --genesis demo --schemas demo --policy %s --state %s
  gateway    http://%s/graphql  (access entries signed as %q; token issuer %s)
  graphiql   http://%s/
  token      %s
  example    person(citizenId: "%s", purpose: "real-estate-transfer")
             TOKEN=$(crossledger token --data %s --department real-estate --user me --role analyst)
             curl -s http://%s/graphql -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
               -d '{"query":"{ person(citizenId: \"%s\", purpose: \"real-estate-transfer\") { departments { department records { type key fields { name value redacted } proof } } } }"}'
`, d.Broker.Addr(), d.path("broker"), d.path("log"), d.Log.Size(), d.Log.Origin(), d.path("log.key"),
		d.path("payloads"), d.path("projection.db"), strings.Join(depts, ", "), d.path("outbox"),
		d.opts.Seed, d.opts.Citizens, initial, stream,
		d.witnessList(), DevQuorum, len(DevWitnesses), d.wits.PolicyFile, d.logVKey,
		d.ln.Addr(), d.ln.Addr(), d.logVKey, d.wits.PolicyFile, d.path("audit"),
		d.ln.Addr(), GatewayID, IssuerKey(d.opts.Data), d.ln.Addr(), d.gw.Token,
		p.example, d.opts.Data, d.ln.Addr(), p.example)
}

// witnessList is "dept URL, …" of the dev witnesses.
func (d *devLedger) witnessList() string {
	var parts []string
	for _, w := range DevWitnesses {
		parts = append(parts, w+" "+d.wits.URLs[w])
	}
	return strings.Join(parts, ", ")
}

// progressLoop prints one line of progress every --progress.
func (d *devLedger) progressLoop(ctx context.Context) error {
	return every(ctx, d.opts.Progress, func() error {
		d.progress(ctx)
		return nil
	})
}

// progress prints one progress line (and warns about what it couldn't
// read, unless ctx has ended).
func (d *devLedger) progress(ctx context.Context) {
	warn := func(what string, err error) {
		if ctx.Err() == nil {
			d.env.Logger.Warn("dev: couldn't read "+what, "err", err)
		}
	}
	wm, err := d.Store.Watermark(ctx)
	if err != nil {
		warn("projection watermark", err)
		return
	}
	pending := 0
	for _, c := range d.clients {
		n, err := c.Pending(ctx)
		if err != nil {
			warn("outbox", err)
		}
		pending += n
	}
	if ctx.Err() == nil {
		fmt.Fprintf(d.env.Stdout, "progress: log %d entries, projected %d, outbox pending %d, rejected %d\n",
			d.Log.Size(), wm.Size, pending, d.rejected.Load())
	}
}

// OpenLocal opens the in-process ledger of data directory dir (dev's and
// bench's): its log key (dir/log.key) and ledger secret
// (dir/ledger.secret) are made on first use.
func OpenLocal(ctx context.Context, logger *slog.Logger, dir string, cfg node.LocalConfig) (*node.Local, error) {
	skey, err := LogKey(filepath.Join(dir, "log.key"))
	if err != nil {
		return nil, err
	}
	secret, err := Secret(filepath.Join(dir, "ledger.secret"))
	if err != nil {
		return nil, err
	}
	cfg.Dir, cfg.LogKey, cfg.LedgerSecret, cfg.Logger = dir, skey, secret, logger
	return node.OpenLocal(ctx, cfg)
}

// LogKey reads the dev log key, making it on first run (written
// atomically: a crash leaves no key file or a whole one). Temporary files
// a crash left beside it are removed. A key file that holds no usable key
// (an empty one, as versions that wrote key files in two steps could
// leave) is an error that says what to do.
func LogKey(name string) (string, error) {
	if _, err := atomicfile.RemoveTemps(name); err != nil {
		return "", err
	}
	skey, err := keyfile.Read(name)
	if errors.Is(err, fs.ErrNotExist) {
		if skey, _, err = merkle.GenerateKey(Origin); err != nil {
			return "", err
		}
		err = keyfile.WriteNew(name, []byte(skey+"\n"), 0o600)
		if err == nil {
			return skey, nil
		}
		if errors.Is(err, fs.ErrExist) { // another process made it first: use that one
			skey, err = keyfile.Read(name)
		}
	}
	if err != nil {
		return "", err
	}
	if skey == "" {
		return "", logKeyError(name, "is empty")
	}
	if _, _, err := merkle.NewSigner(skey); err != nil {
		return "", logKeyError(name, fmt.Sprintf("is truncated or damaged (%v)", err))
	}
	return skey, nil
}

// logKeyError explains what to do about a dev log key file that holds
// no usable key: whether a log was signed with it decides.
func logKeyError(name, problem string) error {
	logDir := filepath.Join(filepath.Dir(name), "log")
	if _, err := os.Stat(logDir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dev log key %s %s; no log was made with it (there is no %s): delete it and start again, and dev makes a new key", name, problem, logDir)
	}
	return fmt.Errorf("dev log key %s %s: restore it from a backup, since the log in %s is signed with it (a new key would not verify its checkpoints); if this ledger is disposable, delete the whole data directory %s and start again",
		name, problem, logDir, filepath.Dir(name))
}

// Secret reads the ledger secret that keys subject tags in the
// projection (hex), making a random one on first run (written atomically,
// as LogKey's key). It must stay the same for the projection's
// lifetime.
func Secret(name string) ([]byte, error) {
	if _, err := atomicfile.RemoveTemps(name); err != nil {
		return nil, err
	}
	s, err := keyfile.ReadSecret(name)
	if errors.Is(err, fs.ErrNotExist) {
		s = make([]byte, 32)
		rand.Read(s)
		err = keyfile.WriteNew(name, []byte(hex.EncodeToString(s)+"\n"), 0o600)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, fs.ErrExist) { // another process made it first: use that one
			s, err = keyfile.ReadSecret(name)
		}
	}
	if bad := (*keyfile.BadSecretError)(nil); errors.As(err, &bad) {
		return nil, fmt.Errorf("%w: delete it and the projection %s, then start again: dev makes a new secret and projects the log again (the log does not depend on the secret)",
			err, filepath.Join(filepath.Dir(name), "projection.db"))
	}
	return s, err
}

// removeStaleIssuerTemps removes the temporary files (.dev-issuer-*.pem
// beside key) that a crash while the dev token issuer's key was being made
// left behind. Nothing reads them (the key is linked into place whole),
// and they carry no lock telling a dead writer's from a running one's (a
// `crossledger token` making the key now), so only those older than a
// minute go: a writer takes milliseconds.
func removeStaleIssuerTemps(key string, logger *slog.Logger) {
	// The key is now written through atomicfile, whose temporary files
	// carry a lock; the glob below is for those of earlier versions.
	if removed, err := atomicfile.RemoveTemps(key); err != nil {
		logger.Warn("dev: couldn't remove temporary files left by a crash", "key", key, "err", err)
	} else {
		for _, p := range removed {
			logger.Info("dev: removed a temporary file left by a crash", "path", p)
		}
	}
	paths, err := filepath.Glob(filepath.Join(filepath.Dir(key), ".dev-issuer-*.pem"))
	if err != nil {
		return
	}
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() || time.Since(st.ModTime()) < time.Minute {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("dev: couldn't remove a temporary file left by a crash", "path", p, "err", err)
			continue
		}
		logger.Info("dev: removed a temporary file left by a crash", "path", p)
	}
}
