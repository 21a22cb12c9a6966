package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
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
//   - not JSON, trailing data, unknown or duplicate keys, wrong JSON types:
//     [ErrMalformed];
//   - valid JSON that is not byte-for-byte its canonical re-encoding
//     (member order, whitespace, escapes, explicit defaults such as
//     "pii":false or null): [ErrNotCanonical];
//   - structural rules of [Envelope.Validate]: [ErrMalformed].
//
// It does not verify the signature or the record values against a schema;
// see [Verify] and [RecordType.Validate].
func DecodeEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEntrySize {
		return nil, entryErr(ErrTooLarge, "", "%d bytes, limit %d", len(b), MaxEntrySize)
	}
	if !utf8.Valid(b) {
		return nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	if env, ok := parseCanonicalEnvelope(b); ok {
		if canon, err := env.appendCanonical(make([]byte, 0, len(b)), true); err == nil && bytes.Equal(canon, b) {
			return checkDecoded(env)
		}
	}
	env := new(Envelope)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(env); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, entryErr(ErrMalformed, "", "trailing data after the envelope")
	}
	canon, err := env.Canonical()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		// Tell duplicate keys (which encoding/json silently merges) apart
		// from mere non-canonical form.
		if _, err := CanonicalJSON(b); err != nil {
			return nil, err
		}
		i := 0
		for i < len(b) && i < len(canon) && b[i] == canon[i] {
			i++
		}
		return nil, entryErr(ErrNotCanonical, "", "differs from its canonical encoding at byte %d", i)
	}
	return checkDecoded(env)
}

// checkDecoded applies the structural checks to a canonical envelope.
func checkDecoded(env *Envelope) (*Envelope, error) {
	if env.Sig == "" {
		return nil, entryErr(ErrMalformed, "sig", "missing")
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	return env, nil
}

func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return entryErr(ErrMalformed, te.Field, "JSON %s where %s expected", te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return entryErr(ErrMalformed, "", "invalid JSON at byte %d: %v", se.Offset, se)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return entryErr(ErrMalformed, strings.Trim(f, `"`), "unknown field")
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return entryErr(ErrMalformed, "", "truncated JSON")
	}
	return entryErr(ErrMalformed, "", "couldn't decode JSON: %v", err)
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
	if err := checkID("grant.consumer", g.Consumer); err != nil {
		return err
	}
	if err := checkID("grant.purpose", g.Purpose); err != nil {
		return err
	}
	if !validTypeName(g.Type) {
		return entryErr(ErrMalformed, "grant.type", "invalid record type name %q", g.Type)
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
	if err := checkID("revoke.consumer", r.Consumer); err != nil {
		return err
	}
	if err := checkID("revoke.purpose", r.Purpose); err != nil {
		return err
	}
	if !validTypeName(r.Type) {
		return entryErr(ErrMalformed, "revoke.type", "invalid record type name %q", r.Type)
	}
	return checkNames("revoke.fields", r.Fields)
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
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validTypeName: record type names follow the same rule as ids.
func validTypeName(s string) bool { return validID(s) }

// validFieldName: [a-z][a-z0-9_]{0,63}.
func validFieldName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
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
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// The fast path of [DecodeEnvelope]: a reader for exactly the bytes
// [Envelope.Canonical] writes — members in canonical order, no
// whitespace, canonical string escapes and integers — that decodes them
// without reflection. It gives up (ok = false) on anything else, and
// [DecodeEnvelope] then takes the general path, which finds the precise
// error. Whatever it does decode, DecodeEnvelope re-encodes and compares
// with the input, so it only ever accepts canonical bytes; on those it
// produces what encoding/json would.

type canonReader struct {
	b  []byte
	i  int
	ok bool
}

func (r *canonReader) fail() { r.ok = false }

func (r *canonReader) byte(c byte) bool {
	if r.ok && r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	r.ok = false
	return false
}

// member consumes `,"k":` (or `"k":` for the first member of an object)
// if that is next, and reports whether it was.
func (r *canonReader) member(first *bool, k string) bool {
	if !r.ok {
		return false
	}
	i := r.i
	if !*first {
		if i >= len(r.b) || r.b[i] != ',' {
			return false
		}
		i++
	}
	if i+len(k)+3 > len(r.b) || r.b[i] != '"' || string(r.b[i+1:i+1+len(k)]) != k || r.b[i+1+len(k)] != '"' || r.b[i+2+len(k)] != ':' {
		return false
	}
	r.i = i + len(k) + 3
	*first = false
	return true
}

// need is member for a member that canonical form always has.
func (r *canonReader) need(first *bool, k string) bool {
	if !r.member(first, k) {
		r.ok = false
		return false
	}
	return true
}

func (r *canonReader) str() string {
	if !r.byte('"') {
		return ""
	}
	start := r.i
	esc := false
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			if !esc {
				return string(s)
			}
			v, ok := unquoteCanonical(s)
			if !ok {
				r.ok = false
			}
			return v
		case c == '\\':
			esc = true
			r.i += 2
		case c < 0x20:
			r.ok = false
			return ""
		default:
			r.i++
		}
	}
	r.ok = false
	return ""
}

// uint reads a canonical unsigned integer no larger than max.
func (r *canonReader) uint(max uint64) uint64 {
	if !r.ok || r.i >= len(r.b) {
		r.ok = false
		return 0
	}
	b := r.b
	if b[r.i] == '0' {
		r.i++
		if r.i < len(b) && '0' <= b[r.i] && b[r.i] <= '9' {
			r.ok = false
		}
		return 0
	}
	var n uint64
	start := r.i
	for r.i < len(b) && '0' <= b[r.i] && b[r.i] <= '9' {
		d := uint64(b[r.i] - '0')
		if n > (max-d)/10 {
			r.ok = false
			return 0
		}
		n = n*10 + d
		r.i++
	}
	if r.i == start {
		r.ok = false
	}
	return n
}

func (r *canonReader) strList() []string {
	if !r.byte('[') {
		return nil
	}
	out := []string{}
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		return out
	}
	for r.ok {
		out = append(out, r.str())
		if r.i < len(r.b) && r.b[r.i] == ',' {
			r.i++
			continue
		}
		r.byte(']')
		break
	}
	return out
}

// array reads a non-empty array of objects, calling elem for each.
func (r *canonReader) array(elem func()) {
	if !r.byte('[') {
		return
	}
	for r.ok {
		elem()
		if r.i < len(r.b) && r.b[r.i] == ',' {
			r.i++
			continue
		}
		r.byte(']')
		return
	}
}

func parseCanonicalEnvelope(b []byte) (*Envelope, bool) {
	r := &canonReader{b: b, ok: true}
	env := new(Envelope)
	first := true
	r.byte('{')
	if r.member(&first, "access") {
		env.Access = r.access()
	}
	if r.member(&first, "change") {
		env.Change = r.change()
	}
	if r.need(&first, "department") {
		env.Department = r.str()
	}
	if r.member(&first, "grant") {
		env.Grant = r.grant()
	}
	if r.member(&first, "key") {
		env.Key = r.departmentKey()
	}
	if r.need(&first, "key_id") {
		env.KeyID = r.str()
	}
	if r.need(&first, "kind") {
		env.Kind = Kind(r.str())
	}
	if r.member(&first, "revoke") {
		env.Revoke = r.revoke()
	}
	if r.member(&first, "schema") {
		sf := true
		r.byte('{')
		if r.need(&sf, "record_type") {
			env.Schema = &SchemaChange{RecordType: r.recordType()}
		}
		r.byte('}')
	}
	if r.need(&first, "seq") {
		env.Seq = r.uint(math.MaxUint64)
	}
	if r.member(&first, "sig") {
		env.Sig = r.str()
	}
	if r.need(&first, "time") {
		env.Time = r.str()
	}
	if r.need(&first, "v") {
		neg := r.i < len(b) && b[r.i] == '-'
		if neg {
			r.i++
		}
		v := r.uint(math.MaxInt64)
		if neg {
			if v == 0 {
				r.fail()
			}
			env.V = -int(v)
		} else {
			env.V = int(v)
		}
	}
	r.byte('}')
	return env, r.ok && r.i == len(b)
}

func (r *canonReader) change() *RecordChange {
	c := new(RecordChange)
	first := true
	r.byte('{')
	if r.member(&first, "digests") {
		r.byte('{')
		c.Digests = make(map[string]string)
		for r.ok {
			k := r.str()
			r.byte(':')
			c.Digests[k] = r.str()
			if r.i < len(r.b) && r.b[r.i] == ',' {
				r.i++
				continue
			}
			r.byte('}')
			break
		}
	}
	if r.need(&first, "op") {
		c.Op = Op(r.str())
	}
	if r.need(&first, "record") {
		c.Record = r.str()
	}
	if r.need(&first, "schema_version") {
		c.SchemaVersion = uint32(r.uint(math.MaxUint32))
	}
	if r.need(&first, "type") {
		c.Type = r.str()
	}
	r.byte('}')
	return c
}

func (r *canonReader) grant() *Grant {
	g := new(Grant)
	first := true
	r.byte('{')
	if r.member(&first, "condition") {
		g.Condition = r.str()
	}
	if r.need(&first, "consumer") {
		g.Consumer = r.str()
	}
	if r.member(&first, "expires") {
		g.Expires = r.str()
	}
	if r.need(&first, "fields") {
		g.Fields = r.strList()
	}
	if r.need(&first, "purpose") {
		g.Purpose = r.str()
	}
	if r.need(&first, "type") {
		g.Type = r.str()
	}
	r.byte('}')
	return g
}

func (r *canonReader) revoke() *Revoke {
	v := new(Revoke)
	first := true
	r.byte('{')
	if r.need(&first, "consumer") {
		v.Consumer = r.str()
	}
	if r.member(&first, "fields") {
		v.Fields = r.strList()
	}
	if r.need(&first, "purpose") {
		v.Purpose = r.str()
	}
	if r.need(&first, "type") {
		v.Type = r.str()
	}
	r.byte('}')
	return v
}

func (r *canonReader) access() *Access {
	a := new(Access)
	first := true
	r.byte('{')
	if r.member(&first, "case_ref") {
		a.CaseRef = r.str()
	}
	if r.need(&first, "consumer") {
		a.Consumer = r.str()
	}
	if r.member(&first, "denied") {
		r.array(func() {
			var d AccessDenial
			f := true
			r.byte('{')
			if r.need(&f, "department") {
				d.Department = r.str()
			}
			if r.member(&f, "fields") {
				d.Fields = r.strList()
			}
			if r.member(&f, "leaf") {
				d.Leaf = r.uint(math.MaxUint64)
			}
			if r.need(&f, "reason") {
				d.Reason = r.str()
			}
			if r.member(&f, "type") {
				d.Type = r.str()
			}
			r.byte('}')
			a.Denied = append(a.Denied, d)
		})
	}
	if r.member(&first, "disclosed") {
		r.array(func() {
			var it AccessItem
			f := true
			r.byte('{')
			if r.need(&f, "fields") {
				it.Fields = r.strList()
			}
			if r.need(&f, "leaf") {
				it.Leaf = r.uint(math.MaxUint64)
			}
			r.byte('}')
			a.Disclosed = append(a.Disclosed, it)
		})
	}
	if r.need(&first, "purpose") {
		a.Purpose = r.str()
	}
	if r.member(&first, "query") {
		a.Query = r.str()
	}
	if r.member(&first, "subjects") {
		a.Subjects = r.strList()
	}
	if r.need(&first, "user") {
		a.User = r.str()
	}
	r.byte('}')
	return a
}

func (r *canonReader) departmentKey() *DepartmentKey {
	k := new(DepartmentKey)
	first := true
	r.byte('{')
	if r.need(&first, "action") {
		k.Action = KeyAction(r.str())
	}
	if r.need(&first, "department") {
		k.Department = r.str()
	}
	if r.need(&first, "key_id") {
		k.KeyID = r.str()
	}
	if r.member(&first, "public_key") {
		k.PublicKey = r.str()
	}
	r.byte('}')
	return k
}

func (r *canonReader) recordType() RecordType {
	var rt RecordType
	first := true
	r.byte('{')
	if r.member(&first, "description") {
		rt.Description = r.str()
	}
	if r.need(&first, "fields") {
		rt.Fields = []Field{}
		if r.i+1 < len(r.b) && r.b[r.i] == '[' && r.b[r.i+1] == ']' {
			r.i += 2
		} else {
			r.array(func() {
				var f Field
				ff := true
				r.byte('{')
				if r.member(&ff, "description") {
					f.Description = r.str()
				}
				if r.need(&ff, "name") {
					f.Name = r.str()
				}
				f.PII = r.member(&ff, "pii") && r.trueLit()
				f.Required = r.member(&ff, "required") && r.trueLit()
				f.Subject = r.member(&ff, "subject") && r.trueLit()
				if r.need(&ff, "type") {
					f.Type = FieldType(r.str())
				}
				if r.member(&ff, "values") {
					f.Values = r.strList()
				}
				r.byte('}')
				rt.Fields = append(rt.Fields, f)
			})
		}
	}
	if r.need(&first, "key") {
		rt.Key = r.strList()
	}
	if r.need(&first, "name") {
		rt.Name = r.str()
	}
	if r.need(&first, "version") {
		rt.Version = uint32(r.uint(math.MaxUint32))
	}
	r.byte('}')
	return rt
}

func (r *canonReader) trueLit() bool {
	if r.ok && r.i+4 <= len(r.b) && string(r.b[r.i:r.i+4]) == "true" {
		r.i += 4
		return true
	}
	r.ok = false
	return false
}
