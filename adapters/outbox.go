package adapters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// outbox is the SQLite outbox (its tables are drawn in the package doc).
// Every statement the package runs is a method here.
//
// Contract: each method that writes is one transaction, fsynced
// (synchronous=FULL) when it returns nil; on an error nothing it would
// have written is. One connection serves all callers, so the methods are
// safe concurrently and run one at a time. Only the committer calls
// [outbox.append], so seqs are handed out by one goroutine.
type outbox struct {
	db *sql.DB
}

// openOutbox opens (creating and migrating) the outbox at path.
func openOutbox(ctx context.Context, path string) (*outbox, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("adapters: couldn't open outbox: %w", err)
	}
	db.SetMaxOpenConns(1)
	o := &outbox{db: db}
	if err := o.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return o, nil
}

func (o *outbox) migrate(ctx context.Context) error {
	_, err := o.db.ExecContext(ctx, `
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

func (o *outbox) close() error {
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("adapters: couldn't close outbox: %w", err)
	}
	return nil
}

// newRow is a message to store: numbered, signed and encoded.
type newRow struct {
	seq      uint64
	digest   string
	envelope []byte // canonical signed envelope
	message  []byte // the encoded Kafka message
}

// append reserves seqs and stores rows in one transaction: it calls
// number with the next free seq, stores the rows number returns (pending,
// one attempt, next attempt at retryAt, Unix ms) and advances the next
// seq past the last of them. number returns the rows in seq order, from
// next, without gaps; if it returns none, nothing changes.
func (o *outbox) append(retryAt int64, number func(next uint64) []newRow) error {
	tx, err := o.db.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err)
	}
	defer tx.Rollback()
	var next uint64
	if err := tx.QueryRow(`SELECT v FROM meta WHERE k = 'next_seq'`).Scan(&next); err != nil {
		return fmt.Errorf("adapters: couldn't read next seq: %w", err)
	}
	rows := number(next)
	if len(rows) == 0 {
		return nil
	}
	stmt, err := tx.Prepare(`INSERT INTO outbox (seq, digest, envelope, message, state, attempts, next_attempt) VALUES (?, ?, ?, ?, 'pending', 1, ?)`)
	if err != nil {
		return fmt.Errorf("adapters: couldn't store message: %w", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.Exec(r.seq, r.digest, r.envelope, r.message, retryAt); err != nil {
			return fmt.Errorf("adapters: couldn't store message seq %d: %w", r.seq, err)
		}
	}
	if _, err := tx.Exec(`UPDATE meta SET v = ? WHERE k = 'next_seq'`, rows[len(rows)-1].seq+1); err != nil {
		return fmt.Errorf("adapters: couldn't advance seq: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("adapters: couldn't commit outbox: %w", err)
	}
	return nil
}

// pendingRange returns the lowest and highest pending seq; ok is false
// when nothing is pending.
func (o *outbox) pendingRange(ctx context.Context) (lo, hi uint64, ok bool, err error) {
	var l, h sql.NullInt64
	if err := o.db.QueryRowContext(ctx, `SELECT min(seq), max(seq) FROM outbox WHERE state = 'pending'`).Scan(&l, &h); err != nil {
		return 0, 0, false, fmt.Errorf("adapters: couldn't read the outbox backlog: %w", err)
	}
	return uint64(l.Int64), uint64(h.Int64), l.Valid, nil
}

// status reports the row of seq.
func (o *outbox) status(ctx context.Context, seq uint64) (Status, error) {
	s := Status{Seq: seq}
	var leaf sql.NullInt64
	err := o.db.QueryRowContext(ctx, `SELECT state, leaf, reason, detail, attempts FROM outbox WHERE seq = ?`, seq).
		Scan(&s.State, &leaf, &s.Reason, &s.Detail, &s.Attempts)
	if err != nil {
		return Status{}, fmt.Errorf("adapters: couldn't read status of seq %d: %w", seq, err)
	}
	s.Leaf = uint64(leaf.Int64)
	return s, nil
}

// pendingCount counts the rows awaiting a verified receipt.
func (o *outbox) pendingCount(ctx context.Context) (int, error) {
	var n int
	err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE state = 'pending'`).Scan(&n)
	return n, err
}

// empty reports whether the outbox has never stored a row.
func (o *outbox) empty(ctx context.Context) (bool, error) {
	var n int
	if err := o.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		return false, err
	}
	return n == 0, nil
}

// pendingRow is what settling a receipt needs of a pending row.
type pendingRow struct {
	seq      uint64
	digest   string
	envelope []byte
}

// pendingBySeq returns the pending rows among seqs, by seq.
func (o *outbox) pendingBySeq(ctx context.Context, seqs []any) (map[uint64]pendingRow, error) {
	out := map[uint64]pendingRow{}
	if len(seqs) == 0 {
		return out, nil
	}
	q := `SELECT seq, digest, envelope FROM outbox WHERE state = 'pending' AND seq IN (?` + strings.Repeat(",?", len(seqs)-1) + `)`
	res, err := o.db.QueryContext(ctx, q, seqs...)
	if err != nil {
		return nil, fmt.Errorf("adapters: couldn't look up outbox rows: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var w pendingRow
		if err := res.Scan(&w.seq, &w.digest, &w.envelope); err != nil {
			return nil, fmt.Errorf("adapters: couldn't look up outbox rows: %w", err)
		}
		out[w.seq] = w
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("adapters: couldn't look up outbox rows: %w", err)
	}
	return out, nil
}

// pendingByDigest returns the pending row whose envelope has digest; ok
// is false when there is none.
func (o *outbox) pendingByDigest(ctx context.Context, digest string) (w pendingRow, ok bool, err error) {
	err = o.db.QueryRowContext(ctx, `SELECT seq, digest, envelope FROM outbox WHERE state = 'pending' AND digest = ?`, digest).
		Scan(&w.seq, &w.digest, &w.envelope)
	if errors.Is(err, sql.ErrNoRows) {
		return pendingRow{}, false, nil
	}
	if err != nil {
		return pendingRow{}, false, fmt.Errorf("adapters: couldn't look up outbox row: %w", err)
	}
	return w, true, nil
}

// settle retires the rows of ds (accepted: done at its leaf, the message
// and envelope dropped; rejected: with its reason) and stores the next
// receipt offset of each partition, in one transaction. ds holds only
// accepted and rejected decisions.
func (o *outbox) settle(ctx context.Context, ds []decision, offsets map[int]int64) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err)
	}
	defer tx.Rollback()
	done, err := tx.PrepareContext(ctx, `UPDATE outbox SET state = 'done', leaf = ?, message = x'', envelope = x'' WHERE seq = ?`)
	if err != nil {
		return fmt.Errorf("adapters: couldn't settle receipts: %w", err)
	}
	defer done.Close()
	for _, d := range ds {
		if d.verdict == verdictRejected {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'rejected', reason = ?, detail = ? WHERE seq = ?`, d.reason, d.detail, d.seq)
		} else {
			_, err = done.ExecContext(ctx, d.leaf, d.seq)
		}
		if err != nil {
			return fmt.Errorf("adapters: couldn't settle seq %d: %w", d.seq, err)
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
	return nil
}

// receiptOffset returns the stored next offset of receipts partition p;
// ok is false when none is stored yet.
func (o *outbox) receiptOffset(ctx context.Context, p int) (next int64, ok bool, err error) {
	err = o.db.QueryRowContext(ctx, `SELECT next FROM receipt_offsets WHERE partition = ?`, p).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("adapters: couldn't read receipt offset: %w", err)
	}
	return next, true, nil
}

// initReceiptOffset stores next as partition p's offset unless one is
// stored already.
func (o *outbox) initReceiptOffset(ctx context.Context, p int, next int64) error {
	if _, err := o.db.ExecContext(ctx, `INSERT OR IGNORE INTO receipt_offsets (partition, next) VALUES (?, ?)`, p, next); err != nil {
		return fmt.Errorf("adapters: couldn't store receipt offset: %w", err)
	}
	return nil
}

// sendRow is a pending message to (re-)send.
type sendRow struct {
	seq      uint64
	message  []byte
	attempts int
}

// pendingBetween returns up to limit pending rows with seqs lo–hi, in seq
// order, whatever their next attempt.
func (o *outbox) pendingBetween(ctx context.Context, lo, hi uint64, limit int) ([]sendRow, error) {
	return o.sendRows(ctx, `SELECT seq, message, attempts FROM outbox WHERE state = 'pending' AND seq BETWEEN ? AND ? ORDER BY seq LIMIT ?`,
		lo, hi, limit)
}

// dueBefore returns up to limit pending rows whose next attempt is at or
// before now (Unix ms), in seq order; if bounded, only those with seqs
// below below.
func (o *outbox) dueBefore(ctx context.Context, now int64, below uint64, bounded bool, limit int) ([]sendRow, error) {
	q, args := `SELECT seq, message, attempts FROM outbox WHERE state = 'pending' AND next_attempt <= ?`, []any{now}
	if bounded {
		q, args = q+` AND seq < ?`, append(args, below)
	}
	return o.sendRows(ctx, q+` ORDER BY seq LIMIT ?`, append(args, limit)...)
}

func (o *outbox) sendRows(ctx context.Context, q string, args ...any) ([]sendRow, error) {
	rows, err := o.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("adapters: couldn't read pending messages: %w", err)
	}
	defer rows.Close()
	var out []sendRow
	for rows.Next() {
		var r sendRow
		if err := rows.Scan(&r.seq, &r.message, &r.attempts); err != nil {
			return nil, fmt.Errorf("adapters: couldn't read pending messages: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("adapters: couldn't read pending messages: %w", err)
	}
	return out, nil
}

// sentBetween counts one more attempt for the pending rows with seqs
// first–last and schedules their next at retryAt (Unix ms), in one
// statement.
func (o *outbox) sentBetween(ctx context.Context, first, last uint64, retryAt int64) error {
	if _, err := o.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ? WHERE state = 'pending' AND seq BETWEEN ? AND ?`,
		retryAt, first, last); err != nil {
		return fmt.Errorf("adapters: couldn't schedule re-send of seqs %d–%d: %w", first, last, err)
	}
	return nil
}

// resent counts one more attempt for each row of rs still pending and
// schedules its next at retryAt(row) (Unix ms), in one transaction: a
// commit per row (each an fsync) held the send lock for seconds when a
// thousand rows were due, and publishing waited behind it.
func (o *outbox) resent(ctx context.Context, rs []sendRow, retryAt func(sendRow) int64) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("adapters: couldn't begin outbox transaction: %w", err)
	}
	defer tx.Rollback()
	for _, r := range rs {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ? WHERE seq = ? AND state = 'pending'`,
			retryAt(r), r.seq); err != nil {
			return fmt.Errorf("adapters: couldn't schedule re-send of seq %d: %w", r.seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("adapters: couldn't commit re-send schedule: %w", err)
	}
	return nil
}
