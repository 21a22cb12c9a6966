package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a response: GraphQL responses are
// shallow (the gateway limits query depth), and the bound keeps the
// recursive parser off the stack limit whatever the input.
const maxDepth = 256

type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// value is one parsed JSON value. Objects keep their members in input
// order, so failures come out in the order the response lists things.
type value struct {
	kind  kind
	str   string // kString: the string; kNumber: the number's text
	b     bool
	elems []*value
	keys  []string
	vals  []*value
}

func (v *value) get(key string) (*value, bool) {
	if v == nil || v.kind != kObject {
		return nil, false
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i], true
		}
	}
	return nil, false
}

// parse reads exactly one JSON value from data, rejecting duplicate
// object keys (which different JSON parsers resolve differently, so a
// response holding them means different things to different readers),
// invalid UTF-8, trailing data and nesting deeper than maxDepth.
func parse(data []byte) (*value, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := parseValue(d, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func parseValue(d *json.Decoder, path string, depth int) (*value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels at %s", maxDepth, orRoot(path))
	}
	t, err := d.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("truncated JSON")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	switch t := t.(type) {
	case nil:
		return &value{kind: kNull}, nil
	case bool:
		return &value{kind: kBool, b: t}, nil
	case json.Number:
		return &value{kind: kNumber, str: string(t)}, nil
	case string:
		return &value{kind: kString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: kArray}
			for d.More() {
				e, err := parseValue(d, index(path, len(v.elems)), depth+1)
				if err != nil {
					return nil, err
				}
				v.elems = append(v.elems, e)
			}
			if _, err := d.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			return v, nil
		case '{':
			v := &value{kind: kObject}
			seen := map[string]bool{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %v", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("invalid JSON: object key is not a string at %s", orRoot(path))
				}
				if seen[k] {
					return nil, fmt.Errorf("duplicate key %q at %s: parsers disagree on what it means", k, orRoot(path))
				}
				seen[k] = true
				e, err := parseValue(d, member(path, k), depth+1)
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k)
				v.vals = append(v.vals, e)
			}
			if _, err := d.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %v", err)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("invalid JSON at %s", orRoot(path))
}

// member returns the path of key in the object at path: data.person for
// GraphQL names (and aliases), data["odd key"] otherwise.
func member(path, key string) string {
	if !isName(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func orRoot(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// isName reports whether s is a GraphQL name: [_A-Za-z][_0-9A-Za-z]*.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
