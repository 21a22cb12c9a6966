package schema

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Callers act on these with [errors.Is]; the typed errors
// below carry the evidence (which part, which field, which key) and match
// the sentinels.
var (
	// ErrMalformed: the input is not valid JSON, has duplicate or unknown
	// keys, or breaks a structural rule of its kind.
	ErrMalformed = errors.New("malformed entry")
	// ErrNotCanonical: the input is JSON of the right shape but not its
	// own RFC 8785 canonical encoding (see the wire rule in the package
	// documentation); for an envelope, its signature could then not be
	// reproduced.
	ErrNotCanonical = errors.New("entry not canonically encoded")
	// ErrTooLarge: the input exceeds [MaxEntrySize].
	ErrTooLarge = errors.New("entry too large")
	// ErrBadSignature: the signature does not verify under the named key.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownKey: no key with that id is valid for the signer at that
	// ledger index.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrSchema: a schema file is invalid, or a record does not follow its
	// record-type schema.
	ErrSchema = errors.New("schema violation")
	// ErrValue: a field value is not valid for its field type. Field value
	// errors match both ErrValue and [ErrSchema].
	ErrValue = errors.New("invalid field value")
	// ErrDisclosureMismatch: a disclosure does not match the digest the
	// signed change holds for its field.
	ErrDisclosureMismatch = errors.New("disclosure does not match digest")
	// ErrEquivocation: a department sent two different entries with the
	// same seq. Ingest rejects the second and alerts.
	ErrEquivocation = errors.New("equivocation: same seq, different entry")
	// ErrDuplicate: the entry was already logged (same seq, same bytes);
	// the caller answers with the original receipt.
	ErrDuplicate = errors.New("duplicate entry")
)

// EntryError reports a rejected envelope: which part of it (a JSON path
// such as "change.digests.name", or "" for the whole entry) and why.
type EntryError struct {
	Part   string
	Reason string
	Err    error // the sentinel: ErrMalformed, ErrNotCanonical, ErrTooLarge, …
}

func (e *EntryError) Error() string {
	msg := e.Err.Error()
	if e.Part != "" {
		msg += ": " + e.Part
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(sentinel error, part, format string, args ...any) *EntryError {
	return &EntryError{Part: part, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// SchemaError reports an invalid schema or genesis file: the file (may be
// empty when loaded from bytes without a name), the 1-based line (0 when
// unknown), the field or YAML key concerned, and the reason. It matches
// [ErrSchema].
type SchemaError struct {
	File   string
	Line   int
	Field  string
	Reason string
}

func (e *SchemaError) Error() string {
	msg := "schema violation"
	if e.File != "" {
		msg += ": " + e.File
		if e.Line > 0 {
			msg += ":" + strconv.Itoa(e.Line)
		}
	} else if e.Line > 0 {
		msg += ": line " + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		msg += ": " + e.Field
	}
	return msg + ": " + e.Reason
}

func (e *SchemaError) Is(target error) bool { return target == ErrSchema }

// FieldError reports a record value that breaks its record type: missing,
// unknown, or of the wrong form. It matches [ErrSchema], and also
// [ErrValue] when the value itself is invalid for the field type.
type FieldError struct {
	Type   string // record type name, when known
	Field  string
	Reason string
	Value  bool // the value is invalid for the field type (matches ErrValue)
}

func (e *FieldError) Error() string {
	msg := "invalid field"
	if e.Type != "" {
		msg += " " + e.Type + "." + e.Field
	} else {
		msg += " " + e.Field
	}
	return msg + ": " + e.Reason
}

func (e *FieldError) Is(target error) bool {
	return target == ErrSchema || (e.Value && target == ErrValue)
}

// SignatureError reports a signature that could not be verified: whose
// entry, which key, and why. It matches [ErrBadSignature], or
// [ErrUnknownKey] when the key could not be resolved.
type SignatureError struct {
	Department string
	Seq        uint64
	KeyID      string
	Reason     string
	Err        error // ErrBadSignature or ErrUnknownKey (possibly wrapped)
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("%v: %s seq %d key %s: %s", e.Err, e.Department, e.Seq, e.KeyID, e.Reason)
}

func (e *SignatureError) Unwrap() error { return e.Err }
