package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// Config configures [Open].
type Config struct {
	// Path is the database file; it is created if missing. Required.
	Path string
	// ReadConns is the size of the read connection pool; 0 means
	// max(4, GOMAXPROCS).
	ReadConns int
	// BusyTimeout bounds how long a statement waits for a lock; 0 means 10s.
	BusyTimeout time.Duration
}

// Validate checks c.
func (c Config) Validate() error {
	if c.Path == "" {
		return errors.New("sqlite: Config.Path is empty")
	}
	if c.ReadConns < 0 || c.BusyTimeout < 0 {
		return errors.New("sqlite: negative Config.ReadConns or Config.BusyTimeout")
	}
	return nil
}

// Store is the SQLite projection store. See the package doc.
type Store struct {
	w, r   *sql.DB
	closed atomic.Bool
	// The gateway's hot lookups, prepared once: SQLite's parser was ~15 %
	// of the gateway's CPU when every call prepared its statement again.
	current, bySubject *sql.Stmt
}

var (
	currentQuery = `SELECT ` + recordCols + ` FROM current WHERE department = ? AND type = ? AND key = ?`
	// Driven from the subjects index; CROSS JOIN keeps SQLite from
	// choosing to scan current instead.
	bySubjectQuery = `SELECT ` + qualified("c", recordCols) + ` FROM subjects s CROSS JOIN current c
		ON c.department = s.department AND c.type = s.type AND c.key = s.key
		WHERE s.department = ? AND s.tag = ? AND c.op = 'upsert' ORDER BY c.type, c.key`
)

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store at cfg.Path and applies
// pending migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReadConns == 0 {
		cfg.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = 10 * time.Second
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + cfg.Path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("_pragma", "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: couldn't open %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.ReadConns)
	r.SetMaxIdleConns(cfg.ReadConns)
	s.r = r
	if s.current, err = r.PrepareContext(ctx, currentQuery); err == nil {
		s.bySubject, err = r.PrepareContext(ctx, bySubjectQuery)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: couldn't prepare lookups: %w", err)
	}
	return s, nil
}

// migrations are applied in order, each once, recorded in
// schema_migrations. Append only.
var migrations = []string{
	1: `
CREATE TABLE entries (
	leaf INTEGER PRIMARY KEY, department TEXT NOT NULL, seq INTEGER NOT NULL,
	kind TEXT NOT NULL, digest TEXT NOT NULL, time INTEGER NOT NULL);
CREATE INDEX entries_seq ON entries (department, seq);
CREATE TABLE versions (
	department TEXT NOT NULL, type TEXT NOT NULL, key TEXT NOT NULL, leaf INTEGER NOT NULL,
	seq INTEGER NOT NULL, ref TEXT NOT NULL, schema_version INTEGER NOT NULL, op TEXT NOT NULL,
	time INTEGER NOT NULL, digest TEXT NOT NULL, erased INTEGER NOT NULL DEFAULT 0,
	fields TEXT, subjects TEXT,
	PRIMARY KEY (department, type, key, leaf)) WITHOUT ROWID;
CREATE UNIQUE INDEX versions_leaf ON versions (leaf);
CREATE TABLE current (
	department TEXT NOT NULL, type TEXT NOT NULL, key TEXT NOT NULL, leaf INTEGER NOT NULL,
	seq INTEGER NOT NULL, ref TEXT NOT NULL, schema_version INTEGER NOT NULL, op TEXT NOT NULL,
	time INTEGER NOT NULL, digest TEXT NOT NULL, erased INTEGER NOT NULL DEFAULT 0,
	fields TEXT, subjects TEXT,
	PRIMARY KEY (department, type, key)) WITHOUT ROWID;
CREATE INDEX current_ref ON current (department, type, ref);
CREATE TABLE current_fields (
	department TEXT NOT NULL, type TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
	text TEXT NOT NULL, ord TEXT NOT NULL,
	PRIMARY KEY (department, type, key, name)) WITHOUT ROWID;
CREATE INDEX current_fields_ord ON current_fields (department, type, name, ord);
CREATE INDEX current_fields_text ON current_fields (department, type, name, text);
CREATE TABLE subjects (
	department TEXT NOT NULL, tag TEXT NOT NULL, type TEXT NOT NULL, key TEXT NOT NULL,
	PRIMARY KEY (department, tag, type, key)) WITHOUT ROWID;
CREATE INDEX subjects_record ON subjects (department, type, key);
CREATE TABLE grants (
	leaf INTEGER PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, consumer TEXT NOT NULL,
	purpose TEXT NOT NULL, type TEXT NOT NULL, fields TEXT NOT NULL, expires TEXT NOT NULL,
	condition TEXT NOT NULL);
CREATE INDEX grants_consumer ON grants (consumer, purpose);
CREATE TABLE access (
	leaf INTEGER PRIMARY KEY, department TEXT NOT NULL, seq INTEGER NOT NULL, time INTEGER NOT NULL,
	consumer TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX access_consumer ON access (consumer, leaf);
CREATE INDEX access_time ON access (time);
CREATE TABLE access_subjects (tag TEXT NOT NULL, leaf INTEGER NOT NULL, PRIMARY KEY (tag, leaf)) WITHOUT ROWID;
CREATE TABLE progress (scope TEXT PRIMARY KEY, size INTEGER NOT NULL, seq INTEGER NOT NULL);
`,
}

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: couldn't begin migration: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: couldn't create schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("sqlite: couldn't read schema version: %w", err)
	}
	if have >= len(migrations) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", have, len(migrations)-1)
	}
	for v := have + 1; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("sqlite: couldn't apply migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?)`, v, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("sqlite: couldn't record migration %d: %w", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: couldn't commit migrations: %w", err)
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, st := range []*sql.Stmt{s.current, s.bySubject} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// fieldRow is how a value is kept in the fields JSON column:
// [name, type, text, disclosure]. Rows written before disclosures were
// stored have three elements; decoding into the array leaves the
// disclosure empty for them.
type fieldRow [4]string

func encodeFields(vs []store.Value) (string, error) {
	t := make([]fieldRow, len(vs))
	for i, v := range vs {
		t[i] = fieldRow{v.Name, string(v.Type), v.Text, v.Disclosure}
	}
	b, err := json.Marshal(t)
	return string(b), err
}

func decodeFields(s sql.NullString) ([]store.Value, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var t []fieldRow
	if err := json.Unmarshal([]byte(s.String), &t); err != nil {
		return nil, fmt.Errorf("couldn't decode stored fields: %w", err)
	}
	vs := make([]store.Value, len(t))
	for i, f := range t {
		vs[i] = store.Value{Name: f[0], Type: schema.FieldType(f[1]), Text: f[2], Disclosure: f[3]}
	}
	return vs, nil
}

func encodeStrings(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss)
	return string(b)
}

func decodeStrings(s sql.NullString) ([]string, error) {
	if !s.Valid || s.String == "" || s.String == "[]" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s.String), &out); err != nil {
		return nil, fmt.Errorf("couldn't decode stored list: %w", err)
	}
	return out, nil
}

// Write implements [store.Store.Write].
func (s *Store) Write(ctx context.Context, batch []store.Entry) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := store.Validate(batch); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: couldn't begin write: %w", err)
	}
	defer tx.Rollback()
	w, err := prepareWriter(ctx, tx)
	if err != nil {
		return err
	}
	defer w.close()
	var size uint64
	depts := map[string]store.DepartmentMark{}
	for i := range batch {
		e := &batch[i]
		if err := w.entry(ctx, e); err != nil {
			return fmt.Errorf("sqlite: couldn't write leaf %d: %w", e.Leaf, err)
		}
		size = max(size, e.Leaf+1)
		m := depts[e.Department]
		depts[e.Department] = store.DepartmentMark{Size: max(m.Size, e.Leaf+1), Seq: max(m.Seq, e.Seq)}
	}
	const progress = `INSERT INTO progress (scope, size, seq) VALUES (?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET size = max(size, excluded.size), seq = max(seq, excluded.seq)`
	for d, m := range depts {
		if _, err := tx.ExecContext(ctx, progress, d, m.Size, m.Seq); err != nil {
			return fmt.Errorf("sqlite: couldn't record progress of %s: %w", d, err)
		}
	}
	if _, err := tx.ExecContext(ctx, progress, "", size, 0); err != nil {
		return fmt.Errorf("sqlite: couldn't record progress: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: couldn't commit batch: %w", err)
	}
	return nil
}

// writer holds the statements of one write transaction.
type writer struct {
	entry_, version, curLeaf, curPut, curFieldsDel, curFieldPut, subjDel, subjPut, grant, access, accessSubj *sql.Stmt
}

func prepareWriter(ctx context.Context, tx *sql.Tx) (*writer, error) {
	w := &writer{}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&w.entry_, `INSERT OR IGNORE INTO entries (leaf, department, seq, kind, digest, time) VALUES (?, ?, ?, ?, ?, ?)`},
		{&w.version, `INSERT OR IGNORE INTO versions (department, type, key, leaf, seq, ref, schema_version, op, time, digest, fields, subjects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.curLeaf, `SELECT leaf FROM current WHERE department = ? AND type = ? AND key = ?`},
		{&w.curPut, `INSERT OR REPLACE INTO current (department, type, key, leaf, seq, ref, schema_version, op, time, digest, fields, subjects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.curFieldsDel, `DELETE FROM current_fields WHERE department = ? AND type = ? AND key = ?`},
		{&w.curFieldPut, `INSERT INTO current_fields (department, type, key, name, text, ord) VALUES (?, ?, ?, ?, ?, ?)`},
		{&w.subjDel, `DELETE FROM subjects WHERE department = ? AND type = ? AND key = ?`},
		{&w.subjPut, `INSERT OR IGNORE INTO subjects (department, tag, type, key) VALUES (?, ?, ?, ?)`},
		{&w.grant, `INSERT OR IGNORE INTO grants (leaf, kind, owner, consumer, purpose, type, fields, expires, condition) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.access, `INSERT OR IGNORE INTO access (leaf, department, seq, time, consumer, body) VALUES (?, ?, ?, ?, ?, ?)`},
		{&w.accessSubj, `INSERT OR IGNORE INTO access_subjects (tag, leaf) VALUES (?, ?)`},
	} {
		st, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("sqlite: couldn't prepare %q: %w", p.sql, err)
		}
		*p.st = st
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range []*sql.Stmt{w.entry_, w.version, w.curLeaf, w.curPut, w.curFieldsDel, w.curFieldPut, w.subjDel, w.subjPut, w.grant, w.access, w.accessSubj} {
		if st != nil {
			st.Close()
		}
	}
}

func (w *writer) entry(ctx context.Context, e *store.Entry) error {
	t := e.Time.Unix()
	res, err := w.entry_.ExecContext(ctx, e.Leaf, e.Department, e.Seq, string(e.Kind), e.Digest, t)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		// Stored by an earlier batch, together with all its rows.
		return nil
	}
	switch {
	case e.Change != nil:
		return w.change(ctx, e)
	case e.Grant != nil || e.Revoke != nil:
		ev, _ := store.GrantEventOf(e)
		_, err := w.grant.ExecContext(ctx, ev.Leaf, string(ev.Kind), ev.Owner, ev.Consumer, ev.Purpose, ev.Type,
			encodeStrings(ev.Fields), ev.Expires, ev.Condition)
		return err
	case e.Access != nil:
		body, err := json.Marshal(e.Access)
		if err != nil {
			return err
		}
		if _, err := w.access.ExecContext(ctx, e.Leaf, e.Department, e.Seq, t, e.Access.Consumer, string(body)); err != nil {
			return err
		}
		for _, tag := range e.Access.Subjects {
			if _, err := w.accessSubj.ExecContext(ctx, tag, e.Leaf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer) change(ctx context.Context, e *store.Entry) error {
	c := e.Change
	key := store.EncodeKey(c.Key)
	var fields sql.NullString
	if len(c.Values) > 0 {
		f, err := encodeFields(c.Values)
		if err != nil {
			return err
		}
		fields = sql.NullString{String: f, Valid: true}
	}
	subjects := encodeStrings(c.Subjects)
	args := []any{e.Department, c.Type, key, e.Leaf, e.Seq, c.Record, c.SchemaVersion, string(c.Op), e.Time.Unix(), e.Digest, fields, subjects}
	if _, err := w.version.ExecContext(ctx, args...); err != nil {
		return err
	}
	var cur uint64
	switch err := w.curLeaf.QueryRowContext(ctx, e.Department, c.Type, key).Scan(&cur); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case cur > e.Leaf:
		return nil // a later version is current
	}
	if _, err := w.curPut.ExecContext(ctx, args...); err != nil {
		return err
	}
	if _, err := w.curFieldsDel.ExecContext(ctx, e.Department, c.Type, key); err != nil {
		return err
	}
	if _, err := w.subjDel.ExecContext(ctx, e.Department, c.Type, key); err != nil {
		return err
	}
	for _, v := range c.Values {
		ord, err := store.OrderKey(v.Type, v.Text)
		if err != nil {
			return err
		}
		if _, err := w.curFieldPut.ExecContext(ctx, e.Department, c.Type, key, v.Name, v.Text, ord); err != nil {
			return err
		}
	}
	for _, tag := range c.Subjects {
		if _, err := w.subjPut.ExecContext(ctx, e.Department, tag, c.Type, key); err != nil {
			return err
		}
	}
	return nil
}

// Watermark implements [store.Store.Watermark].
func (s *Store) Watermark(ctx context.Context) (store.Watermark, error) {
	if err := s.check(); err != nil {
		return store.Watermark{}, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT scope, size, seq FROM progress`)
	if err != nil {
		return store.Watermark{}, fmt.Errorf("sqlite: couldn't read watermark: %w", err)
	}
	defer rows.Close()
	wm := store.Watermark{Departments: map[string]store.DepartmentMark{}}
	for rows.Next() {
		var scope string
		var m store.DepartmentMark
		if err := rows.Scan(&scope, &m.Size, &m.Seq); err != nil {
			return store.Watermark{}, fmt.Errorf("sqlite: couldn't read watermark: %w", err)
		}
		if scope == "" {
			wm.Size = m.Size
		} else {
			wm.Departments[scope] = m
		}
	}
	if err := rows.Err(); err != nil {
		return store.Watermark{}, fmt.Errorf("sqlite: couldn't read watermark: %w", err)
	}
	return wm, nil
}

func (s *Store) entryWhere(ctx context.Context, what, where string, args ...any) (store.EntryRef, error) {
	if err := s.check(); err != nil {
		return store.EntryRef{}, err
	}
	var e store.EntryRef
	var kind string
	var t int64
	err := s.r.QueryRowContext(ctx, `SELECT leaf, department, seq, kind, digest, time FROM entries WHERE `+where+` ORDER BY leaf LIMIT 1`, args...).
		Scan(&e.Leaf, &e.Department, &e.Seq, &kind, &e.Digest, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return store.EntryRef{}, fmt.Errorf("sqlite: couldn't find entry %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return store.EntryRef{}, fmt.Errorf("sqlite: couldn't read entry %s: %w", what, err)
	}
	e.Kind = schema.Kind(kind)
	e.Time = time.Unix(t, 0).UTC()
	return e, nil
}

// Entry implements [store.Store.Entry].
func (s *Store) Entry(ctx context.Context, leaf uint64) (store.EntryRef, error) {
	return s.entryWhere(ctx, fmt.Sprintf("at leaf %d", leaf), `leaf = ?`, leaf)
}

// EntryBySeq implements [store.Store.EntryBySeq].
func (s *Store) EntryBySeq(ctx context.Context, department string, seq uint64) (store.EntryRef, error) {
	return s.entryWhere(ctx, fmt.Sprintf("%s seq %d", department, seq), `department = ? AND seq = ?`, department, seq)
}

const recordCols = `department, type, key, ref, leaf, seq, schema_version, op, time, digest, erased, fields, subjects`

// qualified prefixes every column of a column list with a table alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// collect reads rows to the end with scan, which scans the current row,
// and closes rows.
func collect[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanRecord decodes a row of recordCols.
func scanRecord(rows *sql.Rows) (store.Record, error) {
	var r store.Record
	var key, op string
	var t int64
	var erased int
	var fields, subjects sql.NullString
	if err := rows.Scan(&r.Department, &r.Type, &key, &r.Ref, &r.Leaf, &r.Seq, &r.SchemaVersion, &op, &t, &r.Digest, &erased, &fields, &subjects); err != nil {
		return r, err
	}
	var err error
	if r.Key, err = store.DecodeKey(key); err != nil {
		return r, err
	}
	r.Op = schema.Op(op)
	r.Time = time.Unix(t, 0).UTC()
	r.Erased = erased != 0
	if r.Values, err = decodeFields(fields); err != nil {
		return r, err
	}
	r.Subjects, err = decodeStrings(subjects)
	return r, err
}

func (s *Store) records(ctx context.Context, query string, args ...any) ([]store.Record, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRecord)
}

// stmtRecords is records with a prepared statement.
func (s *Store) stmtRecords(ctx context.Context, st *sql.Stmt, args ...any) ([]store.Record, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRecord)
}

// Current implements [store.Store.Current].
func (s *Store) Current(ctx context.Context, department, recordType string, key []string) (store.Record, error) {
	if err := s.check(); err != nil {
		return store.Record{}, err
	}
	if err := store.ValidateKey(department, recordType, key); err != nil {
		return store.Record{}, err
	}
	rs, err := s.stmtRecords(ctx, s.current, department, recordType, store.EncodeKey(key))
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlite: couldn't read %s/%s %v: %w", department, recordType, key, err)
	}
	if len(rs) == 0 || rs[0].Op == schema.OpDelete {
		return store.Record{}, fmt.Errorf("sqlite: couldn't find %s/%s %v: %w", department, recordType, key, store.ErrNotFound)
	}
	return rs[0], nil
}

// ResolveRef implements [store.Store.ResolveRef].
func (s *Store) ResolveRef(ctx context.Context, department, recordType, ref string) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var key string
	err := s.r.QueryRowContext(ctx, `SELECT key FROM current WHERE department = ? AND type = ? AND ref = ? ORDER BY leaf DESC LIMIT 1`,
		department, recordType, ref).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: couldn't resolve %s/%s ref %q: %w", department, recordType, ref, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't resolve %s/%s ref %q: %w", department, recordType, ref, err)
	}
	return store.DecodeKey(key)
}

// History implements [store.Store.History].
func (s *Store) History(ctx context.Context, department, recordType string, key []string) ([]store.Record, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := store.ValidateKey(department, recordType, key); err != nil {
		return nil, err
	}
	rs, err := s.records(ctx, `SELECT `+recordCols+` FROM versions WHERE department = ? AND type = ? AND key = ? ORDER BY leaf`,
		department, recordType, store.EncodeKey(key))
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't read history of %s/%s %v: %w", department, recordType, key, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("sqlite: couldn't find %s/%s %v: %w", department, recordType, key, store.ErrNotFound)
	}
	return rs, nil
}

// List implements [store.Store.List].
func (s *Store) List(ctx context.Context, department, recordType string, q store.ListQuery) (store.Page, error) {
	if err := s.check(); err != nil {
		return store.Page{}, err
	}
	after, err := store.ValidateListQuery(department, recordType, &q)
	if err != nil {
		return store.Page{}, err
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + recordCols + ` FROM current c WHERE department = ? AND type = ? AND op = 'upsert' AND key > ?`)
	args := []any{department, recordType, after}
	if q.Subject != "" {
		b.WriteString(` AND EXISTS (SELECT 1 FROM subjects s WHERE s.department = c.department AND s.tag = ? AND s.type = c.type AND s.key = c.key)`)
		args = append(args, q.Subject)
	}
	const exists = ` AND EXISTS (SELECT 1 FROM current_fields f WHERE f.department = c.department AND f.type = c.type AND f.key = c.key AND f.name = ? AND `
	for _, f := range q.Filters {
		b.WriteString(exists)
		args = append(args, f.Field)
		switch f.Op {
		case store.Equal:
			b.WriteString(`f.text = ?)`)
			args = append(args, f.Value)
		case store.Prefix:
			b.WriteString(`f.text >= ? AND substr(f.text, 1, ?) = ?)`)
			args = append(args, f.Value, len([]rune(f.Value)), f.Value)
		case store.Range:
			b.WriteString(`1`)
			bounds, err := store.RangeBounds(f)
			if err != nil {
				return store.Page{}, err
			}
			for _, bound := range bounds {
				b.WriteString(` AND f.ord ` + bound.Op + ` ?`)
				args = append(args, bound.Ord)
			}
			b.WriteString(`)`)
		}
	}
	b.WriteString(` ORDER BY key LIMIT ?`)
	args = append(args, q.Limit+1)
	rs, err := s.records(ctx, b.String(), args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("sqlite: couldn't list %s/%s: %w", department, recordType, err)
	}
	return store.PageOf(rs, q.Limit), nil
}

// BySubject implements [store.Store.BySubject].
func (s *Store) BySubject(ctx context.Context, department, tag string) ([]store.Record, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := store.ValidateSubjectQuery(department, tag); err != nil {
		return nil, err
	}
	rs, err := s.stmtRecords(ctx, s.bySubject, department, tag)
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't look up subject in %s: %w", department, err)
	}
	return rs, nil
}

// Permissions implements [store.Store.Permissions].
func (s *Store) Permissions(ctx context.Context, q store.GrantQuery) ([]store.Permission, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := store.ValidateGrantQuery(q); err != nil {
		return nil, err
	}
	w := store.GrantWhere(q)
	rows, err := s.r.QueryContext(ctx, `SELECT leaf, kind, owner, consumer, purpose, type, fields, expires, condition FROM grants WHERE 1`+
		w.String()+` ORDER BY leaf`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't read grants: %w", err)
	}
	evs, err := collect(rows, func(rows *sql.Rows) (ev store.GrantEvent, err error) {
		var kind string
		var fields sql.NullString
		if err := rows.Scan(&ev.Leaf, &kind, &ev.Owner, &ev.Consumer, &ev.Purpose, &ev.Type, &fields, &ev.Expires, &ev.Condition); err != nil {
			return ev, err
		}
		ev.Kind = schema.Kind(kind)
		ev.Fields, err = decodeStrings(fields)
		return ev, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't read grants: %w", err)
	}
	return store.FoldGrants(evs, q.Now), nil
}

// Accesses implements [store.Store.Accesses].
func (s *Store) Accesses(ctx context.Context, q store.AccessQuery) ([]store.AccessEvent, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := store.ValidateAccessQuery(&q); err != nil {
		return nil, err
	}
	w := store.AccessWhere(q, func(t time.Time) any { return t.Unix() },
		`EXISTS (SELECT 1 FROM access_subjects s WHERE s.tag = ? AND s.leaf = a.leaf)`)
	rows, err := s.r.QueryContext(ctx, `SELECT leaf, department, seq, time, body FROM access a WHERE leaf >= ?`+
		w.String()+` ORDER BY leaf LIMIT ?`, append(w.Args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't read access events: %w", err)
	}
	out, err := collect(rows, func(rows *sql.Rows) (ev store.AccessEvent, err error) {
		var t int64
		var body string
		if err := rows.Scan(&ev.Leaf, &ev.Department, &ev.Seq, &t, &body); err != nil {
			return ev, err
		}
		ev.Time = time.Unix(t, 0).UTC()
		if err := json.Unmarshal([]byte(body), &ev.Access); err != nil {
			return ev, fmt.Errorf("couldn't decode access event at leaf %d: %w", ev.Leaf, err)
		}
		return ev, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: couldn't read access events: %w", err)
	}
	return out, nil
}

// Erase implements [store.Store.Erase].
func (s *Store) Erase(ctx context.Context, department, recordType string, key []string) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := store.ValidateKey(department, recordType, key); err != nil {
		return 0, err
	}
	k := store.EncodeKey(key)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: couldn't begin erase: %w", err)
	}
	defer tx.Rollback()
	var n int64
	for i, q := range []string{
		`UPDATE versions SET fields = NULL, subjects = NULL, erased = 1 WHERE department = ? AND type = ? AND key = ?`,
		`UPDATE current SET fields = NULL, subjects = NULL, erased = 1 WHERE department = ? AND type = ? AND key = ?`,
		`DELETE FROM current_fields WHERE department = ? AND type = ? AND key = ?`,
		`DELETE FROM subjects WHERE department = ? AND type = ? AND key = ?`,
	} {
		res, err := tx.ExecContext(ctx, q, department, recordType, k)
		if err != nil {
			return 0, fmt.Errorf("sqlite: couldn't erase %s/%s %v: %w", department, recordType, key, err)
		}
		if i == 0 {
			if n, err = res.RowsAffected(); err != nil {
				return 0, fmt.Errorf("sqlite: couldn't erase %s/%s %v: %w", department, recordType, key, err)
			}
			if n == 0 {
				return 0, fmt.Errorf("sqlite: couldn't erase %s/%s %v: %w", department, recordType, key, store.ErrNotFound)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: couldn't commit erase: %w", err)
	}
	return int(n), nil
}
