package schema

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Disclosures
//
// A record change commits to each field value the way RFC 9901 (SD-JWT)
// does, so the log holds no personal data:
//
//	disclosure = base64url( ["<salt>","<name>",<value>] )   (no padding)
//	digest     = base64url( SHA-256( ASCII(disclosure) ) )  (43 characters)
//	salt       = base64url( 16 random bytes )               (22 characters)
//
// The array is written in canonical JSON (no whitespace, RFC 8785 string
// escaping); value is a JSON number for int fields, a JSON bool for bool
// fields and a JSON string holding the canonical text form otherwise (see
// [Field.JSONValue]). [ParseDisclosure] accepts only that exact form, so a
// disclosure has one encoding.

// SaltSize is the number of random bytes in a disclosure salt.
const SaltSize = 16

// Disclosure is one field's opening: its salt, name and value, and the
// encoded string its digest is computed from.
type Disclosure struct {
	Salt    string // base64url, ≥ 16 bytes
	Name    string // field name
	Value   any    // string, int64 or bool
	Encoded string // base64url of the JSON array
}

// Digest returns the base64url SHA-256 digest of the disclosure.
func (d Disclosure) Digest() string {
	return digestOf(d.Encoded)
}

func digestOf(encoded string) string {
	sum := sha256.Sum256([]byte(encoded))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewDisclosure encodes a disclosure from its parts. value must be a
// string, an int64 within ±(2^53-1) or a bool.
func NewDisclosure(salt, name string, value any) (Disclosure, error) {
	buf := make([]byte, 0, 64+len(name))
	buf = append(buf, '[')
	buf = appendJSONString(buf, salt)
	buf = append(buf, ',')
	buf = appendJSONString(buf, name)
	buf = append(buf, ',')
	switch v := value.(type) {
	case string:
		buf = appendJSONString(buf, v)
	case int64:
		if v > maxInt || v < -maxInt {
			return Disclosure{}, fmt.Errorf("couldn't encode disclosure %s: int outside ±(2^53-1)", name)
		}
		buf = strconv.AppendInt(buf, v, 10)
	case bool:
		buf = strconv.AppendBool(buf, v)
	default:
		return Disclosure{}, fmt.Errorf("couldn't encode disclosure %s: unsupported value type %T", name, value)
	}
	buf = append(buf, ']')
	return Disclosure{Salt: salt, Name: name, Value: value, Encoded: base64.RawURLEncoding.EncodeToString(buf)}, nil
}

// ParseDisclosure decodes a disclosure string strictly: unpadded base64url
// of a canonical JSON array of exactly a salt (base64url of ≥ 16 bytes), a
// field name and a scalar value, read by the same reader as envelopes.
// Errors match [ErrMalformed], or [ErrNotCanonical] for a valid
// disclosure in another spelling (whitespace, escapes, -0, line breaks in
// the base64).
func ParseDisclosure(s string) (Disclosure, error) {
	bad := func(format string, args ...any) (Disclosure, error) {
		return Disclosure{}, entryErr(ErrMalformed, "disclosure", format, args...)
	}
	if len(s) > 4*MaxEntrySize {
		return bad("too long")
	}
	var buf [256]byte
	raw := buf[:0]
	if n := b64.DecodedLen(len(s)); n > len(buf) {
		raw = make([]byte, 0, n)
	}
	n, err := b64.Decode(raw[:cap(raw)], readOnlyBytes(s))
	if err != nil {
		return bad("not unpadded base64url: %v", err)
	}
	raw = raw[:n]
	if !utf8.Valid(raw) {
		return bad("invalid UTF-8")
	}
	str := string(raw)
	r := newReader(readOnlyBytes(str), str, "disclosure")
	r.root = "disclosure"
	if strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
		r.noncanon(0, "line break in the base64url")
	}
	d := Disclosure{Encoded: s}
	readDisclosure(r, &d)
	r.end()
	if err := r.result(); err != nil {
		return Disclosure{}, err
	}
	return d, nil
}

// readDisclosure reads ["<salt>","<name>",<value>] and checks its parts.
func readDisclosure(r *reader, d *Disclosure) {
	if !r.open('[', "array") {
		return
	}
	n := 0
	for ; r.next(']', n); n++ {
		r.push("", n)
		switch n {
		case 0:
			if d.Salt = r.text(); r.err == nil && !validSalt(d.Salt) {
				r.malformed("salt is not base64url of at least %d bytes", SaltSize)
			}
		case 1:
			if d.Name = r.text(); r.err == nil && !validFieldName(d.Name) {
				r.malformed("invalid field name %q", d.Name)
			}
		case 2:
			d.Value = disclosureValue(r)
		default:
			r.malformed("array has more than 3 elements")
		}
		r.pop()
	}
	if r.err == nil && n != 3 {
		r.malformed("array has %d elements, want 3", n)
	}
}

// validSalt reports whether salt is base64url of at least SaltSize bytes.
func validSalt(salt string) bool {
	var buf [48]byte
	if b64.DecodedLen(len(salt)) > len(buf) {
		sb, err := b64.DecodeString(salt)
		return err == nil && len(sb) >= SaltSize
	}
	n, err := b64.Decode(buf[:], readOnlyBytes(salt))
	return err == nil && n >= SaltSize
}

// disclosureValue reads a disclosed value: a string, a bool, or an
// integer within ±(2^53-1).
func disclosureValue(r *reader) any {
	switch c := r.peek(); {
	case c == '"':
		return r.text()
	case c == 't' || c == 'f':
		return r.boolean()
	case c == '-' || '0' <= c && c <= '9':
		n, neg := r.integer(true, maxInt)
		if neg && n > maxInt {
			r.malformed("JSON number -%d out of range", n)
		}
		if neg {
			return -int64(n)
		}
		return int64(n)
	}
	r.typeErr("string, integer or bool")
	return nil
}

// readOnlyBytes returns the bytes of s without copying them, for the
// callees here that only read their input (base64 decoding, hashing): a
// disclosure check would otherwise copy each disclosure twice.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// BuildChange validates values against rt, puts them in canonical form and
// commits to each present field with a fresh salt from rand. It returns the
// change body (digests by field name) and the disclosures, ordered by field
// name. record is the record reference (see [RecordRef]). A delete takes no
// values and returns no disclosures.
func BuildChange(rt *RecordType, op Op, record string, values map[string]string, rand io.Reader) (*RecordChange, []Disclosure, error) {
	ch := &RecordChange{Type: rt.Name, SchemaVersion: rt.Version, Record: record, Op: op}
	switch op {
	case OpDelete:
		if len(values) > 0 {
			return nil, nil, &FieldError{Type: rt.Name, Field: "", Reason: "a delete carries no values"}
		}
		return ch, nil, nil
	case OpUpsert:
	default:
		return nil, nil, fmt.Errorf("couldn't build change: unknown op %q: %w", op, ErrMalformed)
	}
	canon, err := rt.CanonicalValues(values)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't build change: %w", err)
	}
	names := make([]string, 0, len(canon))
	for n := range canon {
		names = append(names, n)
	}
	slices.Sort(names)
	ch.Digests = make(map[string]string, len(names))
	ds := make([]Disclosure, 0, len(names))
	saltBuf := make([]byte, SaltSize*len(names))
	if _, err := io.ReadFull(rand, saltBuf); err != nil {
		return nil, nil, fmt.Errorf("couldn't read salt: %w", err)
	}
	for i, n := range names {
		f, _ := rt.Field(n)
		v, err := f.JSONValue(canon[n])
		if err != nil {
			return nil, nil, err
		}
		salt := base64.RawURLEncoding.EncodeToString(saltBuf[i*SaltSize : (i+1)*SaltSize])
		d, err := NewDisclosure(salt, n, v)
		if err != nil {
			return nil, nil, err
		}
		ch.Digests[n] = d.Digest()
		ds = append(ds, d)
	}
	return ch, ds, nil
}

// DisclosureError reports a disclosure that does not belong to a change.
// It matches [ErrDisclosureMismatch].
type DisclosureError struct {
	Field  string
	Reason string
}

func (e *DisclosureError) Error() string {
	return fmt.Sprintf("%v: field %s: %s", ErrDisclosureMismatch, e.Field, e.Reason)
}

func (e *DisclosureError) Is(target error) bool { return target == ErrDisclosureMismatch }

// CheckDisclosures checks that every disclosure opens the digest ch holds
// under the same field name, and that no field is disclosed twice. It does
// not require all fields to be disclosed (selective disclosure).
func CheckDisclosures(ch *RecordChange, ds []Disclosure) error {
	var seen map[string]bool
	if len(ds) > 16 {
		seen = make(map[string]bool, len(ds))
	}
	for i, d := range ds {
		if seen != nil {
			if seen[d.Name] {
				return &DisclosureError{Field: d.Name, Reason: "disclosed twice"}
			}
			seen[d.Name] = true
		} else {
			for _, e := range ds[:i] {
				if e.Name == d.Name {
					return &DisclosureError{Field: d.Name, Reason: "disclosed twice"}
				}
			}
		}
		want, ok := ch.Digests[d.Name]
		if !ok {
			return &DisclosureError{Field: d.Name, Reason: "no digest for this field"}
		}
		if !digestMatches(d.Encoded, want) {
			return &DisclosureError{Field: d.Name, Reason: "digest mismatch"}
		}
	}
	return nil
}

// digestMatches reports, in constant time, whether want is the digest of
// the encoded disclosure: digestOf(encoded) == want, without allocating.
func digestMatches(encoded, want string) bool {
	sum := sha256.Sum256(readOnlyBytes(encoded))
	var got [43]byte
	base64.RawURLEncoding.Encode(got[:], sum[:])
	if len(want) != len(got) {
		return false
	}
	var diff byte
	for i := range got {
		diff |= got[i] ^ want[i]
	}
	return diff == 0
}

// CheckEncodedDisclosures parses each disclosure string strictly and checks
// them with [CheckDisclosures], returning the parsed disclosures. A
// disclosure whose value was altered fails with [ErrDisclosureMismatch].
func CheckEncodedDisclosures(ch *RecordChange, encoded []string) ([]Disclosure, error) {
	ds := make([]Disclosure, 0, len(encoded))
	for _, s := range encoded {
		d, err := ParseDisclosure(s)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse disclosure: %w", err)
		}
		ds = append(ds, d)
	}
	return ds, CheckDisclosures(ch, ds)
}

// Redact returns the disclosures whose field name is in keep, in their
// original order: what an analyst granted those fields receives.
func Redact(ds []Disclosure, keep []string) []Disclosure {
	out := make([]Disclosure, 0, len(keep))
	for _, d := range ds {
		if slices.Contains(keep, d.Name) {
			out = append(out, d)
		}
	}
	return out
}

// Values returns the disclosed values in canonical text form, checked
// against rt (each disclosed field must exist and its value be canonical).
func Values(rt *RecordType, ds []Disclosure) (map[string]string, error) {
	out := make(map[string]string, len(ds))
	for _, d := range ds {
		f, ok := rt.Field(d.Name)
		if !ok {
			return nil, &FieldError{Type: rt.Name, Field: d.Name, Reason: "unknown field"}
		}
		v, err := f.ParseJSON(d.Value)
		if err != nil {
			return nil, rt.fieldErr(err)
		}
		out[d.Name] = v
	}
	return out, nil
}

// RecordRef derives the opaque, stable reference of a record from the
// department's secret, the record type name and the canonical key values:
// base64url(HMAC-SHA256(secret, type 0x00 key₁ 0x00 key₂ …)). Key values
// cannot contain NUL (see [Field.Canonical]), so the input is unambiguous.
func RecordRef(secret []byte, recordType string, key []string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(recordType))
	for _, k := range key {
		m.Write([]byte{0})
		m.Write([]byte(k))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SubjectTag derives the keyed tag that stands for a citizen in the public
// log: base64url(HMAC-SHA256(ledgerSecret, citizen id)). The id is
// upper-cased first, so a lowercase check character 'x' gives the same tag.
func SubjectTag(ledgerSecret []byte, citizenID string) string {
	m := hmac.New(sha256.New, ledgerSecret)
	m.Write([]byte(strings.ToUpper(citizenID)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
