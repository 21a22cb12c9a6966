package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/crossledger/crossledger/schema"
)

// This file holds the encodings both implementations share: record keys,
// order keys for range filters, and list cursors.

// EncodeKey returns the stored form of a record key: the JSON array of the
// key's canonical values. It is unambiguous and decodes with [DecodeKey];
// records are listed in the byte order of this form.
func EncodeKey(key []string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(key); err != nil {
		// Encoding a []string cannot fail.
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// DecodeKey decodes the stored form of a record key.
func DecodeKey(s string) ([]string, error) {
	var key []string
	if err := json.Unmarshal([]byte(s), &key); err != nil {
		return nil, fmt.Errorf("couldn't decode record key %q: %w", s, err)
	}
	return key, nil
}

// EncodeCursor and DecodeCursor turn the last listed key into an opaque
// page cursor and back.
func EncodeCursor(storedKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(storedKey))
}

// DecodeCursor decodes a cursor made by [EncodeCursor].
func DecodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", invalidf("couldn't decode cursor %q: %v", cursor, err)
	}
	return string(b), nil
}

// OrderKey returns a string whose byte order is the order of the field
// type, for range filters: fixed-width hex of the sign-flipped value for
// int, a sign/exponent/mantissa form for decimal, and the canonical text
// itself for every other type (dates and datetimes are fixed-width, so their
// text order is their time order). text must be canonical.
func OrderKey(t schema.FieldType, text string) (string, error) {
	switch t {
	case schema.TypeInt:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return "", fmt.Errorf("not an int: %q", text)
		}
		return fmt.Sprintf("%016x", uint64(n)^(1<<63)), nil
	case schema.TypeDecimal:
		return decimalOrderKey(text)
	default:
		return text, nil
	}
}

// NeedsOrderKey reports whether [OrderKey] differs from the canonical text
// for t, so that stores keep a separate order key only where needed.
func NeedsOrderKey(t schema.FieldType) bool {
	return t == schema.TypeInt || t == schema.TypeDecimal
}

// decimalOrderKey encodes a canonical decimal so that byte order is numeric
// order:
//
//	zero      "1"
//	positive  "2" + E + digits            E = 5-digit 50000+exponent
//	negative  "0" + E' + 9s-complement + "~"   E' = 5-digit 50000-exponent
//
// where the value is 0.digits × 10^exponent with digits free of leading and
// trailing zeros. The "~" terminator sorts above every complemented digit,
// so a shorter negative mantissa (a larger number) sorts higher.
func decimalOrderKey(text string) (string, error) {
	if !isCanonicalDecimal(text) {
		return "", fmt.Errorf("not a canonical decimal: %q", text)
	}
	neg := strings.HasPrefix(text, "-")
	s := strings.TrimPrefix(text, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	digits := intPart + frac
	exp := len(intPart)
	if intPart == "" {
		trimmed := strings.TrimLeft(frac, "0")
		exp = -(len(frac) - len(trimmed))
		digits = trimmed
	}
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "1", nil
	}
	if exp > 40000 || exp < -40000 {
		return "", fmt.Errorf("decimal out of range: %q", text)
	}
	if !neg {
		return fmt.Sprintf("2%05d%s", 50000+exp, digits), nil
	}
	c := []byte(digits)
	for i := range c {
		c[i] = '9' - c[i] + '0'
	}
	return fmt.Sprintf("0%05d%s~", 50000-exp, c), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isCanonicalDecimal: -?digits[.digits], no leading zeros in the integer
// part (except a lone 0), no trailing zeros in the fraction, no "-0".
func isCanonicalDecimal(s string) bool {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(body, ".")
	if !isDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') {
		return false
	}
	if hasFrac && (!isDigits(frac) || strings.HasSuffix(frac, "0")) {
		return false
	}
	if neg && intPart == "0" && !hasFrac {
		return false
	}
	return true
}

// checkText reports why text is not in the canonical form of t, or nil.
// It checks the shape the store relies on (parsing, ordering, width); check
// digits and enum membership are the schema's business.
func checkText(t schema.FieldType, text string) error {
	if t == schema.TypeEnum {
		// The store does not know the enum's values (schema/ checked them
		// before the change was signed); it needs only a non-empty token.
		if text == "" {
			return fmt.Errorf("empty enum value")
		}
		return nil
	}
	// One definition of each type's canonical form: schema's.
	canon, err := schema.Field{Name: "value", Type: t}.Canonical(text)
	if err != nil {
		return err
	}
	if canon != text {
		return fmt.Errorf("%q is not in canonical form (%q)", text, canon)
	}
	return nil
}
