package schema

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Member tables: the shape of every JSON object on the wire, written once.
// The reader (wire.go) reads each object against its table and the
// encoder (encode.go) writes from it, so the two cannot disagree on a key,
// on the order of the members (a table lists them in canonical order,
// which TestMemberTables checks together with the JSON tags of the Go
// types) or on which members the canonical form omits.

// A member is one member of the JSON objects of kind T.
type member[T any] struct {
	key   string
	omit  bool // omitted when zero, so an explicit zero is not canonical (omitempty)
	must  bool // has no zero value: missing or null is malformed
	read  func(r *reader, v *T)
	write func(e *encoder, v *T)
	zero  func(v *T) bool
}

const (
	always  = false // the canonical form always writes the member
	omitted = true  // the canonical form omits it when zero
)

// text is a string member (of any string type).
func text[T any, S ~string](key string, omit bool, p func(*T) *S) member[T] {
	return member[T]{key: key, omit: omit,
		read:  func(r *reader, v *T) { *p(v) = S(r.text()) },
		write: func(e *encoder, v *T) { e.string(string(*p(v))) },
		zero:  func(v *T) bool { return *p(v) == "" },
	}
}

// texts is a list of strings. An [always] list that is nil is written [].
func texts[T any](key string, omit bool, p func(*T) *[]string) member[T] {
	return member[T]{key: key, omit: omit,
		read:  func(r *reader, v *T) { *p(v) = r.texts() },
		write: func(e *encoder, v *T) { e.strings(*p(v)) },
		zero:  func(v *T) bool { return len(*p(v)) == 0 },
	}
}

// number is an integer member: within the range of N, so exact in every
// JSON implementation as long as the validation keeps it below 2^53.
func number[T any, N ~int | ~uint32 | ~uint64](key string, omit bool, p func(*T) *N) member[T] {
	var zero N
	signed := zero-1 < 0
	max := uint64(^N(0))
	if signed {
		max = math.MaxInt
	}
	return member[T]{key: key, omit: omit,
		read: func(r *reader, v *T) {
			n, neg := r.integer(signed, max)
			if neg {
				*p(v) = -N(n-1) - 1 // math.MinInt has no positive counterpart
			} else {
				*p(v) = N(n)
			}
		},
		write: func(e *encoder, v *T) {
			if signed {
				e.buf = strconv.AppendInt(e.buf, int64(*p(v)), 10)
			} else {
				e.buf = strconv.AppendUint(e.buf, uint64(*p(v)), 10)
			}
		},
		zero: func(v *T) bool { return *p(v) == 0 },
	}
}

// boolean is a bool member, omitted when false.
func boolean[T any](key string, p func(*T) *bool) member[T] {
	return member[T]{key: key, omit: omitted,
		read:  func(r *reader, v *T) { *p(v) = r.boolean() },
		write: func(e *encoder, v *T) { e.buf = append(e.buf, "true"...) },
		zero:  func(v *T) bool { return !*p(v) },
	}
}

// body is an optional object member held by pointer: an envelope body.
func body[T, U any](key string, p func(*T) **U, ms []member[U]) member[T] {
	return member[T]{key: key, omit: omitted,
		read: func(r *reader, v *T) {
			u := new(U)
			readObject(r, u, ms)
			*p(v) = u
		},
		write: func(e *encoder, v *T) { writeObject(e, *p(v), ms) },
		zero:  func(v *T) bool { return *p(v) == nil },
	}
}

// nested is an object member held by value.
func nested[T, U any](key string, p func(*T) *U, ms []member[U]) member[T] {
	return member[T]{key: key,
		read:  func(r *reader, v *T) { readObject(r, p(v), ms) },
		write: func(e *encoder, v *T) { writeObject(e, p(v), ms) },
		zero:  func(v *T) bool { return false },
	}
}

// list is a list of objects. An [always] list that is nil is written [].
func list[T, U any](key string, omit bool, p func(*T) *[]U, ms []member[U]) member[T] {
	return member[T]{key: key, omit: omit,
		read: func(r *reader, v *T) {
			if !r.open('[', "array") {
				return
			}
			out := []U{}
			for n := 0; r.next(']', n); n++ {
				out = append(out, *new(U))
				if !r.null() {
					r.push("", n)
					readObject(r, &out[n], ms)
					r.pop()
				}
			}
			*p(v) = out
		},
		write: func(e *encoder, v *T) {
			e.buf = append(e.buf, '[')
			for i := range *p(v) {
				if i > 0 {
					e.buf = append(e.buf, ',')
				}
				writeObject(e, &(*p(v))[i], ms)
			}
			e.buf = append(e.buf, ']')
		},
		zero: func(v *T) bool { return len(*p(v)) == 0 },
	}
}

// textMap is an object with free keys and string values.
func textMap[T any](key string, omit bool, p func(*T) *map[string]string) member[T] {
	return member[T]{key: key, omit: omit,
		read: func(r *reader, v *T) {
			if !r.open('{', "object") {
				return
			}
			m := make(map[string]string)
			o := r.keyOrder()
			for n := 0; r.next('}', n); n++ {
				at := r.i
				k := r.key()
				if !o.add(r, at, k) {
					return
				}
				r.push(k, 0)
				if r.null() {
					m[k] = ""
				} else {
					m[k] = r.text()
				}
				r.pop()
			}
			o.done(r)
			*p(v) = m
		},
		write: func(e *encoder, v *T) {
			m := *p(v)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, compareUTF16)
			e.buf = append(e.buf, '{')
			for i, k := range keys {
				if !utf8.ValidString(k) || !utf8.ValidString(m[k]) {
					e.fail(e.last + "." + k)
				}
				if i > 0 {
					e.buf = append(e.buf, ',')
				}
				e.buf = appendJSONString(e.buf, k)
				e.buf = append(e.buf, ':')
				e.buf = appendJSONString(e.buf, m[k])
			}
			e.buf = append(e.buf, '}')
		},
		zero: func(v *T) bool { return len(*p(v)) == 0 },
	}
}

// canonicalObject is a member that holds canonical JSON verbatim: the
// envelope inside a message. It has no zero value. The value read is a
// slice of the reader's input, which must be the reader's own copy (see
// [readWire]); its capacity ends with it, so that appending to it cannot
// reach the bytes of the other members, which strings of the message alias.
func canonicalObject[T any](key string, p func(*T) *json.RawMessage) member[T] {
	return member[T]{key: key, must: true,
		read: func(r *reader, v *T) {
			start := r.i
			if r.peek() != '{' {
				r.typeErr("object")
				return
			}
			if r.anyValue(1); r.err == nil { // nested in the message
				*p(v) = r.b[start:r.i:r.i]
			}
		},
		write: func(e *encoder, v *T) {
			raw := *p(v)
			r := newReader(raw, "", key)
			r.root = key
			if !utf8.Valid(raw) {
				r.malformed("invalid UTF-8")
			} else if len(raw) == 0 || raw[0] != '{' {
				r.malformed("not a JSON object")
			}
			readAny(r)
			if err := r.result(); err != nil {
				e.err = err
			}
			e.buf = append(e.buf, raw...)
		},
		zero: func(v *T) bool { return len(*p(v)) == 0 },
	}
}

// readAny reads the whole input as one free-form canonical JSON value,
// to be nested in a message.
func readAny(r *reader) {
	r.anyValue(1)
	r.end()
}

// The envelope and its bodies.

var envelopeMembers = []member[Envelope]{
	body("access", func(e *Envelope) **Access { return &e.Access }, accessMembers),
	body("change", func(e *Envelope) **RecordChange { return &e.Change }, changeMembers),
	text("department", always, func(e *Envelope) *string { return &e.Department }),
	body("grant", func(e *Envelope) **Grant { return &e.Grant }, grantMembers),
	body("key", func(e *Envelope) **DepartmentKey { return &e.Key }, departmentKeyMembers),
	text("key_id", always, func(e *Envelope) *string { return &e.KeyID }),
	text("kind", always, func(e *Envelope) *Kind { return &e.Kind }),
	body("revoke", func(e *Envelope) **Revoke { return &e.Revoke }, revokeMembers),
	body("schema", func(e *Envelope) **SchemaChange { return &e.Schema }, schemaChangeMembers),
	number("seq", always, func(e *Envelope) *uint64 { return &e.Seq }),
	text("sig", omitted, func(e *Envelope) *string { return &e.Sig }),
	text("time", always, func(e *Envelope) *string { return &e.Time }),
	number("v", always, func(e *Envelope) *int { return &e.V }),
}

var changeMembers = []member[RecordChange]{
	textMap("digests", omitted, func(c *RecordChange) *map[string]string { return &c.Digests }),
	text("op", always, func(c *RecordChange) *Op { return &c.Op }),
	text("record", always, func(c *RecordChange) *string { return &c.Record }),
	number("schema_version", always, func(c *RecordChange) *uint32 { return &c.SchemaVersion }),
	text("type", always, func(c *RecordChange) *string { return &c.Type }),
}

var grantMembers = []member[Grant]{
	text("condition", omitted, func(g *Grant) *string { return &g.Condition }),
	text("consumer", always, func(g *Grant) *string { return &g.Consumer }),
	text("expires", omitted, func(g *Grant) *string { return &g.Expires }),
	texts("fields", always, func(g *Grant) *[]string { return &g.Fields }),
	text("purpose", always, func(g *Grant) *string { return &g.Purpose }),
	text("type", always, func(g *Grant) *string { return &g.Type }),
}

var revokeMembers = []member[Revoke]{
	text("consumer", always, func(v *Revoke) *string { return &v.Consumer }),
	texts("fields", omitted, func(v *Revoke) *[]string { return &v.Fields }),
	text("purpose", always, func(v *Revoke) *string { return &v.Purpose }),
	text("type", always, func(v *Revoke) *string { return &v.Type }),
}

var accessMembers = []member[Access]{
	text("case_ref", omitted, func(a *Access) *string { return &a.CaseRef }),
	text("consumer", always, func(a *Access) *string { return &a.Consumer }),
	list("denied", omitted, func(a *Access) *[]AccessDenial { return &a.Denied }, accessDenialMembers),
	list("disclosed", omitted, func(a *Access) *[]AccessItem { return &a.Disclosed }, accessItemMembers),
	text("purpose", always, func(a *Access) *string { return &a.Purpose }),
	text("query", omitted, func(a *Access) *string { return &a.Query }),
	texts("subjects", omitted, func(a *Access) *[]string { return &a.Subjects }),
	text("user", always, func(a *Access) *string { return &a.User }),
}

var accessDenialMembers = []member[AccessDenial]{
	text("department", always, func(d *AccessDenial) *string { return &d.Department }),
	texts("fields", omitted, func(d *AccessDenial) *[]string { return &d.Fields }),
	number("leaf", omitted, func(d *AccessDenial) *uint64 { return &d.Leaf }),
	text("reason", always, func(d *AccessDenial) *string { return &d.Reason }),
	text("type", omitted, func(d *AccessDenial) *string { return &d.Type }),
}

var accessItemMembers = []member[AccessItem]{
	texts("fields", always, func(it *AccessItem) *[]string { return &it.Fields }),
	number("leaf", always, func(it *AccessItem) *uint64 { return &it.Leaf }),
}

var departmentKeyMembers = []member[DepartmentKey]{
	text("action", always, func(k *DepartmentKey) *KeyAction { return &k.Action }),
	text("department", always, func(k *DepartmentKey) *string { return &k.Department }),
	text("key_id", always, func(k *DepartmentKey) *string { return &k.KeyID }),
	text("public_key", omitted, func(k *DepartmentKey) *string { return &k.PublicKey }),
}

var schemaChangeMembers = []member[SchemaChange]{
	nested("record_type", func(s *SchemaChange) *RecordType { return &s.RecordType }, recordTypeMembers),
}

var recordTypeMembers = []member[RecordType]{
	text("description", omitted, func(rt *RecordType) *string { return &rt.Description }),
	list("fields", always, func(rt *RecordType) *[]Field { return &rt.Fields }, fieldMembers),
	texts("key", always, func(rt *RecordType) *[]string { return &rt.Key }),
	text("name", always, func(rt *RecordType) *string { return &rt.Name }),
	number("version", always, func(rt *RecordType) *uint32 { return &rt.Version }),
}

var fieldMembers = []member[Field]{
	text("description", omitted, func(f *Field) *string { return &f.Description }),
	text("name", always, func(f *Field) *string { return &f.Name }),
	boolean("pii", func(f *Field) *bool { return &f.PII }),
	boolean("required", func(f *Field) *bool { return &f.Required }),
	boolean("subject", func(f *Field) *bool { return &f.Subject }),
	text("type", always, func(f *Field) *FieldType { return &f.Type }),
	texts("values", omitted, func(f *Field) *[]string { return &f.Values }),
}

// The Kafka message and the receipt.

var messageMembers = []member[Message]{
	texts("disclosures", omitted, func(m *Message) *[]string { return &m.Disclosures }),
	canonicalObject("envelope", func(m *Message) *json.RawMessage { return &m.Envelope }),
}

var receiptMembers = []member[Receipt]{
	text("department", always, func(r *Receipt) *string { return &r.Department }),
	text("detail", omitted, func(r *Receipt) *string { return &r.Detail }),
	text("envelope_digest", omitted, func(r *Receipt) *string { return &r.EnvelopeDigest }),
	number("leaf", always, func(r *Receipt) *uint64 { return &r.Leaf }),
	text("proof", omitted, func(r *Receipt) *string { return &r.Proof }),
	text("reason", omitted, func(r *Receipt) *string { return &r.Reason }),
	number("seq", omitted, func(r *Receipt) *uint64 { return &r.Seq }),
	text("status", always, func(r *Receipt) *ReceiptStatus { return &r.Status }),
}
