package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// collect reads rows to the end with scan, which scans the current row,
// and closes rows.
func collect[T any](rows driver.Rows, scan func(driver.Rows) (T, error)) ([]T, error) {
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

// records runs a query selecting recordCols and decodes the rows.
func (s *Store) records(ctx context.Context, d *db, dept, query string, args ...any) ([]store.Record, error) {
	rows, err := d.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(rows driver.Rows) (store.Record, error) { return scanRecord(rows, dept) })
}

// scanRecord decodes a row of recordCols of department dept.
func scanRecord(rows driver.Rows, dept string) (store.Record, error) {
	var (
		r                                         store.Record
		key, op                                   string
		ver, schemaVersion                        uint64
		erased                                    uint8
		names, types, vals, ords, subjects, discs []string
	)
	if err := rows.Scan(&r.Type, &key, &r.Leaf, &ver, &r.Seq, &r.Ref, &schemaVersion, &op, &r.Time, &r.Digest, &erased,
		&names, &types, &vals, &ords, &subjects, &discs); err != nil {
		return r, err
	}
	var err error
	if r.Key, err = store.DecodeKey(key); err != nil {
		return r, err
	}
	r.Department = dept
	r.SchemaVersion = uint32(schemaVersion)
	r.Op = schema.Op(op)
	r.Time = r.Time.UTC()
	r.Erased = erased != 0
	// Versions stored before migration 2 have no disclosures: discs
	// is empty for them.
	if len(names) != len(vals) || len(names) != len(types) || (len(discs) != 0 && len(discs) != len(names)) {
		return r, fmt.Errorf("couldn't decode version at leaf %d: %d names, %d types, %d values, %d disclosures",
			r.Leaf, len(names), len(types), len(vals), len(discs))
	}
	if len(names) > 0 {
		r.Values = make([]store.Value, len(names))
		for i := range names {
			r.Values[i] = store.Value{Name: names[i], Type: schema.FieldType(types[i]), Text: vals[i]}
			if len(discs) != 0 {
				r.Values[i].Disclosure = discs[i]
			}
		}
	}
	if len(subjects) > 0 {
		r.Subjects = subjects
	}
	return r, nil
}

// existingDept is department's tables, or notFound if it has none: no
// entry of it was ever written.
func (s *Store) existingDept(ctx context.Context, department string, notFound error) (*db, error) {
	d, err := s.dept(ctx, department, false)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, notFound
	}
	return d, nil
}

// versionsQuery selects every version of one record in leaf order, each
// leaf's row with the highest ver (an erased copy beats the original).
func versionsQuery(d *db) string {
	return `SELECT ` + recordCols + ` FROM ` + d.t("versions") + ` WHERE type = ? AND key = ? ORDER BY leaf, ver DESC LIMIT 1 BY leaf`
}

// Current implements [store.Store.Current].
func (s *Store) Current(ctx context.Context, department, recordType string, key []string) (store.Record, error) {
	if err := s.check(); err != nil {
		return store.Record{}, err
	}
	if err := store.ValidateKey(department, recordType, key); err != nil {
		return store.Record{}, err
	}
	notFound := fmt.Errorf("clickhouse: couldn't find %s/%s %v: %w", department, recordType, key, store.ErrNotFound)
	d, err := s.existingDept(ctx, department, notFound)
	if err != nil {
		return store.Record{}, err
	}
	// The row with the highest ver is what FINAL would keep; reading it
	// directly is several times faster than FINAL on 18.16.
	rs, err := s.records(ctx, d, department, `SELECT `+recordCols+` FROM `+d.t("current")+
		` WHERE type = ? AND key = ? ORDER BY ver DESC LIMIT 1`, recordType, store.EncodeKey(key))
	if err != nil {
		return store.Record{}, fmt.Errorf("clickhouse: couldn't read %s/%s %v: %w", department, recordType, key, err)
	}
	if len(rs) == 0 || rs[0].Op == schema.OpDelete {
		return store.Record{}, notFound
	}
	return rs[0], nil
}

// ResolveRef implements [store.Store.ResolveRef].
func (s *Store) ResolveRef(ctx context.Context, department, recordType, ref string) ([]string, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	notFound := fmt.Errorf("clickhouse: couldn't resolve %s/%s ref %q: %w", department, recordType, ref, store.ErrNotFound)
	d, err := s.existingDept(ctx, department, notFound)
	if err != nil {
		return nil, err
	}
	rows, err := d.conn.Query(ctx, `SELECT key FROM `+d.t("current")+` WHERE type = ? AND ref = ? LIMIT 1`, recordType, ref)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't resolve %s/%s ref %q: %w", department, recordType, ref, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("clickhouse: couldn't resolve %s/%s ref %q: %w", department, recordType, ref, err)
		}
		return nil, notFound
	}
	var key string
	if err := rows.Scan(&key); err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't resolve %s/%s ref %q: %w", department, recordType, ref, err)
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
	notFound := fmt.Errorf("clickhouse: couldn't find %s/%s %v: %w", department, recordType, key, store.ErrNotFound)
	d, err := s.existingDept(ctx, department, notFound)
	if err != nil {
		return nil, err
	}
	rs, err := s.records(ctx, d, department, versionsQuery(d), recordType, store.EncodeKey(key))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't read history of %s/%s %v: %w", department, recordType, key, err)
	}
	if len(rs) == 0 {
		return nil, notFound
	}
	return rs, nil
}

// List implements [store.Store.List]. Filters run in WHERE, after FINAL
// has picked each record's current version.
func (s *Store) List(ctx context.Context, department, recordType string, q store.ListQuery) (store.Page, error) {
	if err := s.check(); err != nil {
		return store.Page{}, err
	}
	after, err := store.ValidateListQuery(department, recordType, &q)
	if err != nil {
		return store.Page{}, err
	}
	d, err := s.dept(ctx, department, false)
	if err != nil || d == nil {
		return store.Page{}, err
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + recordCols + ` FROM ` + d.t("current") + ` FINAL WHERE type = ? AND key > ? AND op = 'upsert'`)
	args := []any{recordType, after}
	if q.Subject != "" {
		b.WriteString(` AND has(subjects, ?)`)
		args = append(args, q.Subject)
	}
	for _, f := range q.Filters {
		b.WriteString(` AND has(names, ?)`)
		args = append(args, f.Field)
		switch f.Op {
		case store.Equal:
			b.WriteString(` AND vals[indexOf(names, ?)] = ?`)
			args = append(args, f.Field, f.Value)
		case store.Prefix:
			b.WriteString(` AND startsWith(vals[indexOf(names, ?)], ?)`)
			args = append(args, f.Field, f.Value)
		case store.Range:
			col := "vals"
			if store.NeedsOrderKey(f.Type) {
				col = "ords"
			}
			bounds, err := store.RangeBounds(f)
			if err != nil {
				return store.Page{}, err
			}
			for _, bound := range bounds {
				b.WriteString(` AND ` + col + `[indexOf(names, ?)] ` + bound.Op + ` ?`)
				args = append(args, f.Field, bound.Ord)
			}
		}
	}
	b.WriteString(` ORDER BY key LIMIT ?`)
	args = append(args, q.Limit+1)
	rs, err := s.records(ctx, d, department, b.String(), args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("clickhouse: couldn't list %s/%s: %w", department, recordType, err)
	}
	return store.PageOf(rs, q.Limit), nil
}

// BySubject implements [store.Store.BySubject]: candidates from the
// subjects index by primary key, kept if their current version still
// carries the tag.
func (s *Store) BySubject(ctx context.Context, department, tag string) ([]store.Record, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := store.ValidateSubjectQuery(department, tag); err != nil {
		return nil, err
	}
	d, err := s.dept(ctx, department, false)
	if err != nil || d == nil {
		return nil, err
	}
	// LIMIT 1 BY keeps each candidate's highest ver, as FINAL would; the
	// conditions on the kept row are checked here, after that choice.
	rs, err := s.records(ctx, d, department, `SELECT `+recordCols+` FROM `+d.t("current")+`
		WHERE (type, key) IN (SELECT type, key FROM `+d.t("subjects")+` WHERE tag = ?)
		ORDER BY type, key, ver DESC LIMIT 1 BY type, key`, tag)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't look up subject in %s: %w", department, err)
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Op == schema.OpUpsert && slices.Contains(r.Subjects, tag) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Store) entryWhere(ctx context.Context, what, where string, args ...any) (store.EntryRef, error) {
	if err := s.check(); err != nil {
		return store.EntryRef{}, err
	}
	rows, err := s.ledger.conn.Query(ctx, `SELECT leaf, department, seq, kind, digest, time FROM `+s.ledger.t("entries")+
		` WHERE `+where+` ORDER BY leaf LIMIT 1`, args...)
	if err != nil {
		return store.EntryRef{}, fmt.Errorf("clickhouse: couldn't read entry %s: %w", what, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return store.EntryRef{}, fmt.Errorf("clickhouse: couldn't read entry %s: %w", what, err)
		}
		return store.EntryRef{}, fmt.Errorf("clickhouse: couldn't find entry %s: %w", what, store.ErrNotFound)
	}
	var e store.EntryRef
	var kind string
	if err := rows.Scan(&e.Leaf, &e.Department, &e.Seq, &kind, &e.Digest, &e.Time); err != nil {
		return store.EntryRef{}, fmt.Errorf("clickhouse: couldn't read entry %s: %w", what, err)
	}
	e.Kind = schema.Kind(kind)
	e.Time = e.Time.UTC()
	return e, nil
}

// Entry implements [store.Store.Entry].
func (s *Store) Entry(ctx context.Context, leaf uint64) (store.EntryRef, error) {
	return s.entryWhere(ctx, fmt.Sprintf("at leaf %d", leaf), `leaf = ?`, leaf)
}

// EntryBySeq implements [store.Store.EntryBySeq]. It scans entries (sorted
// by leaf); receipts look entries up by leaf.
func (s *Store) EntryBySeq(ctx context.Context, department string, seq uint64) (store.EntryRef, error) {
	return s.entryWhere(ctx, fmt.Sprintf("%s seq %d", department, seq), `department = ? AND seq = ?`, department, seq)
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
	rows, err := s.ledger.conn.Query(ctx, `SELECT leaf, kind, owner, consumer, purpose, type, fields, expires, condition FROM `+
		s.ledger.t("grants")+` FINAL WHERE 1`+w.String()+` ORDER BY leaf`, w.Args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't read grants: %w", err)
	}
	evs, err := collect(rows, func(rows driver.Rows) (ev store.GrantEvent, err error) {
		var kind string
		err = rows.Scan(&ev.Leaf, &kind, &ev.Owner, &ev.Consumer, &ev.Purpose, &ev.Type, &ev.Fields, &ev.Expires, &ev.Condition)
		ev.Kind = schema.Kind(kind)
		return ev, err
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't read grants: %w", err)
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
	w := store.AccessWhere(q, func(t time.Time) any { return t }, `has(subjects, ?)`)
	rows, err := s.ledger.conn.Query(ctx, `SELECT leaf, department, seq, time, body FROM `+s.ledger.t("access")+
		` FINAL WHERE leaf >= ?`+w.String()+` ORDER BY leaf LIMIT ?`, append(w.Args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't read access events: %w", err)
	}
	out, err := collect(rows, func(rows driver.Rows) (ev store.AccessEvent, err error) {
		var body string
		if err := rows.Scan(&ev.Leaf, &ev.Department, &ev.Seq, &ev.Time, &body); err != nil {
			return ev, err
		}
		ev.Time = ev.Time.UTC()
		if err := json.Unmarshal([]byte(body), &ev.Access); err != nil {
			return ev, fmt.Errorf("couldn't decode access event at leaf %d: %w", ev.Leaf, err)
		}
		return ev, nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: couldn't read access events: %w", err)
	}
	return out, nil
}
