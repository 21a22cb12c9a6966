package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A migration is a list of statements run in order; "{db}" stands for the
// quoted database name. Every statement must be idempotent (IF NOT EXISTS),
// so that a migration interrupted before it was recorded can run again.
// Append only.
type migration []string

// recordCols are the columns of versions and current, in insert order.
const recordCols = `type, key, leaf, ver, seq, ref, schema_version, op, time, digest, erased, names, types, vals, ords, subjects`

const recordTable = ` (
	type String, key String, leaf UInt64, ver UInt64, seq UInt64, ref String, schema_version UInt64,
	op String, time DateTime, digest String, erased UInt8,
	names Array(String), types Array(String), vals Array(String), ords Array(String), subjects Array(String))`

var ledgerMigrations = []migration{
	1: {
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
	},
}

var deptMigrations = []migration{
	1: {
		`CREATE TABLE IF NOT EXISTS {db}.versions` + recordTable + `
			ENGINE = ReplacingMergeTree(ver) PARTITION BY tuple() ORDER BY (type, key, leaf)`,
		`CREATE TABLE IF NOT EXISTS {db}.current` + recordTable + `
			ENGINE = ReplacingMergeTree(ver) PARTITION BY tuple() ORDER BY (type, key)`,
		`CREATE TABLE IF NOT EXISTS {db}.subjects (tag String, type String, key String, leaf UInt64)
			ENGINE = ReplacingMergeTree() PARTITION BY tuple() ORDER BY (tag, type, key, leaf)`,
		`CREATE TABLE IF NOT EXISTS {db}.progress (size UInt64, seq UInt64, at DateTime)
			ENGINE = MergeTree() PARTITION BY tuple() ORDER BY size`,
		// The client sends each version once; the server fans it out.
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.current_mv TO {db}.current AS
			SELECT ` + recordCols + ` FROM {db}.versions`,
		`CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.subjects_mv TO {db}.subjects AS
			SELECT arrayJoin(subjects) AS tag, type, key, leaf FROM {db}.versions`,
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
		for _, stmt := range ms[v] {
			if err := d.conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", q)); err != nil {
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
