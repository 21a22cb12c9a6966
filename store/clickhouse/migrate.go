package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A migration is a list of steps run in order; "{db}" stands for the
// quoted database name. Every step must be idempotent, so that a migration
// interrupted before it was recorded can run again: statements use IF [NOT]
// EXISTS, and a statement that has no such form on 18.16 (ALTER TABLE …
// ADD COLUMN) carries an unless query that tells whether it is done.
// Append only; never edit a migration that has shipped.
type migration []step

// step is one statement of a migration.
type step struct {
	stmt string
	// unless, if set, is a query returning one UInt64, with one "?" bound
	// to the database name; the statement is skipped when it is non-zero,
	// and an error of the statement is ignored when it is non-zero
	// afterwards (another process did it).
	unless string
}

// stmts is a migration of plain statements.
func stmts(ss ...string) migration {
	m := make(migration, len(ss))
	for i, s := range ss {
		m[i] = step{stmt: s}
	}
	return m
}

// addColumn is an idempotent ALTER TABLE … ADD COLUMN (18.16 has no IF
// NOT EXISTS for it). The column's default is its type's (empty array,
// empty string, 0), which is what rows inserted without it get.
func addColumn(table, column, typ string) step {
	return step{
		stmt: `ALTER TABLE {db}.` + table + ` ADD COLUMN ` + column + ` ` + typ,
		unless: `SELECT count() FROM system.columns WHERE database = ? AND table = '` + table +
			`' AND name = '` + column + `'`,
	}
}

// recordCols are the columns of versions and current, in insert order.
const recordCols = recordColsV1 + `, discs`

// recordTable is the layout of versions and current after every
// migration (the benchmarks build their baseline table from it).
const recordTable = ` (
	type String, key String, leaf UInt64, ver UInt64, seq UInt64, ref String, schema_version UInt64,
	op String, time DateTime, digest String, erased UInt8,
	names Array(String), types Array(String), vals Array(String), ords Array(String), subjects Array(String),
	discs Array(String))`

// recordColsV1 and recordTableV1 are the record columns as migration 1
// created them, before discs (migration 2).
const recordColsV1 = `type, key, leaf, ver, seq, ref, schema_version, op, time, digest, erased, names, types, vals, ords, subjects`

const recordTableV1 = ` (
	type String, key String, leaf UInt64, ver UInt64, seq UInt64, ref String, schema_version UInt64,
	op String, time DateTime, digest String, erased UInt8,
	names Array(String), types Array(String), vals Array(String), ords Array(String), subjects Array(String))`

var ledgerMigrations = []migration{
	1: stmts(
		`CREATE TABLE IF NOT EXISTS {db}.entries (
			leaf UInt64, department String, seq UInt64, kind String, digest String, time DateTime)
			ENGINE = ReplacingMergeTree() PARTITION BY tuple() ORDER BY leaf`,
		`CREATE TABLE IF NOT EXISTS {db}.grants (
			leaf UInt64, kind String, owner String, consumer String, purpose String, type String,
			fields Array(String), expires String, condition String)
			ENGINE = ReplacingMergeTree() PARTITION BY tuple() ORDER BY (consumer, purpose, leaf)`,
		`CREATE TABLE IF NOT EXISTS {db}.access (
			leaf UInt64, department String, seq UInt64, time DateTime, consumer String,
			subjects Array(String), body String)
			ENGINE = ReplacingMergeTree() PARTITION BY tuple() ORDER BY leaf`,
		`CREATE TABLE IF NOT EXISTS {db}.departments (department String, database String)
			ENGINE = ReplacingMergeTree() PARTITION BY tuple() ORDER BY department`,
		`CREATE TABLE IF NOT EXISTS {db}.progress (size UInt64, at DateTime)
			ENGINE = MergeTree() PARTITION BY tuple() ORDER BY size`,
	),
}

var deptMigrations = []migration{
	1: stmts(
		`CREATE TABLE IF NOT EXISTS {db}.versions`+recordTableV1+`
			ENGINE = ReplacingMergeTree(ver) PARTITION BY tuple() ORDER BY (type, key, leaf)`,
		`CREATE TABLE IF NOT EXISTS {db}.current`+recordTableV1+`
			ENGINE = ReplacingMergeTree(ver) PARTITION BY tuple() ORDER BY (type, key)`,
		`CREATE TABLE IF NOT EXISTS {db}.subjects (tag String, type String, key String, leaf UInt64)
			ENGINE = ReplacingMergeTree() PARTITION BY tuple() ORDER BY (tag, type, key, leaf)`,
		`CREATE TABLE IF NOT EXISTS {db}.progress (size UInt64, seq UInt64, at DateTime)
			ENGINE = MergeTree() PARTITION BY tuple() ORDER BY size`,
		// The client sends each version once; the server fans it out.
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.current_mv TO {db}.current AS
			SELECT `+recordColsV1+` FROM {db}.versions`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.subjects_mv TO {db}.subjects AS
			SELECT arrayJoin(subjects) AS tag, type, key, leaf FROM {db}.versions`,
	),
	// 2: the encoded disclosure of every value, parallel to names. On
	// 18.16 a view cannot be altered, and once current has discs every
	// insert into versions fails while current_mv (which selects explicit
	// columns) exists ("Expected column discs: while pushing to view").
	// Hence the order: add the columns, create current_mv2 beside
	// current_mv, then drop current_mv. Until the drop, inserts into
	// versions fail (a writer still running an older binary retries its
	// batch, which is idempotent); at no moment does an insert succeed
	// without reaching current. Rows stored before have discs = [], read
	// as values without disclosures.
	2: {
		addColumn("versions", "discs", "Array(String)"),
		addColumn("current", "discs", "Array(String)"),
		{stmt: `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.current_mv2 TO {db}.current AS
			SELECT ` + recordCols + ` FROM {db}.versions`},
		{stmt: `DROP TABLE IF EXISTS {db}.current_mv`},
	},
}

// migrate creates d and applies the migrations it has not recorded.
func migrate(ctx context.Context, d *db, ms []migration) error {
	q := "`" + d.name + "`"
	for _, stmt := range []string{
		`CREATE DATABASE IF NOT EXISTS ` + q,
		`CREATE TABLE IF NOT EXISTS ` + q + `.schema_migrations (version UInt64, applied DateTime)
			ENGINE = MergeTree() PARTITION BY tuple() ORDER BY version`,
	} {
		if err := d.conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("clickhouse: couldn't create database %s: %w", d.name, err)
		}
	}
	var have uint64
	if err := d.conn.QueryRow(ctx, `SELECT max(version) FROM `+d.t("schema_migrations")).Scan(&have); err != nil {
		return fmt.Errorf("clickhouse: couldn't read schema version of %s: %w", d.name, err)
	}
	if have >= uint64(len(ms)) {
		return fmt.Errorf("clickhouse: database %s has schema version %d, newer than this binary's %d", d.name, have, len(ms)-1)
	}
	for v := int(have) + 1; v < len(ms); v++ {
		for _, st := range ms[v] {
			if err := d.step(ctx, st); err != nil {
				return fmt.Errorf("clickhouse: couldn't apply migration %d to %s: %w", v, d.name, err)
			}
		}
		b, err := d.conn.PrepareBatch(ctx, `INSERT INTO `+d.t("schema_migrations")+` (version, applied)`)
		if err != nil {
			return fmt.Errorf("clickhouse: couldn't record migration %d of %s: %w", v, d.name, err)
		}
		if err := b.Append(uint64(v), time.Now()); err != nil {
			b.Abort()
			return fmt.Errorf("clickhouse: couldn't record migration %d of %s: %w", v, d.name, err)
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("clickhouse: couldn't record migration %d of %s: %w", v, d.name, err)
		}
	}
	return nil
}

// step runs one migration step in d.
func (d *db) step(ctx context.Context, st step) error {
	done := func() (bool, error) {
		if st.unless == "" {
			return false, nil
		}
		var n uint64
		if err := d.conn.QueryRow(ctx, st.unless, d.name).Scan(&n); err != nil {
			return false, fmt.Errorf("couldn't check %q: %w", st.unless, err)
		}
		return n > 0, nil
	}
	if ok, err := done(); err != nil || ok {
		return err
	}
	stmt := strings.ReplaceAll(st.stmt, "{db}", "`"+d.name+"`")
	if err := d.conn.Exec(ctx, stmt); err != nil {
		if ok, _ := done(); ok {
			return nil
		}
		return fmt.Errorf("couldn't run %q: %w", stmt, err)
	}
	return nil
}
