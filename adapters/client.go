package adapters

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/crossledger/crossledger/internal/topics"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// ErrQueued: Publish stored the message durably in the outbox but could
// not send it now; the client re-sends it. Callers may treat it as success.
var ErrQueued = errors.New("adapters: queued in outbox, not sent yet")

// Config configures a [Client].
type Config struct {
	// Department is the department id the client signs as. Required.
	Department string
	// Key is the department's current signing key. Required.
	Key ed25519.PrivateKey
	// RecordSecret keys record references (schema.RecordRef). Required,
	// ≥ 16 bytes; keep it stable for the department's lifetime.
	RecordSecret []byte
	// Catalog holds the department's record-type schemas. A department
	// that publishes no record changes (a gateway writing access entries
	// with PublishEnvelope) may be absent from it, or Catalog may be nil;
	// Publish then fails.
	Catalog *schema.Catalog
	// LogVerifier verifies the log's checkpoints (merkle.NewSigner's
	// verifier, or note.NewVerifier of the log's public key). Required.
	LogVerifier note.Verifier

	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// ChangesTopic (default crossledger.changes) is published to;
	// ReceiptsTopic (default crossledger.receipts) is consumed.
	ChangesTopic  string
	ReceiptsTopic string

	// OutboxPath is the SQLite outbox file. Required.
	OutboxPath string

	// ResendAfter is how long a sent message waits for its receipt before
	// the first re-send; each further re-send doubles it, up to
	// MaxResendAfter. Defaults 5s and 2m.
	ResendAfter    time.Duration
	MaxResendAfter time.Duration

	// OnRejected, if set, is called (from the receipt consumer; don't
	// block) for every rejection of one of the client's messages.
	OnRejected func(Rejection)
	// OnAccepted, if set, is called (from the receipt consumer; don't
	// block) for every message whose receipt verified, after its outbox
	// row was retired.
	OnAccepted func(Accepted)

	// MaxBatch bounds how many changes one outbox transaction and one
	// Kafka write carry (group commit), and how many receipts are
	// settled together. Default 1000.
	MaxBatch int

	// Now is the clock for envelope times. Default time.Now.
	Now func() time.Time
	// Logger. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ChangesTopic == "" {
		c.ChangesTopic = topics.Changes
	}
	if c.ReceiptsTopic == "" {
		c.ReceiptsTopic = topics.Receipts
	}
	if c.ResendAfter == 0 {
		c.ResendAfter = 5 * time.Second
	}
	if c.MaxResendAfter == 0 {
		c.MaxResendAfter = 2 * time.Minute
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case c.Department == "":
		return errors.New("adapters: Department is required")
	case len(c.Key) != ed25519.PrivateKeySize:
		return errors.New("adapters: Key is not an Ed25519 private key")
	case len(c.RecordSecret) < 16:
		return errors.New("adapters: RecordSecret must be at least 16 bytes")
	case c.LogVerifier == nil:
		return errors.New("adapters: LogVerifier is required")
	case len(c.Brokers) == 0:
		return errors.New("adapters: Brokers are required")
	case c.OutboxPath == "":
		return errors.New("adapters: OutboxPath is required")
	case c.ResendAfter < 0 || c.MaxResendAfter < c.ResendAfter:
		return errors.New("adapters: need 0 ≤ ResendAfter ≤ MaxResendAfter")
	case c.MaxBatch < 0:
		return errors.New("adapters: MaxBatch must be ≥ 0")
	}
	return nil
}

// Rejection is a message ingest refused.
type Rejection struct {
	Seq    uint64
	Reason string // machine-readable, see schema.ReasonOf
	Detail string
}

// Accepted is a message whose receipt verified: it is in the log at Leaf.
type Accepted struct {
	Seq  uint64
	Leaf uint64
	// Sent is when this client first sent the message; zero for a
	// message recovered from the outbox when the client was (re)opened.
	Sent time.Time
}

// State is an outbox row's state.
type State string

const (
	StatePending  State = "pending"
	StateDone     State = "done"
	StateRejected State = "rejected"
)

// Status is what the outbox knows about one seq.
type Status struct {
	Seq      uint64
	State    State
	Leaf     uint64 // StateDone
	Reason   string // StateRejected
	Detail   string
	Attempts int
}

// Client is a department's connection to the ledger. Publish,
// PublishEnvelope and PublishBatch may be called concurrently; Run must be
// running for receipts and re-sends.
//
// # Group commit
//
// Publishing calls enqueue their envelopes and wait. One committer
// goroutine takes everything queued (up to [Config.MaxBatch] changes),
// assigns consecutive seqs in queue order, signs them (on all cores),
// stores every row and the next seq in one fsynced transaction, and hands
// the batch to one sender goroutine, which sends it with one Kafka write
// and completes each caller. While one batch is being sent the next is
// being committed; sends stay in seq order. So a single caller pays the
// same one fsync and one round trip as before, and many concurrent callers
// share them.
//
// # Backlog first
//
// Open finds the outbox's pending rows: a previous process's, some sent,
// some maybe committed but never sent, none known to be in flight (an
// ingest that restarted meanwhile dropped the early messages it held).
// Before the sender writes anything new, it re-sends all of them, in seq
// order, MaxBatch per write; publishing calls meanwhile still commit to
// the outbox and wait for their turn. So a gap a crash left is filled
// first, and what follows it is not piled up in ingest's held set (its
// max_pending) waiting for each gap row's next_attempt. A batch whose
// write fails joins that backlog: until the backlog is written, nothing
// with a higher seq is (its callers get [ErrQueued]), and the re-send loop
// retries the backlog before anything else.
//
// Shutdown: Close stops accepting calls, lets the committer store and the
// sender send what was queued, then closes the writer and the outbox.
type Client struct {
	cfg    Config
	db     *sql.DB
	writer *kafka.Writer
	// mu serialises Kafka writes (the sender's and resendDue's), so
	// messages leave in seq order.
	mu sync.Mutex
	// unsentLo–unsentHi (guarded by mu; 0–0: none) covers the pending
	// rows this process has not written to Kafka: at Open, every pending
	// row; later, batches whose write failed or was held back behind
	// them. See sendUnsent.
	unsentLo, unsentHi uint64

	queue    chan *pubReq
	toSend   chan *sendBatch
	closeMu  sync.RWMutex // held shared while enqueuing; Close takes it to stop
	closed   bool
	quit     chan struct{}
	done     chan struct{} // closed when the committer and sender have stopped
	sendCtx  context.Context
	stopSend context.CancelFunc

	verifier note.Verifier // cfg.LogVerifier, remembering good signatures

	sentMu sync.Mutex
	sentAt map[uint64]time.Time // first send of pending seqs, for Accepted

	// Receipt progress, for resendDue: when a receipt last settled a row
	// (Unix ns of cfg.Now) and the highest seq settled.
	lastSettled atomic.Int64
	maxSettled  atomic.Uint64
}

// ErrClosed is returned by publishing calls on a closed [Client].
var ErrClosed = errors.New("adapters: client closed")

// Open opens (creating) the outbox, prepares the Kafka writer and starts
// the committer. On the first open it records the receipts topic's end
// offsets, so the receipt consumer reads every receipt for messages
// published from now on.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open("sqlite", "file:"+cfg.OutboxPath+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("adapters: couldn't open outbox: %w", err)
	}
	db.SetMaxOpenConns(1)
	c := &Client{cfg: cfg, db: db,
		queue:    make(chan *pubReq, cfg.MaxBatch),
		toSend:   make(chan *sendBatch, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		verifier: &cachingVerifier{Verifier: cfg.LogVerifier},
		sentAt:   map[uint64]time.Time{},
	}
	if err := c.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	var lo, hi sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM outbox WHERE state = 'pending'`).Scan(&lo, &hi); err != nil {
		db.Close()
		return nil, fmt.Errorf("adapters: couldn't read the outbox backlog: %w", err)
	}
	if lo.Valid {
		c.unsentLo, c.unsentHi = uint64(lo.Int64), uint64(hi.Int64)
	}
	c.writer = topics.NewWriter(cfg.Brokers, cfg.ChangesTopic)
	c.sendCtx, c.stopSend = context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.commitLoop() }()
	go func() { defer wg.Done(); c.sendLoop() }()
	go func() { wg.Wait(); close(c.done) }()
	return c, nil
}

func (c *Client) migrate(ctx context.Context) error {
	_, err := c.db.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (k, v) VALUES ('next_seq', 1);
CREATE TABLE IF NOT EXISTS outbox (
	seq INTEGER PRIMARY KEY,
	digest TEXT NOT NULL,
	envelope BLOB NOT NULL,
	message BLOB NOT NULL,
	state TEXT NOT NULL,
	leaf INTEGER,
	reason TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, next_attempt);
CREATE TABLE IF NOT EXISTS receipt_offsets (partition INTEGER PRIMARY KEY, next INTEGER NOT NULL);`)
	if err != nil {
		return fmt.Errorf("adapters: couldn't create outbox tables: %w", err)
	}
	return nil
}

// Close stops accepting publishing calls, stores and sends (one attempt)
// what was already queued, and closes the writer and the outbox. Stop Run
// first.
func (c *Client) Close() error {
	c.closeMu.Lock()
	already := c.closed
	c.closed = true
	c.closeMu.Unlock()
	if already {
		return nil
	}
	close(c.quit)
	<-c.done
	c.stopSend()
	werr := c.writer.Close()
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("adapters: couldn't close outbox: %w", err)
	}
	return werr
}

// Change is one record change for [Client.PublishBatch], as the arguments
// of [Client.Publish].
type Change struct {
	RecordType string
	Op         schema.Op
	Values     map[string]string
}

// Publish records a change of one record: it validates values against the
// latest version of recordType, commits to each field, derives the record
// reference from the key fields, assigns the next seq, signs, stores the
// message in the outbox (seq and row in one transaction) and sends it.
// For a delete, values holds just the key fields. It returns the seq. An
// error matching [ErrQueued] means the message is durable but not sent
// yet; any other error means nothing was stored.
func (c *Client) Publish(ctx context.Context, recordType string, op schema.Op, values map[string]string) (uint64, error) {
	it, err := c.build(Change{RecordType: recordType, Op: op, Values: values})
	if err != nil {
		return 0, err
	}
	seqs, err := c.submit(ctx, []pubItem{it})
	if len(seqs) == 0 {
		return 0, err
	}
	return seqs[0], err
}

// PublishBatch publishes changes as [Client.Publish] does, atomically:
// they get consecutive seqs, in order, and are stored in one transaction
// and sent in one write. It returns their seqs. An error matching
// [ErrQueued] means all are durable but not all were sent; any other
// error means none was stored (an invalid change is named by its index).
func (c *Client) PublishBatch(ctx context.Context, changes []Change) ([]uint64, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	its := make([]pubItem, len(changes))
	for i, ch := range changes {
		it, err := c.build(ch)
		if err != nil {
			return nil, fmt.Errorf("adapters: change %d: %w", i, err)
		}
		its[i] = it
	}
	return c.submit(ctx, its)
}

// PublishEnvelope publishes an envelope of any kind (a grant, a revoke, a
// schema version…) with its disclosures: the client sets V, Department,
// Seq and Time, signs it and sends it like [Client.Publish].
func (c *Client) PublishEnvelope(ctx context.Context, env *schema.Envelope, ds []schema.Disclosure) (uint64, error) {
	env.V, env.Department = 1, c.cfg.Department
	seqs, err := c.submit(ctx, []pubItem{{env: env, ds: ds}})
	if len(seqs) == 0 {
		return 0, err
	}
	return seqs[0], err
}

// build makes the unsigned envelope of a record change.
func (c *Client) build(chg Change) (pubItem, error) {
	if c.cfg.Catalog == nil {
		return pubItem{}, fmt.Errorf("adapters: no catalog: department %s can't publish record type %s", c.cfg.Department, chg.RecordType)
	}
	if _, ok := c.cfg.Catalog.Department(c.cfg.Department); !ok {
		return pubItem{}, fmt.Errorf("adapters: department %s is not in the catalog, so it has no record type %s (it can only PublishEnvelope)", c.cfg.Department, chg.RecordType)
	}
	rt, err := c.cfg.Catalog.RecordType(c.cfg.Department, chg.RecordType, 0)
	if err != nil {
		return pubItem{}, err
	}
	key, err := recordKey(rt, chg.Values)
	if err != nil {
		return pubItem{}, err
	}
	ref := schema.RecordRef(c.cfg.RecordSecret, rt.Name, key)
	values := chg.Values
	if chg.Op == schema.OpDelete {
		values = nil
	}
	ch, ds, err := schema.BuildChange(rt, chg.Op, ref, values, rand.Reader)
	if err != nil {
		return pubItem{}, err
	}
	env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: c.cfg.Department, Change: ch}
	return pubItem{env: env, ds: ds}, nil
}

func recordKey(rt *schema.RecordType, values map[string]string) ([]string, error) {
	key := make([]string, 0, len(rt.Key))
	for _, k := range rt.Key {
		f, _ := rt.Field(k)
		v, err := f.Canonical(values[k])
		if err != nil {
			return nil, err
		}
		key = append(key, v)
	}
	return key, nil
}

// pubItem is one envelope of a publishing call, and what the committer
// made of it.
type pubItem struct {
	env      *schema.Envelope
	ds       []schema.Disclosure
	digest   string
	envelope []byte // canonical signed envelope
	value    []byte // the encoded Kafka message
	err      error
}

// A pubReq is one publishing call, queued for the committer.
type pubReq struct {
	ctx   context.Context
	items []pubItem
	// state: reqQueued until the committer takes it (reqTaken) or the
	// caller gives up first (reqAbandoned: nothing will be stored).
	state atomic.Int32

	// Set by the committer before it closes stored: the seqs, or why
	// nothing was stored.
	seqs   []uint64
	err    error
	stored chan struct{}
	// Set by the sender before it closes sent: the first send error of
	// the request's messages, if any.
	sendErr error
	sent    chan struct{}
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// submit queues items as one request and waits for their seqs.
func (c *Client) submit(ctx context.Context, items []pubItem) ([]uint64, error) {
	r := &pubReq{ctx: ctx, items: items, stored: make(chan struct{}), sent: make(chan struct{})}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case c.queue <- r:
		c.closeMu.RUnlock()
	case <-ctx.Done():
		c.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-r.stored:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return nil, ctx.Err()
		}
		<-r.stored // taken: storing is bounded (SQLite busy timeout), wait for it
	}
	if r.err != nil {
		return nil, r.err
	}
	select {
	case <-r.sent:
	case <-ctx.Done():
		return r.seqs, fmt.Errorf("%w: %s: %v", ErrQueued, seqRange(r.seqs), ctx.Err())
	}
	if r.sendErr != nil {
		return r.seqs, fmt.Errorf("%w: %s: %v", ErrQueued, seqRange(r.seqs), r.sendErr)
	}
	return r.seqs, nil
}

func seqRange(seqs []uint64) string {
	if len(seqs) == 1 {
		return fmt.Sprintf("seq %d", seqs[0])
	}
	return fmt.Sprintf("seqs %d–%d", seqs[0], seqs[len(seqs)-1])
}

// commitLoop is the committer: it stores queued requests in batches until
// Close, then stores what is left and stops the sender.
func (c *Client) commitLoop() {
	defer close(c.toSend)
	for {
		var first *pubReq
		select {
		case first = <-c.queue:
		case <-c.quit:
			// Close holds off new requests; store those already queued.
			for {
				select {
				case r := <-c.queue:
					c.commit(c.gather(r))
				default:
					return
				}
			}
		}
		c.commit(c.gather(first))
	}
}

// gather returns first and whatever else is queued, up to MaxBatch items.
func (c *Client) gather(first *pubReq) []*pubReq {
	batch := []*pubReq{first}
	n := len(first.items)
	for n < c.cfg.MaxBatch {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
			n += len(r.items)
		default:
			return batch
		}
	}
	return batch
}

// sendBatch is one committed batch for the sender.
type sendBatch struct {
	reqs []*pubReq
	msgs []kafka.Message
}

// commit numbers, signs and stores reqs in one transaction and hands them
// to the sender. A request with an invalid envelope fails alone and the
// others are renumbered, so seqs stay dense.
func (c *Client) commit(reqs []*pubReq) {
	live := reqs[:0]
	for _, r := range reqs {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // abandoned by its caller
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.stored)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	fail := func(rs []*pubReq, err error) {
		for _, r := range rs {
			r.err = err
			close(r.stored)
		}
	}
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		fail(live, fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err))
		return
	}
	defer tx.Rollback()
	var next uint64
	if err := tx.QueryRow(`SELECT v FROM meta WHERE k = 'next_seq'`).Scan(&next); err != nil {
		fail(live, fmt.Errorf("adapters: couldn't read next seq: %w", err))
		return
	}
	now := c.cfg.Now()
	stamp := now.UTC().Format("2006-01-02T15:04:05Z")
	for {
		seq := next
		var items []*pubItem
		for _, r := range live {
			r.seqs = make([]uint64, len(r.items))
			for i := range r.items {
				it := &r.items[i]
				it.env.Seq, it.env.Time, it.err = seq, stamp, nil
				r.seqs[i] = seq
				seq++
				items = append(items, it)
			}
		}
		c.seal(items)
		ok := live[:0]
		var bad []*pubReq
		for _, r := range live {
			var err error
			for i, it := range r.items {
				if it.err != nil {
					err = it.err
					if len(r.items) > 1 {
						err = fmt.Errorf("adapters: change %d: %w", i, err)
					}
					break
				}
			}
			if err != nil {
				r.err = err
				bad = append(bad, r)
			} else {
				ok = append(ok, r)
			}
		}
		for _, r := range bad {
			close(r.stored)
		}
		live = ok
		if len(bad) == 0 || len(live) == 0 {
			break
		}
		// Renumber the rest (re-signing them) so no seq is skipped.
	}
	if len(live) == 0 {
		return
	}
	stmt, err := tx.Prepare(`INSERT INTO outbox (seq, digest, envelope, message, state, attempts, next_attempt) VALUES (?, ?, ?, ?, 'pending', 1, ?)`)
	if err != nil {
		fail(live, fmt.Errorf("adapters: couldn't store message: %w", err))
		return
	}
	defer stmt.Close()
	retry := now.Add(c.cfg.ResendAfter).UnixMilli()
	var msgs []kafka.Message
	last := next
	for _, r := range live {
		for i := range r.items {
			it := &r.items[i]
			if _, err := stmt.Exec(r.seqs[i], it.digest, it.envelope, it.value, retry); err != nil {
				fail(live, fmt.Errorf("adapters: couldn't store message seq %d: %w", r.seqs[i], err))
				return
			}
			msgs = append(msgs, kafka.Message{Key: []byte(c.cfg.Department), Value: it.value})
			last = r.seqs[i]
		}
	}
	if _, err := tx.Exec(`UPDATE meta SET v = ? WHERE k = 'next_seq'`, last+1); err != nil {
		fail(live, fmt.Errorf("adapters: couldn't advance seq: %w", err))
		return
	}
	if err := tx.Commit(); err != nil {
		fail(live, fmt.Errorf("adapters: couldn't commit outbox: %w", err))
		return
	}
	for _, r := range live {
		for i := range r.items {
			r.items[i].ds, r.items[i].envelope = nil, nil // the sender needs value only
		}
		close(r.stored)
	}
	c.toSend <- &sendBatch{reqs: live, msgs: msgs}
}

// seal signs, validates and encodes items (numbered and stamped), setting
// each item's err on failure. Signing is spread over all cores.
func (c *Client) seal(items []*pubItem) {
	one := func(it *pubItem) {
		if err := schema.Sign(it.env, c.cfg.Key); err != nil {
			it.err = err
			return
		}
		if err := it.env.Validate(); err != nil {
			it.err = err
			return
		}
		m, err := schema.NewMessage(it.env, it.ds)
		if err != nil {
			it.err = err
			return
		}
		if len(m.Envelope) > schema.MaxEntrySize {
			it.err = fmt.Errorf("adapters: envelope is %d bytes: %w", len(m.Envelope), schema.ErrTooLarge)
			return
		}
		if it.value, err = m.Encode(); err != nil {
			it.err = err
			return
		}
		it.envelope = []byte(m.Envelope)
		it.digest = schema.EnvelopeDigest(m.Envelope)
	}
	workers := min(runtime.GOMAXPROCS(0), len(items)/16+1)
	if workers <= 1 {
		for _, it := range items {
			one(it)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(items) + workers - 1) / workers
	for lo := 0; lo < len(items); lo += per {
		part := items[lo:min(lo+per, len(items))]
		wg.Go(func() {
			for _, it := range part {
				one(it)
			}
		})
	}
	wg.Wait()
}

// sendLoop is the sender: it first sends the outbox backlog, then writes
// each committed batch with one Kafka write, in commit order, and
// completes its callers. A batch waits for the backlog (see [Client]).
func (c *Client) sendLoop() {
	c.mu.Lock()
	if err := c.sendUnsent(c.sendCtx); err != nil && !errors.Is(err, ErrClosed) {
		c.cfg.Logger.Warn("couldn't send the outbox backlog; re-sending it later", "err", err)
	}
	c.mu.Unlock()
	for b := range c.toSend {
		first := b.reqs[0].seqs[0]
		last := b.reqs[len(b.reqs)-1].seqs[len(b.reqs[len(b.reqs)-1].seqs)-1]
		c.mu.Lock()
		now := time.Now()
		c.sentMu.Lock()
		for _, r := range b.reqs {
			for _, seq := range r.seqs {
				c.sentAt[seq] = now
			}
		}
		c.sentMu.Unlock()
		var err error
		if c.unsentLo != 0 {
			if uerr := c.sendUnsent(c.sendCtx); uerr != nil {
				err = fmt.Errorf("adapters: held back behind unsent seqs: %w", uerr)
			}
		}
		var werrs kafka.WriteErrors
		perMsg := false
		if err == nil {
			err = c.writer.WriteMessages(c.sendCtx, b.msgs...)
			perMsg = errors.As(err, &werrs) && len(werrs) == len(b.msgs)
		}
		if err != nil {
			c.addUnsent(first, last)
		}
		c.mu.Unlock()
		i := 0
		for _, r := range b.reqs {
			for range r.seqs {
				e := err
				if perMsg {
					e = werrs[i]
				}
				if e != nil && r.sendErr == nil {
					r.sendErr = e
				}
				i++
			}
			close(r.sent)
		}
	}
}

// Status reports the outbox state of seq.
func (c *Client) Status(ctx context.Context, seq uint64) (Status, error) {
	s := Status{Seq: seq}
	var leaf sql.NullInt64
	err := c.db.QueryRowContext(ctx, `SELECT state, leaf, reason, detail, attempts FROM outbox WHERE seq = ?`, seq).
		Scan(&s.State, &leaf, &s.Reason, &s.Detail, &s.Attempts)
	if err != nil {
		return Status{}, fmt.Errorf("adapters: couldn't read status of seq %d: %w", seq, err)
	}
	s.Leaf = uint64(leaf.Int64)
	return s, nil
}

// Pending returns how many messages await a verified receipt.
func (c *Client) Pending(ctx context.Context) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE state = 'pending'`).Scan(&n)
	return n, err
}

// Run consumes receipts and re-sends unacknowledged messages until ctx is
// done. Receipts are settled in batches: whatever has arrived (up to
// MaxBatch) is verified and retired in one transaction.
func (c *Client) Run(ctx context.Context) error {
	parts, err := topics.Partitions(ctx, c.cfg.Brokers, c.cfg.ReceiptsTopic)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	in := make(chan receiptMsg, c.cfg.MaxBatch)
	for _, p := range parts {
		start, err := c.receiptOffset(gctx, p)
		if err != nil {
			return err
		}
		g.Go(func() error {
			return topics.ReadPartition(gctx, c.cfg.Brokers, c.cfg.ReceiptsTopic, p, start, 250*time.Millisecond,
				func(m kafka.Message) error {
					select {
					case in <- receiptMsg{partition: p, offset: m.Offset, ours: string(m.Key) == c.cfg.Department, value: m.Value}:
						return nil
					case <-gctx.Done():
						return gctx.Err()
					}
				})
		})
	}
	g.Go(func() error {
		for {
			var batch []receiptMsg
			select {
			case <-gctx.Done():
				return nil
			case m := <-in:
				batch = append(batch, m)
			}
		more:
			for len(batch) < c.cfg.MaxBatch {
				select {
				case m := <-in:
					batch = append(batch, m)
				default:
					break more
				}
			}
			if err := c.handleReceipts(gctx, batch); err != nil {
				if gctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	})
	g.Go(func() error { return c.resendLoop(gctx) })
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// receiptMsg is one message of the receipts topic.
type receiptMsg struct {
	partition int
	offset    int64
	ours      bool // keyed by our department
	value     []byte
}

// receiptOffset returns where to start reading partition p: the stored
// offset, or (first run) the partition's current end, stored now.
func (c *Client) receiptOffset(ctx context.Context, p int) (int64, error) {
	var next int64
	err := c.db.QueryRowContext(ctx, `SELECT next FROM receipt_offsets WHERE partition = ?`, p).Scan(&next)
	if err == nil {
		return next, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("adapters: couldn't read receipt offset: %w", err)
	}
	conn, err := kafka.DialLeader(ctx, "tcp", c.cfg.Brokers[0], c.cfg.ReceiptsTopic, p)
	if err != nil {
		return 0, fmt.Errorf("adapters: couldn't dial receipts/%d leader: %w", p, err)
	}
	defer conn.Close()
	// Receipts for messages already in the outbox may predate a first
	// run that started late: then start from the beginning.
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		return 0, err
	}
	if n > 0 {
		next, err = conn.ReadFirstOffset()
	} else {
		next, err = conn.ReadLastOffset()
	}
	if err != nil {
		return 0, fmt.Errorf("adapters: couldn't read receipts/%d offsets: %w", p, err)
	}
	if _, err := c.db.ExecContext(ctx, `INSERT OR IGNORE INTO receipt_offsets (partition, next) VALUES (?, ?)`, p, next); err != nil {
		return 0, fmt.Errorf("adapters: couldn't store receipt offset: %w", err)
	}
	return next, nil
}

// handleReceipts verifies a batch of receipts and settles their outbox
// rows and the receipt offsets in one transaction; the callbacks run
// after it committed. Receipts that don't match a pending row (other
// senders' seqs, repeats, forged digests) change nothing but the offset.
func (c *Client) handleReceipts(ctx context.Context, batch []receiptMsg) error {
	type settled struct {
		seq      uint64
		rejected bool
		leaf     uint64
		reason   string
		detail   string
	}
	type row struct {
		digest   string
		envelope []byte
	}
	// Decode ours, then look their rows up with one query.
	offsets := map[int]int64{}
	var rs []*schema.Receipt
	var seqs []any
	for _, m := range batch {
		offsets[m.partition] = m.offset + 1
		if !m.ours {
			continue
		}
		r, err := schema.DecodeReceipt(m.value)
		if err != nil {
			c.cfg.Logger.Warn("undecodable receipt", "partition", m.partition, "offset", m.offset, "err", err)
			continue
		}
		rs = append(rs, r)
		if r.Seq != 0 {
			seqs = append(seqs, r.Seq)
		}
	}
	rows := map[uint64]row{}
	if len(seqs) > 0 {
		q := `SELECT seq, digest, envelope FROM outbox WHERE state = 'pending' AND seq IN (?` + strings.Repeat(",?", len(seqs)-1) + `)`
		res, err := c.db.QueryContext(ctx, q, seqs...)
		if err != nil {
			return fmt.Errorf("adapters: couldn't look up outbox rows: %w", err)
		}
		for res.Next() {
			var seq uint64
			var w row
			if err := res.Scan(&seq, &w.digest, &w.envelope); err != nil {
				res.Close()
				return fmt.Errorf("adapters: couldn't look up outbox rows: %w", err)
			}
			rows[seq] = w
		}
		res.Close()
		if err := res.Err(); err != nil {
			return fmt.Errorf("adapters: couldn't look up outbox rows: %w", err)
		}
	}
	var out []settled
	seen := map[uint64]bool{} // settled earlier in this batch
	for _, r := range rs {
		seq := r.Seq
		w, ok := rows[seq]
		if seq == 0 { // the envelope was unreadable: match by digest
			err := c.db.QueryRowContext(ctx, `SELECT seq, digest, envelope FROM outbox WHERE state = 'pending' AND digest = ?`, r.EnvelopeDigest).
				Scan(&seq, &w.digest, &w.envelope)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("adapters: couldn't look up outbox row: %w", err)
			}
			ok = err == nil
		}
		if !ok || seen[seq] {
			continue
		}
		if r.EnvelopeDigest != w.digest {
			c.cfg.Logger.Warn("receipt for another envelope with our seq", "seq", seq, "receipt_digest", r.EnvelopeDigest, "ours", w.digest, "status", r.Status)
			continue
		}
		if r.Status == schema.StatusRejected {
			seen[seq] = true
			out = append(out, settled{seq: seq, rejected: true, reason: r.Reason, detail: r.Detail})
			continue
		}
		if err := VerifyReceipt(r, w.envelope, c.verifier); err != nil {
			c.cfg.Logger.Error("receipt does not verify; keeping message pending", "seq", seq, "err", err)
			continue
		}
		seen[seq] = true
		out = append(out, settled{seq: seq, leaf: r.Leaf})
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err)
	}
	defer tx.Rollback()
	done, err := tx.PrepareContext(ctx, `UPDATE outbox SET state = 'done', leaf = ?, message = x'', envelope = x'' WHERE seq = ?`)
	if err != nil {
		return fmt.Errorf("adapters: couldn't settle receipts: %w", err)
	}
	defer done.Close()
	for _, s := range out {
		if s.rejected {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'rejected', reason = ?, detail = ? WHERE seq = ?`, s.reason, s.detail, s.seq)
		} else {
			_, err = done.ExecContext(ctx, s.leaf, s.seq)
		}
		if err != nil {
			return fmt.Errorf("adapters: couldn't settle seq %d: %w", s.seq, err)
		}
	}
	for p, next := range offsets {
		if _, err := tx.ExecContext(ctx, `UPDATE receipt_offsets SET next = ? WHERE partition = ?`, next, p); err != nil {
			return fmt.Errorf("adapters: couldn't store receipt offset: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("adapters: couldn't commit receipts: %w", err)
	}
	if len(out) > 0 {
		c.lastSettled.Store(c.cfg.Now().UnixNano())
	}
	for _, s := range out {
		if s.seq > c.maxSettled.Load() {
			c.maxSettled.Store(s.seq) // only this goroutine stores
		}
		c.sentMu.Lock()
		sent := c.sentAt[s.seq]
		delete(c.sentAt, s.seq)
		c.sentMu.Unlock()
		if s.rejected {
			c.cfg.Logger.Warn("message rejected", "seq", s.seq, "reason", s.reason, "detail", s.detail)
			if c.cfg.OnRejected != nil {
				c.cfg.OnRejected(Rejection{Seq: s.seq, Reason: s.reason, Detail: s.detail})
			}
		} else if c.cfg.OnAccepted != nil {
			c.cfg.OnAccepted(Accepted{Seq: s.seq, Leaf: s.leaf, Sent: sent})
		}
	}
	return nil
}

// cachingVerifier is a note.Verifier that remembers the signatures it
// accepted: consecutive receipts mostly carry the same checkpoint, and an
// Ed25519 verify per receipt would cost more than the rest of settling it.
// Only successes are cached, keyed by a hash of message and signature.
type cachingVerifier struct {
	note.Verifier
	mu sync.Mutex
	ok map[[sha256.Size]byte]bool
}

func (v *cachingVerifier) Verify(msg, sig []byte) bool {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(msg)))
	h.Write(n[:])
	h.Write(msg)
	h.Write(sig)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	v.mu.Lock()
	hit := v.ok[k]
	v.mu.Unlock()
	if hit {
		return true
	}
	if !v.Verifier.Verify(msg, sig) {
		return false
	}
	v.mu.Lock()
	if v.ok == nil || len(v.ok) >= 64 {
		v.ok = map[[sha256.Size]byte]bool{}
	}
	v.ok[k] = true
	v.mu.Unlock()
	return true
}

// VerifyReceipt checks an accepted or duplicate receipt for envelope: the
// digest names envelope, and the tlog-proof proves envelope at r.Leaf
// under a checkpoint signed by the log key v.
func VerifyReceipt(r *schema.Receipt, envelope []byte, v note.Verifier) error {
	if r.Status != schema.StatusAccepted && r.Status != schema.StatusDuplicate {
		return fmt.Errorf("adapters: receipt status %q carries no proof", r.Status)
	}
	if got := schema.EnvelopeDigest(envelope); r.EnvelopeDigest != got {
		return fmt.Errorf("adapters: receipt digest %s, envelope digest %s", r.EnvelopeDigest, got)
	}
	p, err := merkle.DecodeProof([]byte(r.Proof))
	if err != nil {
		return err
	}
	if p.Index != r.Leaf {
		return fmt.Errorf("adapters: receipt leaf %d, proof index %d", r.Leaf, p.Index)
	}
	if _, err := p.Verify(envelope, v); err != nil {
		return err
	}
	return nil
}

// resendLoop sends what this process has not written yet (the outbox
// backlog, failed writes; see [Client]), then re-sends pending messages
// whose receipt is overdue, in seq order, with exponential backoff per
// message; while receipts keep arriving, only those below the highest seq
// answered (see resendDue): every row it considers was sent by this
// process.
func (c *Client) resendLoop(ctx context.Context) error {
	tick := time.NewTicker(max(c.cfg.ResendAfter/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := c.resendDue(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("couldn't re-send", "err", err)
		}
	}
}

// addUnsent adds the seqs lo–hi to the unsent range, which stays one
// range: nothing is written while it is not empty, so what it spans that
// was written is at most a failed write's partial success, and is only
// sent twice. c.mu must be held.
func (c *Client) addUnsent(lo, hi uint64) {
	if c.unsentLo == 0 {
		c.unsentLo, c.unsentHi = lo, hi
		return
	}
	c.unsentLo, c.unsentHi = min(c.unsentLo, lo), max(c.unsentHi, hi)
}

// sendUnsent writes the pending rows of the unsent range, in seq order,
// MaxBatch per write, whatever their next_attempt, and schedules each
// page's re-send ResendAfter later (so resendDue's rule about the highest
// settled seq applies to them only once this process has sent them). It
// stops at the first failure, keeping the rest unsent, and before a page
// when the client is closing. c.mu must be held.
func (c *Client) sendUnsent(ctx context.Context) error {
	for c.unsentLo != 0 {
		select {
		case <-c.quit:
			return ErrClosed
		default:
		}
		rows, err := c.db.QueryContext(ctx, `SELECT seq, message FROM outbox WHERE state = 'pending' AND seq BETWEEN ? AND ? ORDER BY seq LIMIT ?`,
			c.unsentLo, c.unsentHi, c.cfg.MaxBatch)
		if err != nil {
			return fmt.Errorf("adapters: couldn't read the outbox backlog: %w", err)
		}
		var msgs []kafka.Message
		var first, last uint64
		for rows.Next() {
			var msg []byte
			if err := rows.Scan(&last, &msg); err != nil {
				rows.Close()
				return fmt.Errorf("adapters: couldn't read the outbox backlog: %w", err)
			}
			if first == 0 {
				first = last
			}
			msgs = append(msgs, kafka.Message{Key: []byte(c.cfg.Department), Value: msg})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("adapters: couldn't read the outbox backlog: %w", err)
		}
		if len(msgs) == 0 { // settled meanwhile
			c.unsentLo, c.unsentHi = 0, 0
			return nil
		}
		if err := c.writer.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("adapters: couldn't send seqs %d–%d of the outbox backlog: %w", first, last, err)
		}
		if last >= c.unsentHi {
			c.unsentLo, c.unsentHi = 0, 0
		} else {
			c.unsentLo = last + 1
		}
		// One statement for the page: the rows between first and last
		// that are still pending are exactly the page.
		if _, err := c.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ? WHERE state = 'pending' AND seq BETWEEN ? AND ?`,
			c.cfg.Now().Add(c.cfg.ResendAfter).UnixMilli(), first, last); err != nil {
			return fmt.Errorf("adapters: couldn't schedule re-send of seqs %d–%d: %w", first, last, err)
		}
		c.cfg.Logger.Info("sent outbox backlog", "first", first, "last", last, "n", len(msgs))
	}
	return nil
}

func (c *Client) resendDue(ctx context.Context) error {
	c.mu.Lock() // keep re-sends and new sends in seq order
	defer c.mu.Unlock()
	// What this process has not written goes first, whatever the rule
	// below says: it is not queued in ingest, it is missing there.
	if err := c.sendUnsent(ctx); err != nil {
		return err
	}
	now := c.cfg.Now()
	q, args := `SELECT seq, message, attempts FROM outbox WHERE state = 'pending' AND next_attempt <= ?`, []any{now.UnixMilli()}
	if last := c.lastSettled.Load(); last != 0 && now.Sub(time.Unix(0, last)) < c.cfg.ResendAfter {
		// Receipts are flowing, and ingest answers a department's seqs
		// in order: a pending seq above the highest answered one is
		// queued behind the others, not lost, and re-sending it would
		// only make ingest verify it twice (under a backlog, every
		// message would be sent twice). Below it, it is a gap: re-send.
		q, args = q+` AND seq < ?`, append(args, c.maxSettled.Load())
	}
	rows, err := c.db.QueryContext(ctx, q+` ORDER BY seq LIMIT 1000`, args...)
	if err != nil {
		return err
	}
	type due struct {
		seq      uint64
		msg      []byte
		attempts int
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.seq, &d.msg, &d.attempts); err != nil {
			rows.Close()
			return err
		}
		ds = append(ds, d)
	}
	rows.Close()
	if len(ds) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(ds))
	for i, d := range ds {
		msgs[i] = kafka.Message{Key: []byte(c.cfg.Department), Value: d.msg}
	}
	if err := c.writer.WriteMessages(ctx, msgs...); err != nil {
		return err
	}
	// One transaction for the whole batch: a commit per row (each an
	// fsync) held c.mu for seconds when a thousand rows were due, and
	// Publish waited behind it.
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err)
	}
	defer tx.Rollback()
	for _, d := range ds {
		wait := c.cfg.ResendAfter << min(d.attempts, 20)
		if wait > c.cfg.MaxResendAfter || wait <= 0 {
			wait = c.cfg.MaxResendAfter
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ? WHERE seq = ? AND state = 'pending'`,
			now.Add(wait).UnixMilli(), d.seq); err != nil {
			return fmt.Errorf("adapters: couldn't schedule re-send of seq %d: %w", d.seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("adapters: couldn't commit re-send schedule: %w", err)
	}
	c.cfg.Logger.Info("re-sent unacknowledged messages", "n", len(ds))
	return nil
}
