// Package store defines the projection store: the read model of the ledger
// that ingest builds (projects) from the log and the private payload store,
// and that the gateway queries. [Store] is the seam; its contract —
// durability when a write returns, idempotency by leaf index, ordering,
// concurrency — is in its doc comment. Two implementations pass the same
// conformance suite (store/storetest):
//
//   - store/clickhouse: production; one database per department (each may
//     live on its own server) plus a ledger database;
//   - store/sqlite: embedded, one file, pure Go.
//
// store owns the projected shapes ([Entry], [Change], [Value], [Record]),
// batch validation ([Validate], [BatchError]), the fold of grants and
// revokes ([FoldGrants]) and the encodings both implementations share
// ([EncodeKey], [OrderKey]). It imports only schema; it must not import
// ingest, gateway, merkle or any driver.
//
// # What is projected
//
// Every log leaf becomes an [Entry]: its index row (leaf ↔ department, seq,
// kind, envelope digest, time), plus, by kind, a record change with the
// typed field values taken from the disclosures and the subject tags the
// projector computed, a grant or revoke, or an access event. The store does
// not verify signatures or disclosures (ingest did) and does not compute
// subject tags (it has no ledger secret); it checks the shape of every
// value so that what it stores can be ordered and filtered.
//
// # Values: a key/value layout
//
// A version stores its fields as (name, type, canonical text) triples, not
// as typed columns generated from schemas:
//
//   - record-type schemas are versioned in the log; typed columns would
//     need DDL per schema version and department, applied in step with
//     ingest, and a story for fields whose type changes;
//   - every [schema.FieldType] has one canonical text form, so the text
//     round-trips exactly (decimals of any precision, dates, non-ASCII
//     names), where a numeric column would not;
//   - filters still work by type: equality and prefix on the canonical
//     text, ranges on [OrderKey], a string whose byte order is the type's
//     order (fixed-width dates and datetimes are their own order key; ints
//     and decimals get an encoded one).
//
// A record is identified by (department, type, key), the key being the
// canonical texts of its key fields ([EncodeKey]); the log itself names
// records only by an opaque reference, which [Store.ResolveRef] maps back.
//
// # Erasure
//
// [Store.Erase] removes the values and subject tags of every version of a
// record and keeps its index rows and version skeleton (leaf, seq, op,
// digest), so receipts and audits still resolve while the personal data is
// gone. The record key stays: it is how the erased record is addressed.
package store
