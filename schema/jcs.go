package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file implements RFC 8785 (JSON Canonicalization Scheme) in general,
// for arbitrary JSON, with encoding/json. The wire forms have their own
// table-driven encoder (encode.go) and reader (wire.go), which the tests
// hold to this one.

// CanonicalJSON returns the RFC 8785 canonical form of the JSON text data:
// object members sorted by their UTF-16 code units, no insignificant
// whitespace, strings with the minimal escaping, numbers in the ECMAScript
// shortest form. It rejects invalid UTF-8, duplicate object keys and
// numbers outside the IEEE 754 double range, with errors matching
// [ErrMalformed].
func CanonicalJSON(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var out []byte
	out, err := canonValue(d, out, "")
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, entryErr(ErrMalformed, "", "trailing data after JSON value")
	}
	return out, nil
}

func canonValue(d *json.Decoder, out []byte, path string) ([]byte, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, entryErr(ErrMalformed, path, "couldn't parse JSON: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			type member struct {
				key string
				val []byte
			}
			var ms []member
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, entryErr(ErrMalformed, path, "couldn't parse JSON: %v", err)
				}
				k := kt.(string)
				for _, m := range ms {
					if m.key == k {
						return nil, entryErr(ErrMalformed, joinPath(path, k), "duplicate key")
					}
				}
				v, err := canonValue(d, nil, joinPath(path, k))
				if err != nil {
					return nil, err
				}
				ms = append(ms, member{k, v})
			}
			if _, err := d.Token(); err != nil {
				return nil, entryErr(ErrMalformed, path, "couldn't parse JSON: %v", err)
			}
			slices.SortFunc(ms, func(a, b member) int { return compareUTF16(a.key, b.key) })
			out = append(out, '{')
			for i, m := range ms {
				if i > 0 {
					out = append(out, ',')
				}
				out = appendJSONString(out, m.key)
				out = append(out, ':')
				out = append(out, m.val...)
			}
			return append(out, '}'), nil
		case '[':
			out = append(out, '[')
			for i := 0; d.More(); i++ {
				if i > 0 {
					out = append(out, ',')
				}
				out, err = canonValue(d, out, path+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
			}
			if _, err := d.Token(); err != nil {
				return nil, entryErr(ErrMalformed, path, "couldn't parse JSON: %v", err)
			}
			return append(out, ']'), nil
		}
	case string:
		return appendJSONString(out, t), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, entryErr(ErrMalformed, path, "number %s out of range", t)
		}
		return appendES6Number(out, f)
	case bool:
		return strconv.AppendBool(out, t), nil
	case nil:
		return append(out, "null"...), nil
	}
	return nil, entryErr(ErrMalformed, path, "unexpected JSON token")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785
// requires. That is the byte order of their UTF-8 encodings but where a
// supplementary-plane character (a surrogate pair in UTF-16) meets one in
// U+E000 to U+FFFF.
func compareUTF16(a, b string) int {
	i, n := 0, min(len(a), len(b))
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	if a[i] < utf8.RuneSelf && b[i] < utf8.RuneSelf {
		return int(a[i]) - int(b[i])
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
	if (ra >= 0x10000) == (rb >= 0x10000) {
		return int(ra) - int(rb)
	}
	return cmpUnit(ra) - cmpUnit(rb)
}

// cmpUnit returns the first UTF-16 code unit of r.
func cmpUnit(r rune) int {
	if r >= 0x10000 {
		hi, _ := utf16.EncodeRune(r)
		return int(hi)
	}
	return int(r)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as an RFC 8785 JSON string: only '"', '\\'
// and control characters are escaped, using the short forms where JSON
// has them. s must be valid UTF-8.
func appendJSONString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

var errNonFinite = errors.New("non-finite number")

// appendES6Number appends f the way ECMAScript's Number.prototype.toString
// does (RFC 8785 section 3.2.2.3).
func appendES6Number(out []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("couldn't encode number: %w", errNonFinite)
	}
	if f == 0 {
		return append(out, '0'), nil
	}
	if f < 0 {
		out = append(out, '-')
		f = -f
	}
	// Shortest round-trip digits and exponent: d.ddddde±x.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp, _ := bytes.Cut(e, []byte("e"))
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	x, _ := strconv.Atoi(string(exp))
	k := len(digits)
	n := x + 1 // position of the decimal point relative to the digits
	switch {
	case k <= n && n <= 21:
		out = append(out, digits...)
		for i := 0; i < n-k; i++ {
			out = append(out, '0')
		}
	case 0 < n && n <= 21:
		out = append(out, digits[:n]...)
		out = append(out, '.')
		out = append(out, digits[n:]...)
	case -6 < n && n <= 0:
		out = append(out, '0', '.')
		for i := 0; i < -n; i++ {
			out = append(out, '0')
		}
		out = append(out, digits...)
	default:
		out = append(out, digits[0])
		if k > 1 {
			out = append(out, '.')
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if n-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, int64(n-1), 10)
	}
	return out, nil
}
