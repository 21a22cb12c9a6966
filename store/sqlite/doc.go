// Package sqlite is the embedded projection store: one SQLite file in WAL
// mode, through the pure-Go driver modernc.org/sqlite (no cgo), so that
// `crossledger dev`, single-machine setups and tests need no server. It
// implements [store.Store] and passes store/storetest.
//
// # Tables
//
// All departments share one file; department is the leading column of
// every record table, which plays the part of ClickHouse's database per
// department.
//
//	entries          leaf PK | department, seq, kind, digest, time        index (department, seq)
//	versions         (department, type, key, leaf) PK | ref, schema_version, op, time,
//	                 digest, erased, fields JSON, subjects JSON           unique index (leaf)
//	current          (department, type, key) PK | the versions columns     index (department, type, ref)
//	current_fields   (department, type, key, name) PK | text, ord         index (department, type, name, ord)
//	subjects         (department, tag, type, key) PK                       index (department, type, key)
//	grants           leaf PK | kind, owner, consumer, purpose, type,
//	                 fields JSON, expires, condition                       index (consumer, purpose)
//	access           leaf PK | department, seq, time, consumer, body JSON  index (consumer, leaf), (time)
//	access_subjects  (tag, leaf) PK
//	progress         scope PK ("" = ledger, else a department) | size, seq
//	schema_migrations version PK | applied
//
// Field values are kept per version as one JSON array of [name, type,
// text, disclosure] rows (key/value layout): schemas are versioned and
// change with the log, and a fixed layout needs no DDL when they do. Rows
// written before disclosures were kept are [name, type, text] triples and
// read back with an empty disclosure (no migration). What must be
// searched is broken out: current_fields holds one row per field of the
// current version (text for equality and prefix, ord — [store.OrderKey] —
// for ranges) and subjects one row per subject tag of the current version;
// both are rewritten in the same transaction as current, so they never
// disagree with it.
//
// # Writes
//
// A batch is one IMMEDIATE transaction, committed with synchronous=FULL, so
// it is durable and visible all at once. An entry whose leaf is already in
// entries is skipped whole: since its rows were committed together, it is
// complete. current is replaced only by a higher leaf. Erase nulls the
// values of versions and current in place and deletes the record's
// current_fields and subjects rows; re-projecting an erased leaf is skipped
// like any stored leaf, so values do not come back.
//
// Writes go through one connection (SQLite has one writer); reads use a
// separate pool of query-only connections, which WAL lets run during a
// write.
package sqlite
