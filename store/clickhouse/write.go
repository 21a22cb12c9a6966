package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/crossledger/crossledger/store"
)

// columns is a set of column slices for one column-wise PrepareBatch insert.
type columns struct {
	names string // column list
	cols  []any  // one slice per column
}

func (c columns) rows() int {
	switch s := c.cols[0].(type) {
	case []uint64:
		return len(s)
	case []string:
		return len(s)
	}
	panic("clickhouse: unexpected first column type")
}

// insert sends c to table in one batch; it does nothing for zero rows.
func insert(ctx context.Context, conn driver.Conn, table string, c columns) error {
	if c.rows() == 0 {
		return nil
	}
	b, err := conn.PrepareBatch(ctx, `INSERT INTO `+table+` (`+c.names+`)`)
	if err != nil {
		return fmt.Errorf("clickhouse: couldn't prepare insert into %s: %w", table, err)
	}
	for i, col := range c.cols {
		if err := b.Column(i).Append(col); err != nil {
			b.Abort()
			return fmt.Errorf("clickhouse: couldn't append to %s: %w", table, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: couldn't insert into %s: %w", table, err)
	}
	return nil
}

// recordRows are rows of versions or current, column-wise.
type recordRows struct {
	typ, key, ref, op, digest                 []string
	leaf, ver, seq, schemaVersion             []uint64
	time                                      []time.Time
	erased                                    []uint8
	names, types, vals, ords, subjects, discs [][]string
}

// row is one version row with its arrays built, ready to go into versions
// and current alike.
type row struct {
	rec                                       store.Record
	key                                       string
	ver                                       uint64
	names, types, vals, ords, subjects, discs []string
}

func makeRow(rec store.Record, ver uint64) row {
	rw := row{rec: rec, key: store.EncodeKey(rec.Key), ver: ver, subjects: rec.Subjects}
	n := len(rec.Values)
	// One backing array for the five parallel arrays.
	all := make([]string, 5*n)
	rw.names, rw.types, rw.vals, rw.ords, rw.discs = all[:n:n], all[n:2*n:2*n], all[2*n:3*n:3*n], all[3*n:4*n:4*n], all[4*n:]
	for i, v := range rec.Values {
		rw.names[i], rw.types[i], rw.vals[i], rw.discs[i] = v.Name, string(v.Type), v.Text, v.Disclosure
		if store.NeedsOrderKey(v.Type) {
			// Validate checked the text, so OrderKey cannot fail.
			rw.ords[i], _ = store.OrderKey(v.Type, v.Text)
		}
	}
	if rw.subjects == nil {
		rw.subjects = []string{}
	}
	return rw
}

func (r *recordRows) add(rec store.Record, ver uint64) { r.addRow(makeRow(rec, ver)) }

func (r *recordRows) addRow(rw row) {
	rec := rw.rec
	r.typ = append(r.typ, rec.Type)
	r.key = append(r.key, rw.key)
	r.leaf = append(r.leaf, rec.Leaf)
	r.ver = append(r.ver, rw.ver)
	r.seq = append(r.seq, rec.Seq)
	r.ref = append(r.ref, rec.Ref)
	r.schemaVersion = append(r.schemaVersion, uint64(rec.SchemaVersion))
	r.op = append(r.op, string(rec.Op))
	r.time = append(r.time, rec.Time)
	r.digest = append(r.digest, rec.Digest)
	var erased uint8
	if rec.Erased {
		erased = 1
	}
	r.erased = append(r.erased, erased)
	r.names = append(r.names, rw.names)
	r.types = append(r.types, rw.types)
	r.vals = append(r.vals, rw.vals)
	r.ords = append(r.ords, rw.ords)
	r.subjects = append(r.subjects, rw.subjects)
	r.discs = append(r.discs, rw.discs)
}

func (r *recordRows) columns() columns {
	return columns{recordCols, []any{r.typ, r.key, r.leaf, r.ver, r.seq, r.ref, r.schemaVersion, r.op, r.time, r.digest,
		r.erased, r.names, r.types, r.vals, r.ords, r.subjects, r.discs}}
}

// deptRows are one department's rows of a batch. Only versions is sent:
// materialized views fill current and subjects from it.
type deptRows struct {
	versions recordRows
	mark     store.DepartmentMark
}

// recordOf is the stored version an entry's change describes.
func recordOf(e *store.Entry) store.Record {
	c := e.Change
	return store.Record{Department: e.Department, Type: c.Type, Key: c.Key, Ref: c.Record, Leaf: e.Leaf, Seq: e.Seq,
		SchemaVersion: c.SchemaVersion, Op: c.Op, Time: e.Time.UTC(), Digest: e.Digest, Values: c.Values, Subjects: c.Subjects}
}

// Write implements [store.Store.Write]; see the package doc for the order
// of inserts and why a failure midway is harmless.
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
	depts := map[string]*deptRows{}
	var (
		eLeaf, eSeq                       []uint64
		eDept, eKind, eDigest             []string
		eTime                             []time.Time
		gLeaf                             []uint64
		gKind, gOwner, gCons, gPurp, gTyp []string
		gFields                           [][]string
		gExp, gCond                       []string
		aLeaf, aSeq                       []uint64
		aDept, aCons, aBody               []string
		aTime                             []time.Time
		aSubj                             [][]string
		size                              uint64
	)
	for i := range batch {
		e := &batch[i]
		size = max(size, e.Leaf+1)
		d := depts[e.Department]
		if d == nil {
			d = &deptRows{}
			depts[e.Department] = d
		}
		d.mark = store.DepartmentMark{Size: max(d.mark.Size, e.Leaf+1), Seq: max(d.mark.Seq, e.Seq)}
		eLeaf, eSeq = append(eLeaf, e.Leaf), append(eSeq, e.Seq)
		eDept, eKind, eDigest = append(eDept, e.Department), append(eKind, string(e.Kind)), append(eDigest, e.Digest)
		eTime = append(eTime, e.Time)
		switch {
		case e.Change != nil:
			d.versions.add(recordOf(e), 2*e.Leaf)
		case e.Grant != nil || e.Revoke != nil:
			ev, _ := store.GrantEventOf(e)
			fields := ev.Fields
			if fields == nil {
				fields = []string{}
			}
			gLeaf, gKind, gOwner = append(gLeaf, ev.Leaf), append(gKind, string(ev.Kind)), append(gOwner, ev.Owner)
			gCons, gPurp, gTyp = append(gCons, ev.Consumer), append(gPurp, ev.Purpose), append(gTyp, ev.Type)
			gFields, gExp, gCond = append(gFields, fields), append(gExp, ev.Expires), append(gCond, ev.Condition)
		case e.Access != nil:
			body, err := json.Marshal(e.Access)
			if err != nil {
				return fmt.Errorf("clickhouse: couldn't encode access entry at leaf %d: %w", e.Leaf, err)
			}
			subj := e.Access.Subjects
			if subj == nil {
				subj = []string{}
			}
			aLeaf, aSeq, aDept = append(aLeaf, e.Leaf), append(aSeq, e.Seq), append(aDept, e.Department)
			aCons, aBody, aTime, aSubj = append(aCons, e.Access.Consumer), append(aBody, string(body)), append(aTime, e.Time), append(aSubj, subj)
		}
	}

	// 1. Department tables.
	dbs := map[string]*db{}
	for _, name := range sorted(depts) {
		d, err := s.dept(ctx, name, true)
		if err != nil {
			return err
		}
		dbs[name] = d
	}
	var jobs []func() error
	for name, rows := range depts {
		d := dbs[name]
		jobs = append(jobs, func() error { return insert(ctx, d.conn, d.t("versions"), rows.versions.columns()) })
	}
	// 2. Ledger tables. They may go in parallel with the department
	// tables: nothing reads them as a commit point.
	l := s.ledger
	jobs = append(jobs,
		func() error {
			return insert(ctx, l.conn, l.t("entries"), columns{"leaf, department, seq, kind, digest, time",
				[]any{eLeaf, eDept, eSeq, eKind, eDigest, eTime}})
		},
		func() error {
			return insert(ctx, l.conn, l.t("grants"), columns{"leaf, kind, owner, consumer, purpose, type, fields, expires, condition",
				[]any{gLeaf, gKind, gOwner, gCons, gPurp, gTyp, gFields, gExp, gCond}})
		},
		func() error {
			return insert(ctx, l.conn, l.t("access"), columns{"leaf, department, seq, time, consumer, subjects, body",
				[]any{aLeaf, aDept, aSeq, aTime, aCons, aSubj, aBody}})
		},
	)
	if err := parallel(jobs...); err != nil {
		return err
	}
	// 3. Progress, only once all rows are in: departments, then the ledger.
	now := time.Now()
	jobs = jobs[:0]
	for name, rows := range depts {
		d := dbs[name]
		jobs = append(jobs, func() error {
			return insert(ctx, d.conn, d.t("progress"), columns{"size, seq, at",
				[]any{[]uint64{rows.mark.Size}, []uint64{rows.mark.Seq}, []time.Time{now}}})
		})
	}
	if err := parallel(jobs...); err != nil {
		return err
	}
	return insert(ctx, l.conn, l.t("progress"), columns{"size, at", []any{[]uint64{size}, []time.Time{now}}})
}

// Erase implements [store.Store.Erase] by inserting value-less copies of
// every version (no names, values, disclosures or subjects) at
// ver = 2·leaf+1; current_mv2 carries them into current, where the copy of
// the highest leaf wins.
func (s *Store) Erase(ctx context.Context, department, recordType string, key []string) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := store.ValidateKey(department, recordType, key); err != nil {
		return 0, err
	}
	notFound := fmt.Errorf("clickhouse: couldn't erase %s/%s %v: %w", department, recordType, key, store.ErrNotFound)
	d, err := s.existingDept(ctx, department, notFound)
	if err != nil {
		return 0, err
	}
	versions, err := s.records(ctx, d, department, versionsQuery(d), recordType, store.EncodeKey(key))
	if err != nil {
		return 0, fmt.Errorf("clickhouse: couldn't erase %s/%s %v: %w", department, recordType, key, err)
	}
	if len(versions) == 0 {
		return 0, notFound
	}
	var rows recordRows
	for _, r := range versions {
		r.Values, r.Subjects, r.Erased = nil, nil, true
		rows.add(r, 2*r.Leaf+1)
	}
	if err := insert(ctx, d.conn, d.t("versions"), rows.columns()); err != nil {
		return 0, err
	}
	return len(versions), nil
}
