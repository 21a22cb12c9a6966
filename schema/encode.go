package schema

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// The canonical encoder for envelopes: RFC 8785 output written directly,
// member by member in sorted key order, without reflection. Its output
// equals CanonicalJSON(encoding/json.Marshal(env)) for every envelope whose
// non-omitempty slices are non-nil (the tests hold it to that); a nil slice
// that the JSON tags do not omit is written as [] rather than null, so the
// canonical form never contains null.

// Canonical returns the RFC 8785 canonical encoding of env, signature
// included. These are the bytes that become the log entry.
func (env *Envelope) Canonical() ([]byte, error) {
	return env.appendCanonical(make([]byte, 0, 1024), true)
}

// SigningBytes returns the canonical encoding of env without its signature:
// the message that [Sign] signs and [Verify] checks.
func (env *Envelope) SigningBytes() ([]byte, error) {
	return env.appendCanonical(make([]byte, 0, 1024), false)
}

func (env *Envelope) appendCanonical(buf []byte, withSig bool) ([]byte, error) {
	e := encoder{buf: buf}
	e.open()
	if env.Access != nil {
		e.key("access")
		e.access(env.Access)
	}
	if env.Change != nil {
		e.key("change")
		e.change(env.Change)
	}
	e.str("department", env.Department)
	if env.Grant != nil {
		e.key("grant")
		e.grant(env.Grant)
	}
	if env.Key != nil {
		e.key("key")
		e.departmentKey(env.Key)
	}
	e.str("key_id", env.KeyID)
	e.str("kind", string(env.Kind))
	if env.Revoke != nil {
		e.key("revoke")
		e.revoke(env.Revoke)
	}
	if env.Schema != nil {
		e.key("schema")
		e.open()
		e.key("record_type")
		e.recordType(&env.Schema.RecordType)
		e.close()
	}
	e.uint("seq", env.Seq)
	if withSig && env.Sig != "" {
		e.str("sig", env.Sig)
	}
	e.str("time", env.Time)
	e.key("v")
	e.buf = strconv.AppendInt(e.buf, int64(env.V), 10)
	e.close()
	if e.bad != "" {
		return nil, entryErr(ErrMalformed, e.bad, "couldn't encode: invalid UTF-8")
	}
	return e.buf, nil
}

// encoder appends canonical JSON. first tracks whether a comma is needed;
// bad names the first key whose string value was not valid UTF-8.
type encoder struct {
	buf   []byte
	first bool
	bad   string
	last  string
}

func (e *encoder) open()  { e.buf = append(e.buf, '{'); e.first = true }
func (e *encoder) close() { e.buf = append(e.buf, '}'); e.first = false }

func (e *encoder) key(k string) {
	if !e.first {
		e.buf = append(e.buf, ',')
	}
	e.first = false
	e.last = k
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, k...)
	e.buf = append(e.buf, '"', ':')
}

func (e *encoder) string(s string) {
	if !utf8.ValidString(s) && e.bad == "" {
		e.bad = e.last
	}
	e.buf = appendJSONString(e.buf, s)
}

func (e *encoder) str(k, v string) {
	e.key(k)
	e.string(v)
}

func (e *encoder) strOmit(k, v string) {
	if v != "" {
		e.str(k, v)
	}
}

func (e *encoder) uint(k string, v uint64) {
	e.key(k)
	e.buf = strconv.AppendUint(e.buf, v, 10)
}

func (e *encoder) boolOmit(k string, v bool) {
	if v {
		e.key(k)
		e.buf = append(e.buf, "true"...)
	}
}

func (e *encoder) strings(k string, vs []string) {
	e.key(k)
	e.buf = append(e.buf, '[')
	for i, v := range vs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.string(v)
	}
	e.buf = append(e.buf, ']')
	e.first = false
}

func (e *encoder) stringsOmit(k string, vs []string) {
	if len(vs) > 0 {
		e.strings(k, vs)
	}
}

func (e *encoder) change(c *RecordChange) {
	e.open()
	if len(c.Digests) > 0 {
		e.key("digests")
		names := make([]string, 0, len(c.Digests))
		for n := range c.Digests {
			names = append(names, n)
		}
		slices.SortFunc(names, compareUTF16)
		e.open()
		for _, n := range names {
			e.key("")
			// key("") wrote `"":`; replace it with the escaped name.
			e.buf = e.buf[:len(e.buf)-3]
			e.last = "digests." + n
			e.string(n)
			e.buf = append(e.buf, ':')
			e.string(c.Digests[n])
		}
		e.close()
	}
	e.str("op", string(c.Op))
	e.str("record", c.Record)
	e.uint("schema_version", uint64(c.SchemaVersion))
	e.str("type", c.Type)
	e.close()
}

func (e *encoder) grant(g *Grant) {
	e.open()
	e.strOmit("condition", g.Condition)
	e.str("consumer", g.Consumer)
	e.strOmit("expires", g.Expires)
	e.strings("fields", g.Fields)
	e.str("purpose", g.Purpose)
	e.str("type", g.Type)
	e.close()
}

func (e *encoder) revoke(r *Revoke) {
	e.open()
	e.str("consumer", r.Consumer)
	e.stringsOmit("fields", r.Fields)
	e.str("purpose", r.Purpose)
	e.str("type", r.Type)
	e.close()
}

func (e *encoder) access(a *Access) {
	e.open()
	e.strOmit("case_ref", a.CaseRef)
	e.str("consumer", a.Consumer)
	if len(a.Denied) > 0 {
		e.key("denied")
		e.buf = append(e.buf, '[')
		for i := range a.Denied {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			d := &a.Denied[i]
			e.open()
			e.str("department", d.Department)
			e.stringsOmit("fields", d.Fields)
			if d.Leaf != 0 {
				e.uint("leaf", d.Leaf)
			}
			e.str("reason", d.Reason)
			e.strOmit("type", d.Type)
			e.close()
		}
		e.buf = append(e.buf, ']')
	}
	if len(a.Disclosed) > 0 {
		e.key("disclosed")
		e.buf = append(e.buf, '[')
		for i := range a.Disclosed {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			d := &a.Disclosed[i]
			e.open()
			e.strings("fields", d.Fields)
			e.uint("leaf", d.Leaf)
			e.close()
		}
		e.buf = append(e.buf, ']')
	}
	e.str("purpose", a.Purpose)
	e.strOmit("query", a.Query)
	e.stringsOmit("subjects", a.Subjects)
	e.str("user", a.User)
	e.close()
}

func (e *encoder) departmentKey(k *DepartmentKey) {
	e.open()
	e.str("action", string(k.Action))
	e.str("department", k.Department)
	e.str("key_id", k.KeyID)
	e.strOmit("public_key", k.PublicKey)
	e.close()
}

func (e *encoder) recordType(rt *RecordType) {
	e.open()
	e.strOmit("description", rt.Description)
	e.key("fields")
	e.buf = append(e.buf, '[')
	for i := range rt.Fields {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		f := &rt.Fields[i]
		e.open()
		e.strOmit("description", f.Description)
		e.str("name", f.Name)
		e.boolOmit("pii", f.PII)
		e.boolOmit("required", f.Required)
		e.boolOmit("subject", f.Subject)
		e.str("type", string(f.Type))
		e.stringsOmit("values", f.Values)
		e.close()
	}
	e.buf = append(e.buf, ']')
	e.first = false
	e.strings("key", rt.Key)
	e.str("name", rt.Name)
	e.uint("version", uint64(rt.Version))
	e.close()
}
