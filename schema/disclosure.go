package schema

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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
// field name and a scalar value. Errors match [ErrMalformed].
func ParseDisclosure(s string) (Disclosure, error) {
	if len(s) <= 4*MaxEntrySize {
		if d, ok := parseCanonicalDisclosure(s); ok {
			return d, nil
		}
	}
	return parseDisclosureStrict(s)
}

// parseCanonicalDisclosure is the fast path of [ParseDisclosure]: it
// reads only the canonical form, without encoding/json, and reports
// false for anything else, which [parseDisclosureStrict] then rejects
// with the precise error. What it accepts is what the strict parser
// accepts: a disclosure whose re-encoding is the input, whose strings are
// valid UTF-8 (so encoding/json would decode them to the same values).
func parseCanonicalDisclosure(s string) (Disclosure, bool) {
	var buf [256]byte
	var raw []byte
	if n := b64.DecodedLen(len(s)); n > len(buf) {
		raw = make([]byte, n)
	} else {
		raw = buf[:n]
	}
	n, err := b64.Decode(raw, readOnlyBytes(s))
	if err != nil {
		return Disclosure{}, false
	}
	raw = raw[:n]
	// ["<salt>","<name>",<value>]: salt and name never need escapes.
	if len(raw) < 2 || raw[0] != '[' || raw[1] != '"' {
		return Disclosure{}, false
	}
	rest := raw[2:]
	i := bytes.IndexByte(rest, '"')
	if i < 0 || !b64Plain(rest[:i]) {
		return Disclosure{}, false
	}
	saltB, rest := rest[:i], rest[i+1:]
	if len(rest) < 2 || rest[0] != ',' || rest[1] != '"' {
		return Disclosure{}, false
	}
	rest = rest[2:]
	i = bytes.IndexByte(rest, '"')
	if i < 0 || !validFieldName(string(rest[:i])) {
		return Disclosure{}, false
	}
	nameB, rest := rest[:i], rest[i+1:]
	if len(rest) < 2 || rest[0] != ',' || rest[len(rest)-1] != ']' {
		return Disclosure{}, false
	}
	vb := rest[1 : len(rest)-1]
	var value any
	switch {
	case len(vb) >= 2 && vb[0] == '"' && vb[len(vb)-1] == '"':
		v, ok := unquoteCanonical(vb[1 : len(vb)-1])
		if !ok {
			return Disclosure{}, false
		}
		value = v
	case string(vb) == "true":
		value = true
	case string(vb) == "false":
		value = false
	default:
		v, err := strconv.ParseInt(string(vb), 10, 64)
		if err != nil || v > maxInt || v < -maxInt {
			return Disclosure{}, false
		}
		value = v
	}
	var sb [64]byte
	if len(saltB) > 4*len(sb)/3 {
		return Disclosure{}, false
	}
	if n, err := b64.Decode(sb[:], saltB); err != nil || n < SaltSize {
		return Disclosure{}, false
	}
	// The input is canonical iff it is the canonical encoding of what was
	// read: compare the JSON (base64url decoding is one-to-one once line
	// breaks, which it skips, are ruled out).
	var cbuf [256]byte
	c := append(cbuf[:0], '[', '"')
	c = append(c, saltB...)
	c = append(c, '"', ',', '"')
	c = append(c, nameB...)
	c = append(c, '"', ',')
	switch v := value.(type) {
	case string:
		c = appendJSONString(c, v)
	case int64:
		c = strconv.AppendInt(c, v, 10)
	case bool:
		c = strconv.AppendBool(c, v)
	}
	c = append(c, ']')
	if !bytes.Equal(c, raw) || strings.ContainsAny(s, "\r\n") {
		return Disclosure{}, false
	}
	return Disclosure{Salt: string(saltB), Name: string(nameB), Value: value, Encoded: s}, true
}

// readOnlyBytes returns the bytes of s without copying them, for the
// callees here that only read their input (base64 decoding, hashing): a
// disclosure check would otherwise copy each disclosure twice.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// b64Plain reports whether b holds only base64url characters.
func b64Plain(b []byte) bool {
	for _, c := range b {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// unquoteCanonical decodes the contents of a JSON string written the way
// [appendJSONString] writes it, and reports false for any other escape,
// an unescaped quote or control character, or invalid UTF-8. It decodes
// more than the canonical form (a caller compares the re-encoding), but
// never differently from encoding/json.
func unquoteCanonical(b []byte) (string, bool) {
	if !utf8.Valid(b) {
		return "", false
	}
	if bytes.IndexByte(b, '\\') < 0 {
		for _, c := range b {
			if c < 0x20 || c == '"' {
				return "", false
			}
		}
		return string(b), true
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < 0x20 || c == '"' {
			return "", false
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(b) {
			return "", false
		}
		i++
		switch b[i] {
		case '"', '\\':
			out = append(out, b[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			// Only \u00XX for control characters is canonical.
			if i+4 >= len(b) || b[i+1] != '0' || b[i+2] != '0' || (b[i+3] != '0' && b[i+3] != '1') || !isHex(b[i+4]) {
				return "", false
			}
			out = append(out, byte(hex4(b[i+1:i+5])))
			i += 4
		default:
			return "", false
		}
	}
	return string(out), true
}

// parseDisclosureStrict is the general parser, with encoding/json: it
// classifies every input the fast path does not accept.
func parseDisclosureStrict(s string) (Disclosure, error) {
	bad := func(format string, args ...any) (Disclosure, error) {
		return Disclosure{}, entryErr(ErrMalformed, "disclosure", format, args...)
	}
	if len(s) > 4*MaxEntrySize {
		return bad("too long")
	}
	raw, err := b64.DecodeString(s)
	if err != nil {
		return bad("not unpadded base64url: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var arr []any
	if err := d.Decode(&arr); err != nil {
		return bad("not a JSON array: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return bad("trailing data")
	}
	if len(arr) != 3 {
		return bad("array has %d elements, want 3", len(arr))
	}
	salt, ok1 := arr[0].(string)
	name, ok2 := arr[1].(string)
	if !ok1 || !ok2 {
		return bad("salt and name must be strings")
	}
	if sb, err := b64.DecodeString(salt); err != nil || len(sb) < SaltSize {
		return bad("salt is not base64url of at least %d bytes", SaltSize)
	}
	if !validFieldName(name) {
		return bad("invalid field name %q", name)
	}
	var value any
	switch v := arr[2].(type) {
	case string, bool:
		value = v
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n > maxInt || n < -maxInt {
			return bad("value %s is not an integer within ±(2^53-1)", v)
		}
		value = n
	default:
		return bad("value must be a string, an integer or a bool")
	}
	out, err := NewDisclosure(salt, name, value)
	if err != nil {
		return bad("%v", err)
	}
	if out.Encoded != s {
		return Disclosure{}, entryErr(ErrNotCanonical, "disclosure", "JSON array is not in canonical form")
	}
	return out, nil
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
			fe := err.(*FieldError)
			fe.Type = rt.Name
			return nil, fe
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
