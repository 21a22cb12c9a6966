// Package clickhouse is the production projection store on ClickHouse,
// through github.com/ClickHouse/clickhouse-go/v2 over the native protocol.
// It implements [store.Store] and passes store/storetest.
//
// # Compatibility
//
// The SQL runs on ClickHouse 18.16 (CI) and 24.x (production): MergeTree
// family tables declared with PARTITION BY tuple() ORDER BY (…), column
// types String, UInt8, UInt64, DateTime and Array(String) only (no
// LowCardinality either: it is experimental on 18.16), no mutations, no
// server-side parameters. Inserts go only through PrepareBatch (a native
// INSERT … VALUES with client-side arguments hangs on 18.16); SELECTs use
// the client's "?" binding.
//
// # Databases and tables
//
// One ledger database (Config.Database, default "crossledger") and one
// database per department (default "<Database>_<department id>"), each
// possibly on its own server (Config.Departments), so a department can
// keep its data on its own ClickHouse.
//
//	<ledger>.entries      ReplacingMergeTree          ORDER BY leaf
//	    leaf UInt64, department String, seq UInt64, kind String, digest String, time DateTime
//	<ledger>.grants       ReplacingMergeTree          ORDER BY (consumer, purpose, leaf)
//	    leaf, kind, owner, consumer, purpose, type String, fields Array(String), expires String, condition String
//	<ledger>.access       ReplacingMergeTree          ORDER BY leaf
//	    leaf, department, seq, time, consumer String, subjects Array(String), body String (JSON of schema.Access)
//	<ledger>.departments  ReplacingMergeTree          ORDER BY department
//	    department String, database String             departments that have tables
//	<ledger>.progress     MergeTree                   ORDER BY size      size UInt64, at DateTime
//
//	<dept>.versions       ReplacingMergeTree(ver)     ORDER BY (type, key, leaf)     every version
//	<dept>.current        ReplacingMergeTree(ver)     ORDER BY (type, key)           the highest leaf per record
//	    type, key String (store.EncodeKey), leaf, ver, seq UInt64, ref String, schema_version UInt64,
//	    op String, time DateTime, digest String, erased UInt8,
//	    names, types, vals, ords, subjects, discs Array(String)
//	<dept>.subjects       ReplacingMergeTree          ORDER BY (tag, type, key, leaf)
//	    tag, type, key String, leaf UInt64             which records ever named a subject
//	<dept>.progress       MergeTree                   ORDER BY size      size, seq UInt64, at DateTime
//
// and in every database schema_migrations (version UInt64, applied
// DateTime), MergeTree ORDER BY version: migrations are idempotent steps
// (CREATE … IF NOT EXISTS, or guarded by a look at system.columns),
// applied in order at start (and when a department first appears), then
// recorded, so a crash or two processes migrating at once are harmless.
//
// Department migration 2 added discs to versions and current. It runs in
// place when a store of this version first opens the department (no
// re-projection needed): ALTER TABLE … ADD COLUMN on both tables, create
// current_mv2 (selecting discs), drop current_mv. 18.16 cannot alter a
// view's query, and a view selecting explicit columns fails every insert
// once its target has a column it does not supply; so between the second
// ALTER and the drop (milliseconds) inserts into versions fail and are
// retried by their writer, but none succeeds without reaching current.
// Versions stored before keep discs = [] and read back with empty
// disclosures; to have every disclosure, re-project into a fresh database
// (crossledger reproject --clickhouse …): writing a leaf that is already
// stored changes nothing, so re-projecting into the same database does not
// fill them in. A binary from before migration 2 refuses to open a
// migrated department ("newer than this binary"); one already running
// keeps writing, without disclosures.
//
// Why this shape:
//
//   - Values use a key/value layout: parallel arrays names, types, vals
//     (canonical text), ords ([store.OrderKey], only for int and decimal
//     fields, "" elsewhere) and discs (each value's encoded disclosure,
//     [store.Value.Disclosure]; [] in rows written before migration 2,
//     which read back with empty disclosures). Record types are versioned by schema entries in
//     the log; typed columns would need DDL per schema version per
//     department and a migration story for changed types, while the arrays
//     round-trip every type exactly and filter with vals[indexOf(names, f)].
//   - Everything is a ReplacingMergeTree whose sorting key includes the
//     leaf (or is the record, for current), so a row inserted twice
//     collapses: this is what makes Write idempotent without transactions.
//     Reads are exact whatever the merge state: point lookups take the
//     row with the highest ver (ORDER BY ver DESC LIMIT 1, and LIMIT 1 BY
//     for history and subject candidates), which is the row FINAL would
//     keep and several times faster on 18.16; List uses FINAL, whose WHERE
//     runs after deduplication (conditions on sorting-key columns, which
//     select whole records, are the only ones that could run before).
//   - Only versions is sent by the client. Materialized views (current_mv2,
//     subjects_mv) copy each inserted block into current and, one row per
//     subject tag, into subjects: half the bytes on the wire and half the
//     client-side encoding, which is what keeps Write near a bare insert.
//   - current's version column is ver = 2·leaf, so the highest leaf wins;
//     Erase inserts copies without values (empty names … discs) at
//     ver = 2·leaf+1, which beat
//     the original row of the same leaf — including one re-inserted later
//     by a re-projection — but not a later leaf. Erase thus needs no
//     mutation (ALTER … UPDATE exists on 18.16 but is asynchronous, without
//     mutations_sync); the erased values leave the disk when the parts merge
//     (OPTIMIZE TABLE … FINAL forces it).
//   - subjects is an index that may hold stale rows (a record that no
//     longer names the subject); BySubject reads its candidates from it by
//     primary key and keeps those whose current version still carries the
//     tag.
//
// # Writes
//
// Write validates the whole batch first. It then inserts, one PrepareBatch
// per table: department versions (the views fill current and subjects) and
// the ledger tables (entries, grants, access) in parallel, then each
// department's progress row, then the ledger progress row. A failure at any point leaves the
// watermark behind the batch; retrying the batch re-inserts rows that
// collapse with those already there. Readers may see part of a batch before
// Write returns. Inserts are acknowledged by the server after it wrote the
// part (ClickHouse does not fsync by default; the projection can be rebuilt
// from the log).
package clickhouse
