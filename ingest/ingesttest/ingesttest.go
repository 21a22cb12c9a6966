// Package ingesttest starts the ledger side of crossledger for tests: a
// Merkle log, an [ingest.Ingester] on test-unique topics of a real
// Kafka-protocol broker, optionally a [ingest.Projector] into a projection
// store, and SDK clients ([adapters.Client]) of the demo departments
// publishing to it. It also reads back what ended up in the log and on the
// receipts topic, so tests can compare both with what they published.
//
// It is used by tests only; it may import anything the ledger side does,
// and nothing imports it but tests.
package ingesttest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/adapters"
	"github.com/crossledger/crossledger/ingest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/ops"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// LedgerSecret keys subject tags in test projections.
var LedgerSecret = []byte("ledger secret for tests")

// Broker returns the address of a real Kafka-protocol broker over TCP: the
// one in CROSSLEDGER_TEST_KAFKA, or, unless services are required, an
// embedded one on a free port that lives until the test ends.
func Broker(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(testenv.EnvKafka); addr != "" || testenv.Required() {
		return testenv.Kafka(t)
	}
	b, err := ops.StartBroker(ops.BrokerConfig{Listen: "127.0.0.1:0", Partitions: 6}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

// Topics returns cfg with the default topic names plus sfx, so tests on a
// shared broker don't read each other's messages.
func Topics(cfg ingest.Config, sfx string) ingest.Config {
	cfg.ChangesTopic, cfg.AccessTopic = ingest.TopicChanges+sfx, ingest.TopicAccess+sfx
	cfg.ReceiptsTopic, cfg.RejectedTopic = ingest.TopicReceipts+sfx, ingest.TopicRejected+sfx
	return cfg
}

// Suffix returns a topic suffix unique to this test run.
func Suffix(kind string) string { return fmt.Sprintf(".%s.%d", kind, time.Now().UnixNano()) }

// Logger logs errors (and warnings with verbose) to stderr.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Options configures [Start].
type Options struct {
	// Dir holds the log ("log") and payloads ("payloads"); default a
	// test temporary directory.
	Dir string
	// Config is the ingest configuration. Brokers, PayloadDir and empty
	// topic names are filled in (topics with a fresh suffix).
	Config ingest.Config
	// Store, if set, is fed by a Projector running beside ingest.
	Store store.Store
	// ProjectorBatch is the projector's BatchSize (default 1000).
	ProjectorBatch int
	// Pushback passes the projector to ingest as Deps.Projection, so
	// ingest pauses while the projection lags by more than
	// Config.MaxProjectionLag.
	Pushback bool
	// Logger defaults to errors on stderr.
	Logger *slog.Logger
	// Registerer receives ingest's metrics (to watch a gauge); nil: none.
	Registerer prometheus.Registerer
}

// Stack is a running log, ingest and (optionally) projector.
type Stack struct {
	Addr      string // broker
	Config    ingest.Config
	Dir       string
	Log       *merkle.Log
	Verifier  note.Verifier
	VKey      string // the log's verifier key, for note.NewVerifier
	Catalog   *schema.Catalog
	Ingester  *ingest.Ingester
	Payloads  *ingest.Payloads
	Projector *ingest.Projector // nil without Options.Store

	stop func()
}

// Start opens a fresh log and runs ingest (and the projector) over it
// until the test ends or [Stack.Stop] is called. It returns once the
// changes and receipts topics exist.
func Start(t testing.TB, ctx context.Context, o Options) *Stack {
	t.Helper()
	cfg := o.Config
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{Broker(t)}
	}
	if cfg.ChangesTopic == "" {
		cfg = Topics(cfg, Suffix("it"))
	}
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	if cfg.PayloadDir == "" {
		cfg.PayloadDir = filepath.Join(dir, "payloads")
	}
	logger := o.Logger
	if logger == nil {
		logger = Logger(slog.LevelError)
	}
	l, vkey := OpenLog(t, ctx, dir, "ingesttest.example/crossledger")
	cat := schema.Demo()
	s := &Stack{Addr: cfg.Brokers[0], Config: cfg, Dir: dir, Log: l, Verifier: l.Verifier(), VKey: vkey, Catalog: cat}
	deps := ingest.Deps{Log: l, Catalog: cat, Keys: DemoKeys(t), Logger: logger, Registerer: o.Registerer}
	if o.Store != nil {
		s.Projector = &ingest.Projector{Log: l, Store: o.Store, Catalog: cat, LedgerSecret: LedgerSecret,
			BatchSize: o.ProjectorBatch, Poll: 10 * time.Millisecond, MaxBackoff: time.Second, Logger: logger}
		if o.Pushback {
			deps.Projection = s.Projector
		}
	}
	in, err := ingest.New(ctx, cfg, deps)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	s.Ingester, s.Payloads = in, in.Payloads()
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	Go(t, rctx, &wg, "ingest", in.Run)
	if s.Projector != nil {
		s.Projector.Payloads = in.Payloads()
		Go(t, rctx, &wg, "projector", s.Projector.Run)
	}
	var once sync.Once
	s.stop = func() { once.Do(func() { cancel(); wg.Wait(); l.Close() }) }
	t.Cleanup(s.stop)
	for _, topic := range []string{cfg.ChangesTopic, cfg.ReceiptsTopic} {
		if _, err := ingest.Partitions(ctx, cfg.Brokers, topic); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Stop stops ingest and the projector and closes the log. Later calls do
// nothing.
func (s *Stack) Stop() { s.stop() }

// OpenLog opens a fresh Merkle log in dir/log under a new signing key
// named origin, closed when the test ends, and returns it with its
// verifier key.
func OpenLog(t testing.TB, ctx context.Context, dir, origin string) (*merkle.Log, string) {
	t.Helper()
	skey, vkey, err := merkle.GenerateKey(origin)
	var l *merkle.Log
	if err == nil {
		l, err = merkle.Open(ctx, filepath.Join(dir, "log"), merkle.Options{SignerKey: skey})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, vkey
}

// DemoKeys returns a fresh key ring of the demo genesis, as ingest and the
// gateway resolve department keys.
func DemoKeys(t testing.TB) *schema.KeyRing {
	t.Helper()
	g, err := schema.DemoGenesis()
	var ring *schema.KeyRing
	if err == nil {
		ring, err = schema.NewKeyRing(g)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// EncodeMessage encodes env, signed already, as the wire message that
// carries the encoded disclosures ds.
func EncodeMessage(t testing.TB, env *schema.Envelope, ds []string) []byte {
	t.Helper()
	m, err := schema.NewMessage(env, nil)
	var b []byte
	if err == nil {
		m.Disclosures = ds
		b, err = m.Encode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Go runs run(ctx) on a goroutine counted in wg. An error it returns
// before ctx is done fails t, prefixed with what.
func Go(t testing.TB, ctx context.Context, wg *sync.WaitGroup, what string, run func(context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("%s: %v", what, err)
		}
	}()
}

// ClientConfig is an SDK configuration for dept against s, with its
// outbox in dir. A rejection fails t.
func (s *Stack) ClientConfig(t testing.TB, dept, dir string) adapters.Config {
	return adapters.Config{
		Department: dept, Key: schema.DemoKey(dept), RecordSecret: schema.DemoSecret(dept), Catalog: s.Catalog,
		LogVerifier: s.Verifier, Brokers: []string{s.Addr}, ChangesTopic: s.Config.ChangesTopic, ReceiptsTopic: s.Config.ReceiptsTopic,
		OutboxPath: filepath.Join(dir, dept+".outbox"), ResendAfter: 3 * time.Second, MaxResendAfter: 10 * time.Second,
		OnRejected: func(r adapters.Rejection) { t.Errorf("%s: unexpected rejection %+v", dept, r) },
	}
}

// Clients opens one SDK client per department (with configs from
// [Stack.ClientConfig], adjusted by tweak when not nil) and runs each
// until the test ends.
func (s *Stack) Clients(t testing.TB, ctx context.Context, depts []string, tweak func(*adapters.Config)) map[string]*adapters.Client {
	t.Helper()
	dir := t.TempDir()
	out := map[string]*adapters.Client{}
	for _, d := range depts {
		cfg := s.ClientConfig(t, d, dir)
		if tweak != nil {
			tweak(&cfg)
		}
		c, err := adapters.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out[d] = c
		RunClient(t, ctx, c)
	}
	return out
}

// RunClient runs c until the test ends, then closes it.
func RunClient(t testing.TB, ctx context.Context, c *adapters.Client) {
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(rctx); err != nil && rctx.Err() == nil {
			t.Errorf("client: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
}

// WaitDelivered waits until no client has a message awaiting a verified
// receipt.
func WaitDelivered(t testing.TB, ctx context.Context, clients map[string]*adapters.Client) {
	t.Helper()
	WaitFor(t, ctx, "every published change to get a verified receipt", func() bool {
		for _, c := range clients {
			if n, err := c.Pending(ctx); err != nil || n > 0 {
				return false
			}
		}
		return true
	})
}

// WaitFor polls cond until it holds, failing t when ctx is done first.
func WaitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WatchReceipts reads every receipt of topic, from the start of each
// partition or from the offsets in from (see [EndOffsets]) when not nil,
// into the returned channel (of capacity buffer) until the test ends. A
// full channel blocks the readers.
func WatchReceipts(t testing.TB, ctx context.Context, addr, topic string, from map[int]int64, buffer int) <-chan *schema.Receipt {
	t.Helper()
	out := make(chan *schema.Receipt, buffer)
	parts, err := ingest.Partitions(ctx, []string{addr}, topic)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond, MaxBytes: 16 << 20})
		if off, ok := from[p]; ok {
			if err := r.SetOffset(off); err != nil {
				t.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(rctx)
				if err != nil {
					return
				}
				rc, err := schema.DecodeReceipt(m.Value)
				if err != nil {
					t.Errorf("undecodable receipt %s: %v", m.Value, err)
					return
				}
				select {
				case out <- rc:
				case <-rctx.Done():
					return
				}
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return out
}

// EachMessage calls fn for every message of topic, partition by
// partition, from the start up to the end offsets as of the call.
func EachMessage(t testing.TB, ctx context.Context, addr, topic string, fn func(kafka.Message)) {
	t.Helper()
	for p, last := range EndOffsets(t, ctx, addr, topic) {
		first := partitionOffset(t, ctx, addr, topic, p, (*kafka.Conn).ReadFirstOffset)
		if last <= first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond, MaxBytes: 16 << 20})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			fn(m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
}

// Logged is one record.change of the log, decoded.
type Logged struct {
	Leaf uint64
	Raw  []byte
	Env  *schema.Envelope
}

// ScanLog calls fn for every entry of l in leaf order, up to l's size at
// the call.
func ScanLog(t testing.TB, ctx context.Context, l *merkle.Log, fn func(Logged)) {
	t.Helper()
	size := l.Size()
	for from := uint64(0); from < size; from += 1000 {
		ents, err := l.Entries(ctx, from, min(1000, size-from))
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range ents {
			env, err := schema.DecodeEnvelope(raw)
			if err != nil {
				t.Fatalf("leaf %d: %v", from+uint64(i), err)
			}
			fn(Logged{Leaf: from + uint64(i), Raw: raw, Env: env})
		}
	}
}

// SeqIndex maps department → seq → leaf of every entry of l, failing t on
// a seq logged twice.
func SeqIndex(t testing.TB, ctx context.Context, l *merkle.Log) map[string]map[uint64]uint64 {
	t.Helper()
	out := map[string]map[uint64]uint64{}
	ScanLog(t, ctx, l, func(e Logged) {
		m := out[e.Env.Department]
		if m == nil {
			m = map[uint64]uint64{}
			out[e.Env.Department] = m
		}
		if prev, dup := m[e.Env.Seq]; dup {
			t.Errorf("%s seq %d logged twice: leaves %d and %d", e.Env.Department, e.Env.Seq, prev, e.Leaf)
		}
		m[e.Env.Seq] = e.Leaf
	})
	return out
}

// EnvInt reads a positive integer from the environment, or returns def.
func EnvInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// Values makes valid, distinct values for every field of rt from i.
func Values(rt *schema.RecordType, i int) map[string]string {
	out := map[string]string{}
	for _, f := range rt.Fields {
		var v string
		switch f.Type {
		case schema.TypeString:
			v = fmt.Sprintf("%s-%d", f.Name, i)
		case schema.TypeInt:
			v = fmt.Sprint(2000 + i)
		case schema.TypeDecimal:
			v = fmt.Sprintf("%d.5", i)
		case schema.TypeDate:
			v = "2020-01-02"
		case schema.TypeDateTime:
			v = "2020-01-02T03:04:05Z"
		case schema.TypeBool:
			v = "true"
		case schema.TypeEnum:
			v = f.Values[0]
		case schema.TypeCitizenID:
			first := fmt.Sprintf("110105%s%03d", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000).Format("20060102"), i%1000)
			c, err := schema.CitizenIDCheck(first)
			if err != nil {
				panic("ingesttest: " + err.Error()) // the prefix is well-formed: a bug here
			}
			v = first + string(c)
		case schema.TypeCreditCode:
			first := fmt.Sprintf("91350100%09d", i)
			c, err := schema.CreditCodeCheck(first)
			if err != nil {
				panic("ingesttest: " + err.Error()) // the prefix is well-formed: a bug here
			}
			v = first + string(c)
		}
		out[f.Name] = v
	}
	return out
}

// EndOffsets returns the end offset of every partition of topic.
func EndOffsets(t testing.TB, ctx context.Context, addr, topic string) map[int]int64 {
	t.Helper()
	parts, err := ingest.Partitions(ctx, []string{addr}, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range parts {
		out[p] = partitionOffset(t, ctx, addr, topic, p, (*kafka.Conn).ReadLastOffset)
	}
	return out
}

// partitionOffset reads an offset of partition p of topic from its leader
// with read.
func partitionOffset(t testing.TB, ctx context.Context, addr, topic string, p int, read func(*kafka.Conn) (int64, error)) int64 {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	off, err := read(conn)
	if err != nil {
		t.Fatal(err)
	}
	return off
}
