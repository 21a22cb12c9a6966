package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxInt is the largest magnitude of an int field: 2^53-1, exact in JSON.
const maxInt = 1<<53 - 1

// maxDecimalDigits bounds decimal fields: enough for money and areas,
// small enough to keep values short.
const maxDecimalDigits = 38

// Canonical validates value against f's type and returns its canonical text
// form, the form that is committed to, stored and compared.
//
// # Normalization
//
//   - string: any valid UTF-8 without NUL, unchanged;
//   - int: -?(0|[1-9][0-9]*) within ±(2^53-1); a leading '+' is dropped;
//   - decimal: -?digits[.digits]; leading zeros of the integer part and
//     trailing zeros of the fraction are dropped, "-0" becomes "0";
//   - date: YYYY-MM-DD, a real calendar date;
//   - datetime: RFC 3339 with any offset, second precision; converted to
//     UTC and written YYYY-MM-DDThh:mm:ssZ;
//   - bool: true | false;
//   - enum: one of f.Values, exactly;
//   - citizen_id: see [CanonicalCitizenID] (a lowercase check x becomes X);
//   - credit_code: see [CanonicalCreditCode] (letters are upper-cased).
//
// Errors are [*FieldError]s naming f and matching [ErrValue].
func (f Field) Canonical(value string) (string, error) {
	c, reason := canonicalValue(f, value)
	if reason != "" {
		return "", &FieldError{Field: f.Name, Reason: reason, Value: true}
	}
	return c, nil
}

func canonicalValue(f Field, v string) (string, string) {
	switch f.Type {
	case TypeString:
		if !utf8.ValidString(v) {
			return "", "invalid UTF-8"
		}
		if strings.IndexByte(v, 0) >= 0 {
			return "", "contains NUL"
		}
		return v, ""
	case TypeInt:
		s := strings.TrimPrefix(v, "+")
		if s == "" || !isIntSyntax(s) {
			return "", fmt.Sprintf("%q is not an integer", v)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxInt || n < -maxInt {
			return "", fmt.Sprintf("%q is outside ±(2^53-1)", v)
		}
		return strconv.FormatInt(n, 10), ""
	case TypeDecimal:
		return canonicalDecimal(v)
	case TypeDate:
		t, err := time.Parse("2006-01-02", v)
		if err != nil || t.Format("2006-01-02") != v {
			return "", fmt.Sprintf("%q is not a date YYYY-MM-DD", v)
		}
		return v, ""
	case TypeDateTime:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil || t.Nanosecond() != 0 || strings.ContainsRune(v, '.') {
			return "", fmt.Sprintf("%q is not an RFC 3339 time with second precision", v)
		}
		return t.UTC().Format(timeLayout), ""
	case TypeBool:
		if v != "true" && v != "false" {
			return "", fmt.Sprintf("%q is not true or false", v)
		}
		return v, ""
	case TypeEnum:
		if !slices.Contains(f.Values, v) {
			return "", fmt.Sprintf("%q is not one of %s", v, strings.Join(f.Values, ", "))
		}
		return v, ""
	case TypeCitizenID:
		c, err := CanonicalCitizenID(v)
		if err != nil {
			return "", err.Error()
		}
		return c, ""
	case TypeCreditCode:
		c, err := CanonicalCreditCode(v)
		if err != nil {
			return "", err.Error()
		}
		return c, ""
	}
	return "", fmt.Sprintf("unknown field type %q", f.Type)
}

func isIntSyntax(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func canonicalDecimal(v string) (string, string) {
	bad := fmt.Sprintf("%q is not a decimal number -?digits[.digits]", v)
	s, neg := strings.CutPrefix(v, "-")
	ip, fp, hasDot := strings.Cut(s, ".")
	if ip == "" || hasDot && fp == "" || !allDigits(ip) || !allDigits(fp) {
		return "", bad
	}
	ip = strings.TrimLeft(ip, "0")
	fp = strings.TrimRight(fp, "0")
	if len(ip)+len(fp) > maxDecimalDigits {
		return "", fmt.Sprintf("%q has more than %d significant digits", v, maxDecimalDigits)
	}
	if ip == "" {
		ip = "0"
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out, ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// JSONValue returns the JSON value a disclosure carries for the canonical
// value canon: an int64 for int fields, a bool for bool fields, and the
// string itself for every other type.
func (f Field) JSONValue(canon string) (any, error) {
	switch f.Type {
	case TypeInt:
		n, err := strconv.ParseInt(canon, 10, 64)
		if err != nil {
			return nil, &FieldError{Field: f.Name, Reason: fmt.Sprintf("%q is not a canonical int", canon), Value: true}
		}
		return n, nil
	case TypeBool:
		switch canon {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, &FieldError{Field: f.Name, Reason: fmt.Sprintf("%q is not a canonical bool", canon), Value: true}
	}
	return canon, nil
}

// ParseJSON is the inverse of [Field.JSONValue]: it takes a value as a
// disclosure or a JSON decoder produced it (int64, float64, json.Number,
// bool or string) and returns the canonical text form, validated.
func (f Field) ParseJSON(v any) (string, error) {
	bad := func(reason string) error { return &FieldError{Field: f.Name, Reason: reason, Value: true} }
	var text string
	switch x := v.(type) {
	case string:
		if f.Type == TypeInt || f.Type == TypeBool {
			return "", bad(fmt.Sprintf("JSON string where %s expected", f.Type))
		}
		text = x
	case bool:
		if f.Type != TypeBool {
			return "", bad(fmt.Sprintf("JSON bool where %s expected", f.Type))
		}
		text = strconv.FormatBool(x)
	case int64:
		if f.Type != TypeInt {
			return "", bad(fmt.Sprintf("JSON number where %s expected", f.Type))
		}
		text = strconv.FormatInt(x, 10)
	case float64:
		if f.Type != TypeInt || x != math.Trunc(x) || math.Abs(x) > maxInt {
			return "", bad(fmt.Sprintf("JSON number %v where %s expected", x, f.Type))
		}
		text = strconv.FormatInt(int64(x), 10)
	case json.Number:
		if f.Type != TypeInt {
			return "", bad(fmt.Sprintf("JSON number where %s expected", f.Type))
		}
		text = string(x)
		if !isIntSyntax(text) {
			return "", bad(fmt.Sprintf("JSON number %s is not an integer", x))
		}
	default:
		return "", bad(fmt.Sprintf("unsupported JSON value %T", v))
	}
	c, err := f.Canonical(text)
	if err != nil {
		return "", err
	}
	if c != text {
		return "", bad(fmt.Sprintf("%q is not in canonical form", text))
	}
	return c, nil
}

// fieldErr names rt in the [*FieldError] of one of its fields.
func (rt *RecordType) fieldErr(err error) error {
	fe := err.(*FieldError)
	fe.Type = rt.Name
	return fe
}

// Field looks up a field by name.
func (rt *RecordType) Field(name string) (Field, bool) {
	for _, f := range rt.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Validate checks a record's values against rt: every required field is
// present and non-empty, no unknown field, every value valid for its type.
// The first problem is returned as a [*FieldError] naming the field. An
// empty value of an optional field counts as absent.
func (rt *RecordType) Validate(values map[string]string) error {
	_, err := rt.CanonicalValues(values)
	return err
}

// CanonicalValues validates values like [RecordType.Validate] and returns
// them in canonical form, without absent (empty optional) fields.
func (rt *RecordType) CanonicalValues(values map[string]string) (map[string]string, error) {
	for name := range values {
		if _, ok := rt.Field(name); !ok {
			return nil, &FieldError{Type: rt.Name, Field: name, Reason: "unknown field"}
		}
	}
	out := make(map[string]string, len(values))
	for _, f := range rt.Fields {
		v, ok := values[f.Name]
		if !ok || v == "" && f.Type != TypeString || v == "" && !f.Required {
			if f.Required {
				return nil, &FieldError{Type: rt.Name, Field: f.Name, Reason: "required field missing"}
			}
			continue
		}
		c, err := f.Canonical(v)
		if err != nil {
			return nil, rt.fieldErr(err)
		}
		out[f.Name] = c
	}
	return out, nil
}
