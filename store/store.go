package store

import (
	"context"
	"time"

	"github.com/crossledger/crossledger/schema"
)

// Store is the projection store: the queryable read model that ingest
// builds from the log and the private payload store, and that the gateway
// reads. Everything in it can be rebuilt by projecting the log again.
//
// # Durability
//
// When [Store.Write] returns nil, every entry of the batch is stored and
// visible to later reads, and the watermark reported by [Store.Watermark]
// covers the batch, also after the store is closed and reopened. What
// "stored" means is the backend's: an fsynced SQLite transaction; for
// ClickHouse, inserts acknowledged by the server(s). When Write returns an
// error, any subset of the batch may be stored (ClickHouse has no
// transactions) but the watermark does not cover it; the caller retries the
// same batch, which is harmless because writes are idempotent.
//
// # Idempotency
//
// An entry is identified by its leaf index. Writing a leaf that is already
// stored changes nothing, whatever batch it comes in — in particular it
// does not bring back values removed by [Store.Erase]. The log is
// immutable, so a leaf is always written with the same content.
//
// # Ordering
//
// The projector writes batches in log order, one batch at a time. The
// watermark is then "every leaf below Size is projected". Within the store,
// "current" means the version with the highest leaf index, whatever order
// the versions were written in.
//
// # Concurrency
//
// All methods are safe for concurrent use. Reads may run during a Write. On
// SQLite a read sees a batch entirely or not at all; on ClickHouse a read
// may see part of a batch that is still being written (the watermark is the
// commit point for recovery, not for visibility). Pagination with
// [ListQuery.After] is stable under concurrent writes: a record present
// during the whole walk is returned exactly once.
//
// # Errors
//
// A batch that fails validation is refused as a whole, before anything is
// written, with a [*BatchError] naming the row and the reason
// (errors.Is(err, [ErrInvalid]) holds). A lookup that finds nothing returns
// an error for which errors.Is(err, [ErrNotFound]) holds. After Close,
// methods return [ErrClosed].
type Store interface {
	Writer
	Reader
	Eraser
	// Close releases the store's connections. It does not wait for
	// in-flight calls, which fail.
	Close() error
}

// Writer is what the projector needs of a [Store]: it writes batches in
// log order and resumes from the watermark.
type Writer interface {
	// Write stores a batch of projected entries (see the [Store] doc for
	// the contract). An empty batch is a no-op.
	Write(ctx context.Context, batch []Entry) error

	// Watermark reports how far the projection has got, ledger-wide and
	// per department.
	Watermark(ctx context.Context) (Watermark, error)

	// ResolveRef returns the key of the record that the opaque record
	// reference ref names (record.change entries carry only the reference,
	// and deletes carry no disclosures), or ErrNotFound.
	ResolveRef(ctx context.Context, department, recordType, ref string) ([]string, error)
}

// Reader is what the gateway reads of a [Store]. The gateway is handed
// nothing more, so it can neither write nor erase.
type Reader interface {
	// Watermark reports how far the projection has got.
	Watermark(ctx context.Context) (Watermark, error)

	// Entry returns the index row of one log entry.
	Entry(ctx context.Context, leaf uint64) (EntryRef, error)
	// EntryBySeq returns the index row of a department's entry by its seq.
	EntryBySeq(ctx context.Context, department string, seq uint64) (EntryRef, error)

	// Current returns the current version of a record, or ErrNotFound if
	// the record does not exist or its current version is a delete.
	Current(ctx context.Context, department, recordType string, key []string) (Record, error)
	// History returns every version of a record in log order (deletes
	// included), or ErrNotFound if it has none.
	History(ctx context.Context, department, recordType string, key []string) ([]Record, error)
	// List returns current, non-deleted records of a type that match all
	// filters, in key order, one page at a time.
	List(ctx context.Context, department, recordType string, q ListQuery) (Page, error)
	// BySubject returns the current, non-deleted records of every type of
	// the department whose subject tags include tag, ordered by type and
	// key.
	BySubject(ctx context.Context, department, tag string) ([]Record, error)

	// Permissions returns the grants in force at q.Now: the fold, in log
	// order, of every grant and revoke matching q, with expired grants left
	// out.
	Permissions(ctx context.Context, q GrantQuery) ([]Permission, error)

	// Accesses returns access events matching q in log order.
	Accesses(ctx context.Context, q AccessQuery) ([]AccessEvent, error)
}

// Eraser is what erasure needs of a [Store].
type Eraser interface {
	// Erase removes the field values (with their disclosures) and subject
	// tags of every stored version of a record, keeping its index rows
	// (leaf, seq, op, digest, field names), and reports how many versions
	// it erased. It returns ErrNotFound if the record has no versions.
	// Versions projected later with higher leaf indexes are not affected.
	Erase(ctx context.Context, department, recordType string, key []string) (int, error)
}

// Entry is one projected log entry: its index row plus, depending on Kind,
// the record change with its typed values, the grant or revoke, or the
// access event. Entries of other kinds (department.key, schema) carry only
// the index row.
type Entry struct {
	Leaf       uint64      // index in the log, from 0
	Department string      // the signer (Envelope.Department)
	Seq        uint64      // Envelope.Seq, ≥ 1
	Kind       schema.Kind // Envelope.Kind
	Digest     string      // digest of the canonical envelope, as the log names it; opaque, non-empty
	Time       time.Time   // Envelope.Time (second precision; stored in UTC)

	Change *Change        // KindRecordChange
	Grant  *schema.Grant  // KindGrant
	Revoke *schema.Revoke // KindRevoke
	Access *schema.Access // KindAccess
}

// Change is a projected record change.
type Change struct {
	Type          string    // record type name
	SchemaVersion uint32    // record type version the values follow
	Record        string    // opaque record reference from the envelope
	Op            schema.Op // upsert or delete
	// Key holds the canonical text of the record's key fields, in the
	// order of RecordType.Key. It comes from the payloads (an upsert's
	// disclosures, or ResolveRef for a delete).
	Key []string
	// Values holds the disclosed fields of an upsert; it is empty for a
	// delete. Names are unique.
	Values []Value
	// Subjects holds the subject tags (keyed hashes of the citizen ids in
	// the record's subject fields) that the projector computed.
	Subjects []string
}

// Value is one typed field value. Text is the field's canonical text form
// (see [schema.FieldType]); the store keeps it byte for byte.
type Value struct {
	Name string
	Type schema.FieldType
	Text string
	// Disclosure is the encoded disclosure the value was taken from
	// (unpadded base64url of the JSON array [salt, name, value], see
	// [schema.Disclosure]), exactly as in the private payload, so that a
	// reader can hand it out and a client can check it against the digest
	// the owner signed. Empty when unknown (values projected before the
	// store kept disclosures). The store keeps it byte for byte and checks
	// only its alphabet, not that it matches the value or any digest;
	// [Store.Erase] removes it with the value.
	Disclosure string
}

// Record is one stored version of a record.
type Record struct {
	Department    string
	Type          string
	Key           []string
	Ref           string
	Leaf          uint64
	Seq           uint64
	SchemaVersion uint32
	Op            schema.Op
	Time          time.Time
	Digest        string
	// Values and Subjects are empty for deletes and for erased versions.
	Values   []Value
	Subjects []string
	Erased   bool // Erase removed this version's values
}

// Value returns the value of the named field and whether it is present.
func (r Record) Value(name string) (Value, bool) {
	for _, v := range r.Values {
		if v.Name == name {
			return v, true
		}
	}
	return Value{}, false
}

// EntryRef is the index row of one log entry, for receipts and audits.
type EntryRef struct {
	Leaf       uint64
	Department string
	Seq        uint64
	Kind       schema.Kind
	Digest     string
	Time       time.Time
}

// Watermark is the projection's progress.
type Watermark struct {
	// Size is one more than the highest leaf of any batch Write stored:
	// leaves [0, Size) are projected when batches are written in log
	// order. 0 means nothing was projected.
	Size uint64
	// Departments holds, per department that has entries, the progress of
	// its own tables (which may live on their own server).
	Departments map[string]DepartmentMark
}

// DepartmentMark is one department's projection progress.
type DepartmentMark struct {
	Size uint64 // one more than the highest leaf of this department's entries that is stored
	Seq  uint64 // the highest seq of this department's entries that is stored
}

// FilterOp says how a [Filter] compares a field.
type FilterOp int

const (
	// Equal matches a field whose canonical text equals Value.
	Equal FilterOp = iota + 1
	// Prefix matches a field whose canonical text starts with Value.
	Prefix
	// Range matches a field whose value lies in [Min, Max] (both
	// inclusive, an empty bound is open), compared as the field type
	// orders: numerically for int and decimal, chronologically for date
	// and datetime, bytewise for text types.
	Range
)

// Filter restricts [Store.List] to records whose field Field satisfies Op.
// A record without the field does not match.
type Filter struct {
	Field    string
	Op       FilterOp
	Type     schema.FieldType // the field's type; needed by Range
	Value    string           // Equal, Prefix
	Min, Max string           // Range, canonical text forms
}

// ListQuery selects a page of [Store.List].
type ListQuery struct {
	Filters []Filter
	// Subject, if set, restricts the list to records whose current
	// version's subject tags include it. It is applied before paging, so
	// a page and its cursor never step over a record of another subject.
	Subject string
	// After is the cursor from the previous page's Page.Next; empty for
	// the first page.
	After string
	// Limit is the page size; 0 means DefaultPageSize, at most MaxPageSize.
	Limit int
}

// Page sizes of [Store.List].
const (
	DefaultPageSize = 100
	MaxPageSize     = 10000
)

// Page is one page of [Store.List].
type Page struct {
	Records []Record
	Next    string // cursor for the next page; empty when this is the last
}

// GrantQuery selects permissions. Empty string fields match anything.
type GrantQuery struct {
	Owner    string // owning department
	Consumer string // consumer department
	Purpose  string
	Type     string
	Now      time.Time // required: grants with Expires ≤ Now are out
}

// Permission is a set of fields one owner grants one consumer for one
// purpose on one record type, as the fold of grants and revokes leaves it.
type Permission struct {
	Owner     string
	Consumer  string
	Purpose   string
	Type      string
	Fields    []string  // sorted
	Condition string    // row condition of the grant
	Expires   time.Time // zero: no expiry
	Leaf      uint64    // the grant entry these fields come from
}

// AccessQuery selects access events. Zero fields match anything; all set
// fields must match.
type AccessQuery struct {
	Subject  string    // subject tag the event concerns
	Consumer string    // consumer department
	From     time.Time // events at or after
	To       time.Time // events before
	FromLeaf uint64    // events at leaf ≥ FromLeaf; to page on, pass the last leaf seen + 1
	Limit    int       // 0 means DefaultPageSize, at most MaxPageSize
}

// AccessEvent is one stored access entry.
type AccessEvent struct {
	Leaf       uint64
	Department string // the gateway that signed it
	Seq        uint64
	Time       time.Time
	Access     schema.Access
}
