package schema

// This file holds the shared domain vocabulary: departments, record types,
// fields and the envelope kinds. Other crossledger packages import these
// names; change them only together with their users.

// FieldType is the type of one record field. Every field value has one
// canonical text form (see [Field.Canonical]); disclosures carry values as
// JSON (int as a JSON number, bool as a JSON bool, every other type as a JSON
// string holding the canonical text form).
type FieldType string

const (
	TypeString     FieldType = "string"      // any UTF-8 text
	TypeInt        FieldType = "int"         // integer in [-(2^53-1), 2^53-1], so JCS keeps it exact
	TypeDecimal    FieldType = "decimal"     // base-10 number as text: -?digits[.digits], no exponent, no trailing zeros in the fraction
	TypeDate       FieldType = "date"        // YYYY-MM-DD
	TypeDateTime   FieldType = "datetime"    // RFC 3339 in UTC, second precision: YYYY-MM-DDThh:mm:ssZ
	TypeBool       FieldType = "bool"        // true | false
	TypeEnum       FieldType = "enum"        // one of Field.Values
	TypeCitizenID  FieldType = "citizen_id"  // 18-character PRC resident identity number (GB 11643)
	TypeCreditCode FieldType = "credit_code" // 18-character unified social credit code (GB 32100)
)

// Field describes one field of a record type.
type Field struct {
	Name        string    `yaml:"name" json:"name"`
	Type        FieldType `yaml:"type" json:"type"`
	Values      []string  `yaml:"values,omitempty" json:"values,omitempty"` // allowed values of an enum
	Required    bool      `yaml:"required,omitempty" json:"required,omitempty"`
	PII         bool      `yaml:"pii,omitempty" json:"pii,omitempty"`         // personal data: never logged, erasable
	Subject     bool      `yaml:"subject,omitempty" json:"subject,omitempty"` // names a citizen the record is about (citizen_id fields only)
	Description string    `yaml:"description,omitempty" json:"description,omitempty"`
}

// RecordType is one versioned record-type schema owned by a department.
type RecordType struct {
	Name        string   `yaml:"name" json:"name"`
	Version     uint32   `yaml:"version" json:"version"`
	Key         []string `yaml:"key" json:"key"` // names of the fields that identify a record, in order
	Fields      []Field  `yaml:"fields" json:"fields"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
}

// Department is one department's schema file: who it is and the record
// types it owns.
type Department struct {
	ID    string       `yaml:"id" json:"id"`
	Name  string       `yaml:"name" json:"name"`
	Types []RecordType `yaml:"types" json:"types"`
}

// Kind names an entry kind.
type Kind string

const (
	KindRecordChange  Kind = "record.change"
	KindGrant         Kind = "grant"
	KindRevoke        Kind = "revoke"
	KindAccess        Kind = "access"
	KindDepartmentKey Kind = "department.key"
	KindSchema        Kind = "schema"
)

// Op is what a record change does to its record.
type Op string

const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// MaxEntrySize is the largest canonical envelope the ledger accepts: the
// tlog-tiles entry-bundle limit (uint16 length prefix).
const MaxEntrySize = 65535

// Envelope is the signed unit that becomes one log entry. Exactly one of
// the body pointers is set, matching Kind. The signature covers the
// canonical (RFC 8785) encoding of the envelope with Sig empty (omitted).
type Envelope struct {
	V          int    `json:"v"`          // format version, 1
	Kind       Kind   `json:"kind"`       // which body is set
	Department string `json:"department"` // signer: the owning department, or the gateway's id for access entries
	Seq        uint64 `json:"seq"`        // strictly increasing per Department, ≥ 1, < 2^53
	Time       string `json:"time"`       // RFC 3339 UTC, second precision, when the signer made it
	KeyID      string `json:"key_id"`     // which of the signer's keys signed it

	Change *RecordChange  `json:"change,omitempty"`
	Grant  *Grant         `json:"grant,omitempty"`
	Revoke *Revoke        `json:"revoke,omitempty"`
	Access *Access        `json:"access,omitempty"`
	Key    *DepartmentKey `json:"key,omitempty"`
	Schema *SchemaChange  `json:"schema,omitempty"`

	Sig string `json:"sig,omitempty"` // base64url (no padding) Ed25519 signature
}

// RecordChange is the body of a record.change entry. It carries no personal
// data: each field is a salted SHA-256 commitment (see [Disclosure]), and the
// record is named by an opaque reference the department derives with a
// keyed hash of the record type and key values.
type RecordChange struct {
	Type          string            `json:"type"`           // record type name
	SchemaVersion uint32            `json:"schema_version"` // version of the record type the values follow
	Record        string            `json:"record"`         // opaque, stable record reference (base64url)
	Op            Op                `json:"op"`
	Digests       map[string]string `json:"digests,omitempty"` // field name → base64url SHA-256 of its disclosure; empty for deletes
}

// Grant is the body of a grant entry, signed by the owning department
// (Envelope.Department): Consumer may see Fields of Type for Purpose.
type Grant struct {
	Consumer  string   `json:"consumer"`            // consumer department id
	Purpose   string   `json:"purpose"`             // declared business purpose, e.g. "real-estate-transfer"
	Type      string   `json:"type"`                // record type name of the owner
	Fields    []string `json:"fields"`              // granted field names, sorted, no duplicates
	Expires   string   `json:"expires,omitempty"`   // RFC 3339 UTC; empty: no expiry
	Condition string   `json:"condition,omitempty"` // row condition; "" (all rows) or "subject" (only records whose subject is the queried citizen)
}

// Revoke is the body of a revoke entry: it withdraws Fields (all fields when
// empty) previously granted to Consumer for Purpose on Type.
type Revoke struct {
	Consumer string   `json:"consumer"`
	Purpose  string   `json:"purpose"`
	Type     string   `json:"type"`
	Fields   []string `json:"fields,omitempty"`
}

// Access is the body of an access entry, signed by the gateway: who looked
// at what, why, and what was disclosed or denied.
type Access struct {
	Consumer  string         `json:"consumer"` // the caller's department
	User      string         `json:"user"`
	Purpose   string         `json:"purpose"`
	CaseRef   string         `json:"case_ref,omitempty"`
	Subjects  []string       `json:"subjects,omitempty"` // subject tags (see SubjectTag) of the citizens concerned
	Disclosed []AccessItem   `json:"disclosed,omitempty"`
	Denied    []AccessDenial `json:"denied,omitempty"`
	Query     string         `json:"query,omitempty"` // operation name or a digest of the query text
}

// AccessItem names the fields of one logged record version that were disclosed.
type AccessItem struct {
	Leaf   uint64   `json:"leaf"`
	Fields []string `json:"fields"`
}

// AccessDenial records something the caller asked for and did not get.
type AccessDenial struct {
	Department string   `json:"department"`
	Type       string   `json:"type,omitempty"`
	Leaf       uint64   `json:"leaf,omitempty"`
	Fields     []string `json:"fields,omitempty"`
	Reason     string   `json:"reason"` // machine-readable: no-grant, expired, revoked, row-condition, unknown-purpose, …
}

// KeyAction is what a department.key entry does.
type KeyAction string

const (
	KeyRegister KeyAction = "register"
	KeyRotate   KeyAction = "rotate"
	KeyRevoke   KeyAction = "revoke"
)

// DepartmentKey is the body of a department.key entry. Registration is
// signed by the governance key; rotation and revocation by the governance
// key or the department's current key.
type DepartmentKey struct {
	Department string    `json:"department"`
	Action     KeyAction `json:"action"`
	KeyID      string    `json:"key_id"`
	PublicKey  string    `json:"public_key,omitempty"` // base64url Ed25519 public key; empty for revoke
}

// SchemaChange is the body of a schema entry: a new version of one of the
// signer's record types.
type SchemaChange struct {
	RecordType RecordType `json:"record_type"`
}
