package schema

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The encoding/json-based decoders that the hand-written ones replaced,
// kept as test oracles: the differential fuzz targets in
// differential_test.go hold the new decoders to their accept/reject
// decisions, error classes and results. Two follow the canonical wire
// rule that replaced the leniencies of the originals: the message oracle
// is the original (lenient) decoder followed by a comparison with the
// general RFC 8785 canonicaliser's encoding of what it decoded, and the
// disclosure oracle rejects invalid UTF-8 in the JSON array as malformed,
// as every other decoder does, instead of letting encoding/json replace it.

// decodeMessageReference accepts what the original decoder accepted, if
// it is the canonical encoding of the message decoded.
func decodeMessageReference(b []byte) (*Message, error) {
	m, err := decodeMessageLenient(b)
	if err != nil {
		return nil, err
	}
	j, err := json.Marshal(struct {
		Disclosures []string        `json:"disclosures,omitempty"`
		Envelope    json.RawMessage `json:"envelope"`
	}{m.Disclosures, m.Envelope})
	if err != nil {
		return nil, entryErr(ErrMalformed, "", "couldn't encode: %v", err)
	}
	if canon, err := CanonicalJSON(j); err != nil || !bytes.Equal(canon, b) {
		return nil, entryErr(ErrNotCanonical, "", "not the canonical encoding of the message")
	}
	return m, nil
}

func decodeMessageLenient(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "message is %d bytes, limit %d", len(b), MaxMessageSize)
	}
	if !utf8.Valid(b) {
		return nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	if err := checkMessageKeysReference(b); err != nil {
		return nil, err
	}
	m := new(Message)
	if err := decodeStrict(b, m, "message"); err != nil {
		return nil, err
	}
	if len(m.Envelope) == 0 || m.Envelope[0] != '{' {
		return nil, entryErr(ErrMalformed, "envelope", "missing or not a JSON object")
	}
	return m, nil
}

func checkMessageKeysReference(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil {
		return jsonErr(err)
	}
	if t != json.Delim('{') {
		return entryErr(ErrMalformed, "", "message is not a JSON object")
	}
	seen := map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return jsonErr(err)
		}
		k, _ := t.(string)
		if seen[k] {
			return entryErr(ErrMalformed, k, "duplicate key")
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return jsonErr(err)
		}
	}
	return nil
}

func parseDisclosureReference(s string) (Disclosure, error) {
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
	if !utf8.Valid(raw) {
		return bad("invalid UTF-8")
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

func checkEncodedDisclosuresReference(ch *RecordChange, encoded []string) ([]Disclosure, error) {
	ds := make([]Disclosure, 0, len(encoded))
	for _, s := range encoded {
		d, err := parseDisclosureReference(s)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse disclosure: %w", err)
		}
		ds = append(ds, d)
	}
	return ds, checkDisclosuresReference(ch, ds)
}

func checkDisclosuresReference(ch *RecordChange, ds []Disclosure) error {
	seen := make(map[string]bool, len(ds))
	for _, d := range ds {
		if seen[d.Name] {
			return &DisclosureError{Field: d.Name, Reason: "disclosed twice"}
		}
		seen[d.Name] = true
		want, ok := ch.Digests[d.Name]
		if !ok {
			return &DisclosureError{Field: d.Name, Reason: "no digest for this field"}
		}
		if !hmac.Equal([]byte(d.Digest()), []byte(want)) {
			return &DisclosureError{Field: d.Name, Reason: "digest mismatch"}
		}
	}
	return nil
}

func decodeEnvelopeReference(b []byte) (*Envelope, error) {
	if len(b) > MaxEntrySize {
		return nil, entryErr(ErrTooLarge, "", "%d bytes, limit %d", len(b), MaxEntrySize)
	}
	if !utf8.Valid(b) {
		return nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	env := new(Envelope)
	if err := decodeStrict(b, env, "envelope"); err != nil {
		return nil, err
	}
	canon, err := env.Canonical()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		if _, err := CanonicalJSON(b); err != nil {
			return nil, err
		}
		i := 0
		for i < len(b) && i < len(canon) && b[i] == canon[i] {
			i++
		}
		return nil, entryErr(ErrNotCanonical, "", "differs from its canonical encoding at byte %d", i)
	}
	if env.Sig == "" {
		return nil, entryErr(ErrMalformed, "sig", "missing")
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	return env, nil
}

// decodeStrict decodes b into v with encoding/json, unknown fields and
// trailing data disallowed.
func decodeStrict(b []byte, v any, what string) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonErr(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return entryErr(ErrMalformed, "", "trailing data after the %s", what)
	}
	return nil
}

// jsonErr classifies an encoding/json error the way the decoders report
// theirs.
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
