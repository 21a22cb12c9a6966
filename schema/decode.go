package schema

import (
	"encoding/base64"
	"fmt"
	"time"
)

// maxSeq bounds seq (and every other integer in an envelope) so that JSON
// numbers stay exact in every implementation: seq < 2^53.
const maxSeq = 1<<53 - 1

// timeLayout is the one accepted form of envelope times: RFC 3339, UTC,
// second precision.
const timeLayout = "2006-01-02T15:04:05Z"

// b64 is strict unpadded base64url: no padding, no stray bits.
var b64 = base64.RawURLEncoding.Strict()

// DecodeEnvelope parses and checks one log entry. It accepts exactly the
// bytes [Envelope.Canonical] produces for a structurally valid envelope,
// signature included, and rejects anything else with an [*EntryError]:
//
//   - longer than [MaxEntrySize]: [ErrTooLarge];
//   - not UTF-8 JSON, trailing data, unknown or duplicate keys, wrong JSON
//     types, integers out of range: [ErrMalformed];
//   - JSON of the envelope's shape that is not byte for byte its
//     canonical encoding (member order, whitespace, escapes, explicit
//     defaults such as "pii":false, null, missing members):
//     [ErrNotCanonical];
//   - a canonical envelope that breaks the structural rules of
//     [Envelope.Validate], or has no signature: [ErrMalformed].
//
// It does not verify the signature or the record values against a schema;
// see [Verify] and [RecordType.Validate].
func DecodeEnvelope(b []byte) (*Envelope, error) {
	env, r, err := readWire(b, MaxEntrySize, "envelope", envelopeMembers)
	if err != nil {
		return nil, err
	}
	if err := r.result(); err != nil {
		return nil, err
	}
	if env.Sig == "" {
		return nil, entryErr(ErrMalformed, "sig", "missing")
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	return env, nil
}

// Validate checks the structural rules of an envelope, without the
// signature (which may be empty) and without any schema: version, kind and
// body, seq range, time form, identifier and digest forms. Errors are
// [*EntryError]s matching [ErrMalformed].
func (env *Envelope) Validate() error {
	if env.V != 1 {
		return entryErr(ErrMalformed, "v", "unsupported version %d", env.V)
	}
	if err := checkID("department", env.Department); err != nil {
		return err
	}
	if env.Seq < 1 || env.Seq > maxSeq {
		return entryErr(ErrMalformed, "seq", "%d outside [1, 2^53)", env.Seq)
	}
	if err := checkTime("time", env.Time); err != nil {
		return err
	}
	if !validKeyID(env.KeyID) {
		return entryErr(ErrMalformed, "key_id", "%q is not 16 lowercase hex digits", env.KeyID)
	}
	if env.Sig != "" {
		if raw, err := b64.DecodeString(env.Sig); err != nil || len(raw) != 64 {
			return entryErr(ErrMalformed, "sig", "not a base64url Ed25519 signature")
		}
	}
	bodies := map[Kind]bool{
		KindRecordChange:  env.Change != nil,
		KindGrant:         env.Grant != nil,
		KindRevoke:        env.Revoke != nil,
		KindAccess:        env.Access != nil,
		KindDepartmentKey: env.Key != nil,
		KindSchema:        env.Schema != nil,
	}
	if _, ok := bodies[env.Kind]; !ok {
		return entryErr(ErrMalformed, "kind", "unknown kind %q", env.Kind)
	}
	for k, set := range bodies {
		if set && k != env.Kind {
			return entryErr(ErrMalformed, bodyName(k), "body not allowed in a %s entry", env.Kind)
		}
	}
	if !bodies[env.Kind] {
		return entryErr(ErrMalformed, bodyName(env.Kind), "missing body for a %s entry", env.Kind)
	}
	switch env.Kind {
	case KindRecordChange:
		return validateChange(env.Change)
	case KindGrant:
		return validateGrant(env.Grant)
	case KindRevoke:
		return validateRevoke(env.Revoke)
	case KindAccess:
		return validateAccess(env.Access)
	case KindDepartmentKey:
		return validateKeyBody(env.Key)
	default:
		if err := validateRecordType(&env.Schema.RecordType); err != nil {
			return &EntryError{Part: "schema.record_type", Reason: err.Error(), Err: ErrMalformed}
		}
		return nil
	}
}

func bodyName(k Kind) string {
	switch k {
	case KindRecordChange:
		return "change"
	case KindDepartmentKey:
		return "key"
	}
	return string(k)
}

func validateChange(c *RecordChange) error {
	if !validTypeName(c.Type) {
		return entryErr(ErrMalformed, "change.type", "invalid record type name %q", c.Type)
	}
	if c.SchemaVersion < 1 {
		return entryErr(ErrMalformed, "change.schema_version", "must be ≥ 1")
	}
	if !validDigest(c.Record) {
		return entryErr(ErrMalformed, "change.record", "not a 43-character base64url reference")
	}
	switch c.Op {
	case OpUpsert:
		if len(c.Digests) == 0 {
			return entryErr(ErrMalformed, "change.digests", "an upsert needs at least one field digest")
		}
	case OpDelete:
		if len(c.Digests) != 0 {
			return entryErr(ErrMalformed, "change.digests", "a delete carries no digests")
		}
	default:
		return entryErr(ErrMalformed, "change.op", "unknown op %q", c.Op)
	}
	for name, d := range c.Digests {
		if !validFieldName(name) {
			return entryErr(ErrMalformed, "change.digests", "invalid field name %q", name)
		}
		if !validDigest(d) {
			return entryErr(ErrMalformed, "change.digests."+name, "not a 43-character base64url SHA-256 digest")
		}
	}
	return nil
}

func validateGrant(g *Grant) error {
	if err := checkTarget("grant", g.Consumer, g.Purpose, g.Type); err != nil {
		return err
	}
	if len(g.Fields) == 0 {
		return entryErr(ErrMalformed, "grant.fields", "empty")
	}
	if err := checkNames("grant.fields", g.Fields); err != nil {
		return err
	}
	if g.Expires != "" {
		if err := checkTime("grant.expires", g.Expires); err != nil {
			return err
		}
	}
	if g.Condition != "" && g.Condition != "subject" {
		return entryErr(ErrMalformed, "grant.condition", "unknown condition %q", g.Condition)
	}
	return nil
}

func validateRevoke(r *Revoke) error {
	if err := checkTarget("revoke", r.Consumer, r.Purpose, r.Type); err != nil {
		return err
	}
	return checkNames("revoke.fields", r.Fields)
}

// checkTarget checks whom a grant or revoke body is for, and for what.
func checkTarget(body, consumer, purpose, recordType string) error {
	if err := checkID(body+".consumer", consumer); err != nil {
		return err
	}
	if err := checkID(body+".purpose", purpose); err != nil {
		return err
	}
	if !validTypeName(recordType) {
		return entryErr(ErrMalformed, body+".type", "invalid record type name %q", recordType)
	}
	return nil
}

func validateAccess(a *Access) error {
	if err := checkID("access.consumer", a.Consumer); err != nil {
		return err
	}
	if a.User == "" || len(a.User) > 256 {
		return entryErr(ErrMalformed, "access.user", "must be 1 to 256 bytes")
	}
	if err := checkID("access.purpose", a.Purpose); err != nil {
		return err
	}
	if len(a.CaseRef) > 256 || len(a.Query) > 256 {
		return entryErr(ErrMalformed, "access", "case_ref and query are limited to 256 bytes")
	}
	for i, s := range a.Subjects {
		if !validDigest(s) {
			return entryErr(ErrMalformed, fmt.Sprintf("access.subjects[%d]", i), "not a subject tag")
		}
		if i > 0 && a.Subjects[i-1] >= s {
			return entryErr(ErrMalformed, "access.subjects", "not sorted or has duplicates")
		}
	}
	for i, it := range a.Disclosed {
		part := fmt.Sprintf("access.disclosed[%d].fields", i)
		if len(it.Fields) == 0 {
			return entryErr(ErrMalformed, part, "empty")
		}
		if err := checkNames(part, it.Fields); err != nil {
			return err
		}
	}
	for i, d := range a.Denied {
		part := fmt.Sprintf("access.denied[%d]", i)
		if err := checkID(part+".department", d.Department); err != nil {
			return err
		}
		if d.Type != "" && !validTypeName(d.Type) {
			return entryErr(ErrMalformed, part+".type", "invalid record type name %q", d.Type)
		}
		if err := checkNames(part+".fields", d.Fields); err != nil {
			return err
		}
		if err := checkID(part+".reason", d.Reason); err != nil {
			return err
		}
	}
	return nil
}

func validateKeyBody(k *DepartmentKey) error {
	if err := checkID("key.department", k.Department); err != nil {
		return err
	}
	if !validKeyID(k.KeyID) {
		return entryErr(ErrMalformed, "key.key_id", "%q is not 16 lowercase hex digits", k.KeyID)
	}
	switch k.Action {
	case KeyRegister, KeyRotate:
		pub, err := b64.DecodeString(k.PublicKey)
		if err != nil || len(pub) != 32 {
			return entryErr(ErrMalformed, "key.public_key", "not a base64url Ed25519 public key")
		}
		if KeyID(pub) != k.KeyID {
			return entryErr(ErrMalformed, "key.key_id", "does not match the public key (want %s)", KeyID(pub))
		}
	case KeyRevoke:
		if k.PublicKey != "" {
			return entryErr(ErrMalformed, "key.public_key", "must be empty for revoke")
		}
	default:
		return entryErr(ErrMalformed, "key.action", "unknown action %q", k.Action)
	}
	return nil
}

func checkID(part, s string) error {
	if !validID(s) {
		return entryErr(ErrMalformed, part, "%q is not a lowercase identifier [a-z0-9-]{1,64}", s)
	}
	return nil
}

func checkTime(part, s string) error {
	t, err := time.Parse(timeLayout, s)
	if err != nil || t.Format(timeLayout) != s {
		return entryErr(ErrMalformed, part, "%q is not an RFC 3339 UTC time with second precision", s)
	}
	return nil
}

// checkNames checks a list of field names: valid, sorted, unique.
func checkNames(part string, names []string) error {
	for i, n := range names {
		if !validFieldName(n) {
			return entryErr(ErrMalformed, part, "invalid field name %q", n)
		}
		if i > 0 && names[i-1] >= n {
			return entryErr(ErrMalformed, part, "not sorted or has duplicates")
		}
	}
	return nil
}

// validID: departments, purposes, reasons: [a-z0-9-]{1,64}.
// ValidID reports whether s is a crossledger identifier: 1 to 64 of
// [a-z0-9-]. Department ids, purposes, denial reasons and other
// machine-readable names in envelopes are identifiers.
func ValidID(s string) bool { return validID(s) }

func validID(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && all(s, func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' })
}

// all reports whether every byte of s is ok.
func all(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// validTypeName: record type names follow the same rule as ids.
func validTypeName(s string) bool { return validID(s) }

// validFieldName: [a-z][a-z0-9_]{0,63}.
func validFieldName(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && s[0] >= 'a' && s[0] <= 'z' &&
		all(s[1:], func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' })
}

// validDigest: 43 characters of strict base64url, i.e. 32 bytes.
func validDigest(s string) bool {
	if len(s) != 43 {
		return false
	}
	var buf [33]byte
	n, err := b64.Decode(buf[:], []byte(s))
	return err == nil && n == 32
}

func validKeyID(s string) bool {
	return len(s) == 16 && all(s, isLowerHex)
}
