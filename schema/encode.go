package schema

import (
	"unicode/utf8"
)

// The canonical encoder: RFC 8785 output written directly from the member
// tables (members.go), member by member in canonical order, without
// reflection. Its output equals CanonicalJSON(encoding/json.Marshal(v))
// for every value whose non-omitempty slices are non-nil (the tests hold
// it to that); a nil slice that the JSON tags do not omit is written as []
// rather than null, so the canonical form never contains null.

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
	if !withSig && env.Sig != "" {
		unsigned := *env
		unsigned.Sig = ""
		env = &unsigned
	}
	return encode(buf, env, envelopeMembers)
}

// encode appends the canonical encoding of v to buf.
func encode[T any](buf []byte, v *T, ms []member[T]) ([]byte, error) {
	e := encoder{buf: buf}
	writeObject(&e, v, ms)
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

// writeObject writes v as an object of the members of ms.
func writeObject[T any](e *encoder, v *T, ms []member[T]) {
	e.buf = append(e.buf, '{')
	first := true
	for i := range ms {
		m := &ms[i]
		if m.omit && m.zero(v) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, '"')
		e.buf = append(e.buf, m.key...)
		e.buf = append(e.buf, '"', ':')
		e.last = m.key
		m.write(e, v)
	}
	e.buf = append(e.buf, '}')
}

// encoder appends canonical JSON. last is the key of the member being
// written, to name it when its value cannot be encoded.
type encoder struct {
	buf  []byte
	last string
	err  error
}

// fail records that the member named part holds a string that is not
// valid UTF-8.
func (e *encoder) fail(part string) {
	if e.err == nil {
		e.err = entryErr(ErrMalformed, part, "couldn't encode: invalid UTF-8")
	}
}

func (e *encoder) string(s string) {
	if !utf8.ValidString(s) {
		e.fail(e.last)
	}
	e.buf = appendJSONString(e.buf, s)
}

func (e *encoder) strings(vs []string) {
	e.buf = append(e.buf, '[')
	for i, v := range vs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.string(v)
	}
	e.buf = append(e.buf, ']')
}
