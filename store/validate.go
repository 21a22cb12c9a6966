package store

import (
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/crossledger/crossledger/schema"
)

// maxSafeInt is the largest seq a department may use (2^53-1).
const maxSafeInt = 1<<53 - 1

// idPattern is what department ids, record type and field names must look
// like for the store to use them in database names and queries.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,62}$`)

// ValidDepartment reports whether id is a department id the store accepts.
func ValidDepartment(id string) bool { return idPattern.MatchString(id) }

// Validate checks a whole batch before anything is written and returns a
// [*BatchError] for the first malformed entry. Implementations call it at
// the start of Write.
func Validate(batch []Entry) error {
	seen := make(map[uint64]int, len(batch))
	for i := range batch {
		e := &batch[i]
		fail := func(field, format string, args ...any) error {
			return &BatchError{Row: i, Leaf: e.Leaf, Field: field, Reason: fmt.Sprintf(format, args...)}
		}
		if j, dup := seen[e.Leaf]; dup {
			return fail("leaf", "leaf %d also at row %d", e.Leaf, j)
		}
		seen[e.Leaf] = i
		if e.Leaf >= 1<<62 {
			return fail("leaf", "leaf %d out of range", e.Leaf)
		}
		if !ValidDepartment(e.Department) {
			return fail("department", "%q is not a department id ([a-z][a-z0-9_.-]{0,62})", e.Department)
		}
		if e.Seq == 0 || e.Seq > maxSafeInt {
			return fail("seq", "%d not in [1, 2^53-1]", e.Seq)
		}
		if e.Digest == "" {
			return fail("digest", "empty")
		}
		if e.Time.IsZero() || e.Time.Year() < 1970 || e.Time.Year() > 2105 {
			return fail("time", "%v outside 1970..2105", e.Time)
		}
		bodies := 0
		for _, set := range []bool{e.Change != nil, e.Grant != nil, e.Revoke != nil, e.Access != nil} {
			if set {
				bodies++
			}
		}
		var ok bool
		switch e.Kind {
		case schema.KindRecordChange:
			ok = e.Change != nil
		case schema.KindGrant:
			ok = e.Grant != nil
		case schema.KindRevoke:
			ok = e.Revoke != nil
		case schema.KindAccess:
			ok = e.Access != nil
		case schema.KindDepartmentKey, schema.KindSchema:
			ok = bodies == 0
		default:
			return fail("kind", "unknown kind %q", e.Kind)
		}
		if !ok || bodies > 1 {
			return fail("kind", "kind %q does not match the body set on the entry", e.Kind)
		}
		var err error
		switch {
		case e.Change != nil:
			err = validateChange(e.Change, fail)
		case e.Grant != nil:
			g := e.Grant
			err = validateGrantish(g.Consumer, g.Purpose, g.Type, g.Fields, "grant", fail)
			if err == nil && g.Expires != "" {
				if _, perr := time.Parse(time.RFC3339, g.Expires); perr != nil {
					err = fail("grant.expires", "not RFC 3339: %q", g.Expires)
				}
			}
		case e.Revoke != nil:
			r := e.Revoke
			err = validateGrantish(r.Consumer, r.Purpose, r.Type, r.Fields, "revoke", fail)
		case e.Access != nil:
			a := e.Access
			switch {
			case a.Consumer == "":
				err = fail("access.consumer", "empty")
			case a.Purpose == "":
				err = fail("access.purpose", "empty")
			}
			for j, s := range a.Subjects {
				if err == nil && s == "" {
					err = fail(fmt.Sprintf("access.subjects[%d]", j), "empty subject tag")
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func validateChange(c *Change, fail func(field, format string, args ...any) error) error {
	if !idPattern.MatchString(c.Type) {
		return fail("change.type", "%q is not a record type name", c.Type)
	}
	if c.Record == "" {
		return fail("change.record", "empty record reference")
	}
	if len(c.Key) == 0 {
		return fail("change.key", "empty key")
	}
	for j, k := range c.Key {
		if k == "" || !utf8.ValidString(k) {
			return fail(fmt.Sprintf("change.key[%d]", j), "empty or not UTF-8: %q", k)
		}
	}
	switch c.Op {
	case schema.OpUpsert:
		if len(c.Values) == 0 {
			return fail("change.values", "an upsert has no values")
		}
	case schema.OpDelete:
		if len(c.Values) != 0 {
			return fail("change.values", "a delete carries %d values", len(c.Values))
		}
	default:
		return fail("change.op", "unknown op %q", c.Op)
	}
	names := make(map[string]bool, len(c.Values))
	for j, v := range c.Values {
		// The field label is built only on failure: this loop is hot.
		field := func() string { return fmt.Sprintf("change.values[%d] %q", j, v.Name) }
		if v.Name == "" || !utf8.ValidString(v.Name) {
			return fail(field(), "bad field name")
		}
		if names[v.Name] {
			return fail(field(), "duplicate field")
		}
		names[v.Name] = true
		if !utf8.ValidString(v.Text) {
			return fail(field(), "value is not UTF-8")
		}
		if err := checkText(v.Type, v.Text); err != nil {
			return fail(field(), "%v", err)
		}
		if !base64url(v.Disclosure) {
			return fail(field(), "disclosure is not unpadded base64url")
		}
	}
	for j, s := range c.Subjects {
		if s == "" {
			return fail(fmt.Sprintf("change.subjects[%d]", j), "empty subject tag")
		}
	}
	return nil
}

func validateGrantish(consumer, purpose, typ string, fields []string, what string, fail func(field, format string, args ...any) error) error {
	switch {
	case !ValidDepartment(consumer):
		return fail(what+".consumer", "%q is not a department id", consumer)
	case purpose == "":
		return fail(what+".purpose", "empty")
	case typ == "":
		return fail(what+".type", "empty")
	}
	for j, f := range fields {
		if f == "" {
			return fail(fmt.Sprintf("%s.fields[%d]", what, j), "empty field name")
		}
	}
	if what == "grant" && len(fields) == 0 {
		return fail("grant.fields", "a grant names no fields")
	}
	return nil
}

// ValidateKey checks a record key given to a read or Erase.
func ValidateKey(department, recordType string, key []string) error {
	if !ValidDepartment(department) {
		return invalidf("department %q is not a department id", department)
	}
	if recordType == "" {
		return invalidf("empty record type")
	}
	if len(key) == 0 {
		return invalidf("empty key")
	}
	return nil
}

// ValidateListQuery checks q, fills in the default limit, and returns the
// decoded cursor (the stored key to list after, "" for the first page).
func ValidateListQuery(department, recordType string, q *ListQuery) (after string, err error) {
	if !ValidDepartment(department) {
		return "", invalidf("department %q is not a department id", department)
	}
	if recordType == "" {
		return "", invalidf("empty record type")
	}
	if q.Limit < 0 || q.Limit > MaxPageSize {
		return "", invalidf("limit %d not in [0, %d]", q.Limit, MaxPageSize)
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	for i, f := range q.Filters {
		if f.Field == "" {
			return "", invalidf("filter %d: empty field", i)
		}
		switch f.Op {
		case Equal, Prefix:
		case Range:
			if f.Min == "" && f.Max == "" {
				return "", invalidf("filter %d on %q: a range needs Min or Max", i, f.Field)
			}
			for _, b := range []string{f.Min, f.Max} {
				if b == "" {
					continue
				}
				if err := checkText(f.Type, b); err != nil {
					return "", invalidf("filter %d on %q: bound: %v", i, f.Field, err)
				}
			}
		default:
			return "", invalidf("filter %d on %q: unknown op %d", i, f.Field, f.Op)
		}
	}
	if q.After == "" {
		return "", nil
	}
	return DecodeCursor(q.After)
}

// ValidateAccessQuery checks q and fills in the default limit.
func ValidateAccessQuery(q *AccessQuery) error {
	if q.Limit < 0 || q.Limit > MaxPageSize {
		return invalidf("limit %d not in [0, %d]", q.Limit, MaxPageSize)
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	return nil
}

// ValidateSubjectQuery checks the arguments of a BySubject lookup.
func ValidateSubjectQuery(department, tag string) error {
	if !ValidDepartment(department) || tag == "" {
		return fmt.Errorf("%w: subject lookup needs a department and a tag", ErrInvalid)
	}
	return nil
}

// PageOf cuts rs, fetched with LIMIT limit+1 in key order, into a page of
// at most limit records and the cursor of the next page ("" when rs was
// the last page).
func PageOf(rs []Record, limit int) Page {
	var p Page
	if len(rs) > limit {
		rs = rs[:limit]
		p.Next = EncodeCursor(EncodeKey(rs[len(rs)-1].Key))
	}
	p.Records = rs
	return p
}

// base64url reports whether s uses only the unpadded base64url alphabet
// (the empty string does). It is the only check made on a disclosure: it
// keeps the stored form ASCII, so every backend round-trips it exactly.
func base64url(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
