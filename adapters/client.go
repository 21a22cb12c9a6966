package adapters

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"github.com/crossledger/crossledger/internal/topics"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite" // the "sqlite" driver

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
	// Catalog holds the department's record-type schemas. Required.
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

	// Now is the clock for envelope times. Default time.Now.
	Now func() time.Time
	// Logger. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ChangesTopic == "" {
		c.ChangesTopic = "crossledger.changes"
	}
	if c.ReceiptsTopic == "" {
		c.ReceiptsTopic = "crossledger.receipts"
	}
	if c.ResendAfter == 0 {
		c.ResendAfter = 5 * time.Second
	}
	if c.MaxResendAfter == 0 {
		c.MaxResendAfter = 2 * time.Minute
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
	case c.Catalog == nil:
		return errors.New("adapters: Catalog is required")
	case c.LogVerifier == nil:
		return errors.New("adapters: LogVerifier is required")
	case len(c.Brokers) == 0:
		return errors.New("adapters: Brokers are required")
	case c.OutboxPath == "":
		return errors.New("adapters: OutboxPath is required")
	case c.ResendAfter < 0 || c.MaxResendAfter < c.ResendAfter:
		return errors.New("adapters: need 0 ≤ ResendAfter ≤ MaxResendAfter")
	}
	if _, ok := c.Catalog.Department(c.Department); !ok {
		return fmt.Errorf("adapters: department %s is not in the catalog", c.Department)
	}
	return nil
}

// Rejection is a message ingest refused.
type Rejection struct {
	Seq    uint64
	Reason string // machine-readable, see schema.ReasonOf
	Detail string
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

// Client is a department's connection to the ledger. Publish may be
// called concurrently; Run must be running for receipts and re-sends.
type Client struct {
	cfg    Config
	db     *sql.DB
	writer *kafka.Writer
	mu     sync.Mutex // serialises Publish: seq order = send order
}

// Open opens (creating) the outbox and prepares the Kafka writer. On the
// first open it records the receipts topic's end offsets, so the receipt
// consumer reads every receipt for messages published from now on.
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
	c := &Client{cfg: cfg, db: db}
	if err := c.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	c.writer = topics.NewWriter(cfg.Brokers, cfg.ChangesTopic)
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

// Close closes the writer and the outbox. Stop Run first.
func (c *Client) Close() error {
	werr := c.writer.Close()
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("adapters: couldn't close outbox: %w", err)
	}
	return werr
}

// Publish records a change of one record: it validates values against the
// latest version of recordType, commits to each field, derives the record
// reference from the key fields, assigns the next seq, signs, stores the
// message in the outbox (seq and row in one transaction) and sends it.
// For a delete, values holds just the key fields. It returns the seq. An
// error matching [ErrQueued] means the message is durable but not sent
// yet; any other error means nothing was stored.
func (c *Client) Publish(ctx context.Context, recordType string, op schema.Op, values map[string]string) (uint64, error) {
	rt, err := c.cfg.Catalog.RecordType(c.cfg.Department, recordType, 0)
	if err != nil {
		return 0, err
	}
	key, err := recordKey(rt, values)
	if err != nil {
		return 0, err
	}
	ref := schema.RecordRef(c.cfg.RecordSecret, rt.Name, key)
	if op == schema.OpDelete {
		values = nil
	}
	ch, ds, err := schema.BuildChange(rt, op, ref, values, rand.Reader)
	if err != nil {
		return 0, err
	}
	env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: c.cfg.Department, Change: ch}
	return c.publish(ctx, env, ds)
}

// PublishEnvelope publishes an envelope of any kind (a grant, a revoke, a
// schema version…) with its disclosures: the client sets V, Department,
// Seq and Time, signs it and sends it like [Client.Publish].
func (c *Client) PublishEnvelope(ctx context.Context, env *schema.Envelope, ds []schema.Disclosure) (uint64, error) {
	env.V, env.Department = 1, c.cfg.Department
	return c.publish(ctx, env, ds)
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

func (c *Client) publish(ctx context.Context, env *schema.Envelope, ds []schema.Disclosure) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err)
	}
	defer tx.Rollback()
	var seq uint64
	if err := tx.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'next_seq'`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("adapters: couldn't read next seq: %w", err)
	}
	env.Seq = seq
	env.Time = c.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	if err := schema.Sign(env, c.cfg.Key); err != nil {
		return 0, err
	}
	if err := env.Validate(); err != nil {
		return 0, err
	}
	m, err := schema.NewMessage(env, ds)
	if err != nil {
		return 0, err
	}
	if len(m.Envelope) > schema.MaxEntrySize {
		return 0, fmt.Errorf("adapters: envelope is %d bytes: %w", len(m.Envelope), schema.ErrTooLarge)
	}
	value, err := m.Encode()
	if err != nil {
		return 0, err
	}
	next := c.cfg.Now().Add(c.cfg.ResendAfter).UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (seq, digest, envelope, message, state, attempts, next_attempt) VALUES (?, ?, ?, ?, 'pending', 1, ?)`,
		seq, schema.EnvelopeDigest(m.Envelope), []byte(m.Envelope), value, next); err != nil {
		return 0, fmt.Errorf("adapters: couldn't store message: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = 'next_seq'`, seq+1); err != nil {
		return 0, fmt.Errorf("adapters: couldn't advance seq: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("adapters: couldn't commit outbox: %w", err)
	}
	if err := c.writer.WriteMessages(ctx, kafka.Message{Key: []byte(c.cfg.Department), Value: value}); err != nil {
		return seq, fmt.Errorf("%w: seq %d: %v", ErrQueued, seq, err)
	}
	return seq, nil
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
// done.
func (c *Client) Run(ctx context.Context) error {
	parts, err := topics.Partitions(ctx, c.cfg.Brokers, c.cfg.ReceiptsTopic)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		start, err := c.receiptOffset(gctx, p)
		if err != nil {
			return err
		}
		g.Go(func() error {
			return topics.ReadPartition(gctx, c.cfg.Brokers, c.cfg.ReceiptsTopic, p, start, 250*time.Millisecond,
				func(m kafka.Message) error {
					if string(m.Key) != c.cfg.Department {
						return nil
					}
					return c.handleReceipt(gctx, p, m.Offset, m.Value)
				})
		})
	}
	g.Go(func() error { return c.resendLoop(gctx) })
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
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

// handleReceipt verifies one receipt and settles its outbox row. Receipts
// that don't match a pending row (other senders' seqs, repeats, forged
// digests) change nothing.
func (c *Client) handleReceipt(ctx context.Context, partition int, offset int64, value []byte) error {
	r, err := schema.DecodeReceipt(value)
	if err != nil {
		c.cfg.Logger.Warn("undecodable receipt", "partition", partition, "offset", offset, "err", err)
		return c.saveOffset(ctx, partition, offset)
	}
	var (
		seq      uint64
		digest   string
		envelope []byte
	)
	q := `SELECT seq, digest, envelope FROM outbox WHERE state = 'pending' AND seq = ?`
	arg := any(r.Seq)
	if r.Seq == 0 { // the envelope was unreadable: match by digest
		q, arg = `SELECT seq, digest, envelope FROM outbox WHERE state = 'pending' AND digest = ?`, r.EnvelopeDigest
	}
	err = c.db.QueryRowContext(ctx, q, arg).Scan(&seq, &digest, &envelope)
	if errors.Is(err, sql.ErrNoRows) {
		return c.saveOffset(ctx, partition, offset)
	}
	if err != nil {
		return fmt.Errorf("adapters: couldn't look up outbox row: %w", err)
	}
	if r.EnvelopeDigest != digest {
		c.cfg.Logger.Warn("receipt for another envelope with our seq", "seq", seq, "receipt_digest", r.EnvelopeDigest, "ours", digest, "status", r.Status)
		return c.saveOffset(ctx, partition, offset)
	}
	if r.Status == schema.StatusRejected {
		err := c.settle(ctx, partition, offset, `UPDATE outbox SET state = 'rejected', reason = ?, detail = ? WHERE seq = ?`, r.Reason, r.Detail, seq)
		if err != nil {
			return fmt.Errorf("adapters: couldn't record rejection: %w", err)
		}
		c.cfg.Logger.Warn("message rejected", "seq", seq, "reason", r.Reason, "detail", r.Detail)
		if c.cfg.OnRejected != nil {
			c.cfg.OnRejected(Rejection{Seq: seq, Reason: r.Reason, Detail: r.Detail})
		}
		return nil
	}
	if err := VerifyReceipt(r, envelope, c.cfg.LogVerifier); err != nil {
		c.cfg.Logger.Error("receipt does not verify; keeping message pending", "seq", seq, "err", err)
		return c.saveOffset(ctx, partition, offset)
	}
	if err := c.settle(ctx, partition, offset, `UPDATE outbox SET state = 'done', leaf = ?, message = x'', envelope = x'' WHERE seq = ?`, r.Leaf, seq); err != nil {
		return fmt.Errorf("adapters: couldn't retire seq %d: %w", seq, err)
	}
	return nil
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

// settle updates an outbox row and the receipt offset in one transaction.
func (c *Client) settle(ctx context.Context, partition int, offset int64, q string, args ...any) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE receipt_offsets SET next = ? WHERE partition = ?`, offset+1, partition); err != nil {
		return err
	}
	return tx.Commit()
}

func (c *Client) saveOffset(ctx context.Context, partition int, offset int64) error {
	if _, err := c.db.ExecContext(ctx, `UPDATE receipt_offsets SET next = ? WHERE partition = ?`, offset+1, partition); err != nil {
		return fmt.Errorf("adapters: couldn't store receipt offset: %w", err)
	}
	return nil
}

// resendLoop re-sends pending messages whose receipt is overdue, in seq
// order, with exponential backoff per message.
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

func (c *Client) resendDue(ctx context.Context) error {
	c.mu.Lock() // keep re-sends and new sends in seq order
	defer c.mu.Unlock()
	now := c.cfg.Now()
	rows, err := c.db.QueryContext(ctx, `SELECT seq, message, attempts FROM outbox WHERE state = 'pending' AND next_attempt <= ? ORDER BY seq LIMIT 1000`, now.UnixMilli())
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
