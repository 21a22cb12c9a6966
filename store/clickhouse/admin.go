package clickhouse

import (
	"context"
	"fmt"
	"strings"
)

// This file holds administrative helpers for tests, benchmarks and
// operators; the store itself does not use them.

// Exec runs one statement (not an INSERT: those go through PrepareBatch)
// on a server.
func Exec(ctx context.Context, sv Server, stmt string) error {
	c, err := dial(ctx, sv)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("clickhouse: couldn't run %q: %w", stmt, err)
	}
	return nil
}

// CountRows returns the number of rows of database.table (without FINAL).
func CountRows(ctx context.Context, sv Server, database, table string) (uint64, error) {
	c, err := dial(ctx, sv)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var n uint64
	if err := c.QueryRow(ctx, "SELECT count() FROM `"+database+"`."+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("clickhouse: couldn't count rows of %s.%s: %w", database, table, err)
	}
	return n, nil
}

// DropDatabases drops every database on the server whose name is prefix or
// starts with prefix + "_": a store's ledger database and the department
// databases named after it.
func DropDatabases(ctx context.Context, sv Server, prefix string) error {
	if prefix == "" || !validIdent(prefix) {
		return fmt.Errorf("clickhouse: refusing to drop databases with prefix %q", prefix)
	}
	c, err := dial(ctx, sv)
	if err != nil {
		return err
	}
	defer c.Close()
	rows, err := c.Query(ctx, `SELECT name FROM system.databases`)
	if err != nil {
		return fmt.Errorf("clickhouse: couldn't list databases: %w", err)
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: couldn't list databases: %w", err)
		}
		if name == prefix || strings.HasPrefix(name, prefix+"_") {
			names = append(names, name)
		}
	}
	rows.Close()
	for _, name := range names {
		if err := c.Exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			return fmt.Errorf("clickhouse: couldn't drop database %s: %w", name, err)
		}
	}
	return nil
}
