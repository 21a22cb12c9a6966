package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Wire formats
//
// A department publishes each signed envelope to Kafka (topic
// crossledger.changes, or crossledger.access for the gateway) as one
// [Message], keyed by the signing department:
//
//	{"envelope":<canonical envelope, verbatim>,"disclosures":["<disclosure>",…]}
//
// The envelope is embedded as raw JSON: its bytes inside the message are
// exactly the bytes that become the log entry and that the signature
// covers. Disclosures (see [Disclosure]) travel beside it and go to the
// private payload store, never to the log.
//
// Ingest answers every message with a [Receipt] on crossledger.receipts,
// keyed by department:
//
//	{"department":"tax","seq":7,"status":"accepted","leaf":1234,
//	 "envelope_digest":"<base64url SHA-256 of the envelope>",
//	 "proof":"c2sp.org/tlog-proof@v1\nindex 1234\n…"}
//	{"department":"tax","seq":8,"status":"rejected","reason":"bad-signature",
//	 "detail":"bad signature: tax seq 8 key …","envelope_digest":"…"}
//
// A receipt's proof is a C2SP tlog-proof of the envelope at Leaf against a
// signed checkpoint: the department verifies it with the log's public key
// and only then retires the message from its outbox.

// MaxMessageSize bounds a [Message] on the wire: one envelope of at most
// [MaxEntrySize] bytes plus its disclosures.
const MaxMessageSize = 1 << 20

// ErrReplay: a seq below the department's next expected seq that matches
// no logged entry of that department (it was never logged, so it can
// never be: seqs are strictly increasing). Ingest rejects it.
var ErrReplay = errors.New("replayed seq: below the next expected seq")

// Message is the Kafka value of one published envelope.
type Message struct {
	// Envelope is the canonical signed envelope, byte for byte.
	Envelope json.RawMessage `json:"envelope"`
	// Disclosures open the digests of a record change (all of them, for
	// an upsert); empty for other kinds.
	Disclosures []string `json:"disclosures,omitempty"`
}

// Encode returns the wire form of m. The envelope is copied verbatim; it
// must be a JSON object (as [Envelope.Canonical] produces).
func (m *Message) Encode() ([]byte, error) {
	if len(m.Envelope) == 0 || m.Envelope[0] != '{' || !json.Valid(m.Envelope) {
		return nil, entryErr(ErrMalformed, "envelope", "not a JSON object")
	}
	buf := make([]byte, 0, len(m.Envelope)+32+64*len(m.Disclosures))
	buf = append(buf, `{"envelope":`...)
	buf = append(buf, m.Envelope...)
	if len(m.Disclosures) > 0 {
		buf = append(buf, `,"disclosures":[`...)
		for i, d := range m.Disclosures {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, d)
		}
		buf = append(buf, ']')
	}
	buf = append(buf, '}')
	if len(buf) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "message is %d bytes, limit %d", len(buf), MaxMessageSize)
	}
	return buf, nil
}

// NewMessage encodes a signed envelope and its disclosures as a [Message].
func NewMessage(env *Envelope, ds []Disclosure) (*Message, error) {
	canon, err := env.Canonical()
	if err != nil {
		return nil, err
	}
	m := &Message{Envelope: canon}
	for _, d := range ds {
		m.Disclosures = append(m.Disclosures, d.Encoded)
	}
	return m, nil
}

// DecodeMessage parses a Kafka value strictly: at most [MaxMessageSize]
// bytes ([ErrTooLarge]); valid UTF-8 JSON, one object with exactly the
// known keys, no duplicate keys, no trailing data, an "envelope" that is
// a JSON object and "disclosures" (if present) an array of strings
// ([ErrMalformed]). It does not decode the envelope itself: see
// [DecodeEnvelope], which enforces its size and canonical form.
//
// It is a single pass over the bytes that accepts and rejects exactly
// what encoding/json (with unknown fields disallowed, after a duplicate
// key check) did, including its leniencies: key names match the field
// names case-insensitively (a later match overrides an earlier one, as
// long as the two are spelled differently), a null disclosure element
// leaves the element as it was, and "disclosures":null means none.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "message is %d bytes, limit %d", len(b), MaxMessageSize)
	}
	if !utf8.Valid(b) {
		return nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	s := scanner{b: b}
	s.ws()
	if s.i >= len(b) {
		return nil, s.truncated()
	}
	if b[s.i] != '{' {
		if err := s.value(0); err != nil {
			return nil, err
		}
		return nil, entryErr(ErrMalformed, "", "message is not a JSON object")
	}
	s.i++
	var (
		env    []byte // the last "envelope" value, raw
		disc   []string
		seen   keySet
		keyBuf []byte
	)
	s.ws()
	if s.i < len(b) && b[s.i] == '}' {
		s.i++
	} else {
		for {
			s.ws()
			if s.i >= len(b) {
				return nil, s.truncated()
			}
			if b[s.i] != '"' {
				return nil, s.syntax("looking for beginning of object key string")
			}
			start, end, esc, err := s.str()
			if err != nil {
				return nil, err
			}
			key := b[start:end]
			if esc {
				keyBuf = appendUnquoted(keyBuf[:0], key)
				key = keyBuf
			}
			if !seen.add(key) {
				return nil, entryErr(ErrMalformed, string(key), "duplicate key")
			}
			field := messageField(key)
			if field == "" {
				return nil, entryErr(ErrMalformed, string(key), "unknown field")
			}
			s.ws()
			if s.i >= len(b) {
				return nil, s.truncated()
			}
			if b[s.i] != ':' {
				return nil, s.syntax("after object key")
			}
			s.i++
			s.ws()
			if s.i >= len(b) {
				return nil, s.truncated()
			}
			if field == "envelope" {
				vs := s.i
				if err := s.value(1); err != nil {
					return nil, err
				}
				env = b[vs:s.i]
			} else {
				disc, err = s.disclosures(disc)
				if err != nil {
					return nil, err
				}
			}
			s.ws()
			if s.i >= len(b) {
				return nil, s.truncated()
			}
			if b[s.i] == ',' {
				s.i++
				continue
			}
			if b[s.i] == '}' {
				s.i++
				break
			}
			return nil, s.syntax("after object key:value pair")
		}
	}
	s.ws()
	if s.i < len(b) {
		return nil, entryErr(ErrMalformed, "", "trailing data after the message")
	}
	if len(env) == 0 || env[0] != '{' {
		return nil, entryErr(ErrMalformed, "envelope", "missing or not a JSON object")
	}
	return &Message{Envelope: bytes.Clone(env), Disclosures: disc}, nil
}

// messageField returns the [Message] field that a (decoded) top-level key
// selects the way encoding/json matches names: exactly, or else equal
// after Unicode case folding. "" means an unknown key.
func messageField(key []byte) string {
	for _, f := range [...]string{"envelope", "disclosures"} {
		if string(key) == f {
			return f
		}
	}
	ascii := true
	for _, c := range key {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The common case, without allocating: ASCII folds only a-z.
		for _, f := range [...]string{"envelope", "disclosures"} {
			if len(key) == len(f) && asciiEqualFold(key, f) {
				return f
			}
		}
		return ""
	}
	var buf [64]byte
	folded := appendFoldedName(buf[:0], key)
	switch string(folded) {
	case "ENVELOPE":
		return "envelope"
	case "DISCLOSURES":
		return "disclosures"
	}
	return ""
}

func asciiEqualFold(a []byte, lower string) bool {
	for i, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// appendFoldedName and foldRune are encoding/json's name folding (Go
// 1.21+): ASCII upper case, and every other rune mapped to the smallest
// rune of its simple case-folding orbit (so "ſ" folds like "s").
func appendFoldedName(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// keySet holds the decoded keys of one object, to reject exact duplicates.
// Objects are small: a slice until a hostile input makes a map worth it.
type keySet struct {
	list []string
	m    map[string]struct{}
}

// add reports whether k was new.
func (ks *keySet) add(k []byte) bool {
	if ks.m != nil {
		if _, dup := ks.m[string(k)]; dup {
			return false
		}
		ks.m[string(k)] = struct{}{}
		return true
	}
	for _, s := range ks.list {
		if s == string(k) {
			return false
		}
	}
	ks.list = append(ks.list, string(k))
	if len(ks.list) > 16 {
		ks.m = make(map[string]struct{}, 2*len(ks.list))
		for _, s := range ks.list {
			ks.m[s] = struct{}{}
		}
	}
	return true
}

// disclosures decodes the value of a "disclosures" member into prev, the
// slice an earlier member of the same name left, exactly as encoding/json
// decodes into a []string: null makes it nil; [] makes it empty; an array
// reuses prev's elements and backing array (so a null element keeps what
// was there) and truncates it to the array's length.
func (s *scanner) disclosures(prev []string) ([]string, error) {
	b := s.b
	switch b[s.i] {
	case 'n':
		if err := s.literal("null"); err != nil {
			return nil, err
		}
		return nil, nil
	case '[':
	default:
		vs := s.i
		if err := s.value(1); err != nil {
			return nil, err
		}
		return nil, entryErr(ErrMalformed, "disclosures", "JSON %s where []string expected", jsonKind(b[vs]))
	}
	arr := s.i
	s.i++
	s.ws()
	if s.i < len(b) && b[s.i] == ']' {
		s.i++
		return []string{}, nil
	}
	d := prev
	if d == nil {
		d = make([]string, 0, 16)
	}
	// Unescaped elements become substrings of one copy of the array,
	// made at the end: spans records where they go.
	type span struct{ n, start, end int }
	var spanBuf [16]span
	spans := spanBuf[:0]
	n := 0
	for {
		s.ws()
		if s.i >= len(b) {
			return nil, s.truncated()
		}
		if n >= cap(d) {
			d = append(d, "")[:len(d)]
		}
		if n >= len(d) {
			d = d[:n+1]
		}
		switch b[s.i] {
		case '"':
			start, end, esc, err := s.str()
			if err != nil {
				return nil, err
			}
			if esc {
				d[n] = string(appendUnquoted(make([]byte, 0, end-start), b[start:end]))
			} else {
				spans = append(spans, span{n, start - arr, end - arr})
			}
		case 'n':
			if err := s.literal("null"); err != nil {
				return nil, err
			}
		default:
			vs := s.i
			if err := s.value(2); err != nil {
				return nil, err
			}
			return nil, entryErr(ErrMalformed, "disclosures", "JSON %s where string expected", jsonKind(b[vs]))
		}
		n++
		s.ws()
		if s.i >= len(b) {
			return nil, s.truncated()
		}
		if b[s.i] == ',' {
			s.i++
			continue
		}
		if b[s.i] == ']' {
			s.i++
			break
		}
		return nil, s.syntax("after array element")
	}
	if len(spans) > 0 {
		all := string(b[arr:s.i])
		for _, sp := range spans {
			d[sp.n] = all[sp.start:sp.end]
		}
	}
	if n < len(d) {
		d = d[:n]
	}
	return d, nil
}

func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// scanner is a strict JSON (RFC 8259) syntax checker over a byte slice,
// with encoding/json's nesting limit. Its errors match [ErrMalformed].
type scanner struct {
	b []byte
	i int
}

// maxNesting is encoding/json's limit on nested arrays and objects,
// counting the outermost one.
const maxNesting = 10000

func (s *scanner) syntax(where string) error {
	return entryErr(ErrMalformed, "", "invalid JSON at byte %d: invalid character %q %s", s.i+1, s.b[s.i], where)
}

func (s *scanner) truncated() error {
	return entryErr(ErrMalformed, "", "truncated JSON")
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str scans the string starting at the quote at s.i and returns the
// bounds of its contents, and whether they hold escapes.
func (s *scanner) str() (start, end int, esc bool, err error) {
	b := s.b
	s.i++
	start = s.i
	for s.i < len(b) {
		c := b[s.i]
		switch {
		case c == '"':
			end = s.i
			s.i++
			return start, end, esc, nil
		case c == '\\':
			esc = true
			s.i++
			if s.i >= len(b) {
				return 0, 0, false, s.truncated()
			}
			switch b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				for k := 0; k < 4; k++ {
					if s.i >= len(b) {
						return 0, 0, false, s.truncated()
					}
					if !isHex(b[s.i]) {
						return 0, 0, false, s.syntax("in \\u hexadecimal character escape")
					}
					s.i++
				}
			default:
				return 0, 0, false, s.syntax("in string escape code")
			}
		case c < 0x20:
			return 0, 0, false, s.syntax("in string literal")
		default:
			s.i++
		}
	}
	return 0, 0, false, s.truncated()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (s *scanner) literal(lit string) error {
	for k := 0; k < len(lit); k++ {
		if s.i >= len(s.b) {
			return s.truncated()
		}
		if s.b[s.i] != lit[k] {
			return s.syntax("in literal " + lit)
		}
		s.i++
	}
	return nil
}

func (s *scanner) number() error {
	b := s.b
	digits := func() int {
		n := 0
		for s.i < len(b) && '0' <= b[s.i] && b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(b) {
		return s.truncated()
	}
	switch c := b[s.i]; {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		digits()
	default:
		return s.syntax("in numeric literal")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if s.i >= len(b) {
			return s.truncated()
		}
		if digits() == 0 {
			return s.syntax("after decimal point in numeric literal")
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(b) {
			return s.truncated()
		}
		if digits() == 0 {
			return s.syntax("in exponent of numeric literal")
		}
	}
	return nil
}

// value scans one JSON value starting at s.i (after whitespace), nested
// in depth arrays and objects.
func (s *scanner) value(depth int) error {
	b := s.b
	if s.i >= len(b) {
		return s.truncated()
	}
	switch c := b[s.i]; {
	case c == '{' || c == '[':
		if depth+1 > maxNesting {
			return entryErr(ErrMalformed, "", "invalid JSON at byte %d: exceeded max depth", s.i+1)
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.ws()
		if s.i < len(b) && b[s.i] == closer {
			s.i++
			return nil
		}
		for {
			s.ws()
			if s.i >= len(b) {
				return s.truncated()
			}
			if c == '{' {
				if b[s.i] != '"' {
					return s.syntax("looking for beginning of object key string")
				}
				if _, _, _, err := s.str(); err != nil {
					return err
				}
				s.ws()
				if s.i >= len(b) {
					return s.truncated()
				}
				if b[s.i] != ':' {
					return s.syntax("after object key")
				}
				s.i++
				s.ws()
			}
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(b) {
				return s.truncated()
			}
			if b[s.i] == ',' {
				s.i++
				continue
			}
			if b[s.i] == closer {
				s.i++
				return nil
			}
			return s.syntax("after value")
		}
	case c == '"':
		_, _, _, err := s.str()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return s.syntax("looking for beginning of value")
}

// appendUnquoted appends the contents of a JSON string (between the
// quotes, already checked by [scanner.str]) decoded as encoding/json
// decodes it: a \u escape of a lone or mismatched surrogate becomes
// U+FFFD. The input is valid UTF-8, so no other replacement arises.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+1 : i+5])
			i += 5
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s[i+2:i+6])); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
		i++
	}
	return dst
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// EnvelopeDigest names a logged envelope: base64url (no padding) of the
// SHA-256 of its canonical bytes. Receipts and the projection store use it.
func EnvelopeDigest(envelope []byte) string {
	sum := sha256.Sum256(envelope)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ReceiptStatus is the outcome of one published message.
type ReceiptStatus string

const (
	// StatusAccepted: the envelope was logged by this delivery.
	StatusAccepted ReceiptStatus = "accepted"
	// StatusDuplicate: the same envelope (same seq, same bytes) was logged
	// before; the receipt is the original one with a fresh proof.
	StatusDuplicate ReceiptStatus = "duplicate"
	// StatusRejected: the envelope was not logged and never will be under
	// this seq; Reason says why.
	StatusRejected ReceiptStatus = "rejected"
)

// Machine-readable rejection reasons, as [ReasonOf] names them.
const (
	ReasonBadSignature       = "bad-signature"
	ReasonUnknownKey         = "unknown-key"
	ReasonSchema             = "schema"
	ReasonDisclosureMismatch = "disclosure-mismatch"
	ReasonEquivocation       = "equivocation"
	ReasonReplay             = "replay"
	ReasonTooLarge           = "too-large"
	ReasonMalformed          = "malformed"
	ReasonNotCanonical       = "not-canonical"
	ReasonDuplicate          = "duplicate"
	ReasonInternal           = "internal"
)

// Receipt is ingest's answer to one [Message].
type Receipt struct {
	Department string        `json:"department"`       // the signer, or the message key when the envelope is unreadable
	Seq        uint64        `json:"seq,omitempty"`    // 0 when the envelope is unreadable
	Status     ReceiptStatus `json:"status"`           // accepted | duplicate | rejected
	Reason     string        `json:"reason,omitempty"` // rejections: see the Reason constants
	Detail     string        `json:"detail,omitempty"` // rejections: human-readable error
	Leaf       uint64        `json:"leaf"`             // accepted, duplicate: the entry's index
	// EnvelopeDigest is [EnvelopeDigest] of the envelope bytes as received
	// (also for rejections, when the message had an envelope), so the
	// sender can match a receipt to what it sent.
	EnvelopeDigest string `json:"envelope_digest,omitempty"`
	// Proof is a C2SP tlog-proof of the envelope at Leaf (accepted,
	// duplicate).
	Proof string `json:"proof,omitempty"`
}

// Encode returns the JSON form of r.
func (r *Receipt) Encode() ([]byte, error) {
	return json.Marshal(r)
}

// DecodeReceipt parses a receipt strictly (unknown fields, trailing data,
// unknown status rejected). It does not verify the proof.
func DecodeReceipt(b []byte) (*Receipt, error) {
	if len(b) > MaxMessageSize {
		return nil, entryErr(ErrTooLarge, "", "receipt is %d bytes, limit %d", len(b), MaxMessageSize)
	}
	r := new(Receipt)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(r); err != nil {
		return nil, jsonErr(err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, entryErr(ErrMalformed, "", "trailing data after the receipt")
	}
	switch r.Status {
	case StatusAccepted, StatusDuplicate:
		if r.Proof == "" || r.EnvelopeDigest == "" {
			return nil, entryErr(ErrMalformed, "proof", "a %s receipt needs a proof and an envelope digest", r.Status)
		}
	case StatusRejected:
		if r.Reason == "" {
			return nil, entryErr(ErrMalformed, "reason", "a rejection needs a reason")
		}
	default:
		return nil, entryErr(ErrMalformed, "status", "unknown status %q", r.Status)
	}
	return r, nil
}

// ReasonOf maps an error to its machine-readable rejection reason. The
// more specific sentinels win: a disclosure that fails to parse is
// malformed, one that parses but opens no digest is a mismatch.
func ReasonOf(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrEquivocation):
		return ReasonEquivocation
	case errors.Is(err, ErrReplay):
		return ReasonReplay
	case errors.Is(err, ErrDuplicate):
		return ReasonDuplicate
	case errors.Is(err, ErrUnknownKey):
		return ReasonUnknownKey
	case errors.Is(err, ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, ErrDisclosureMismatch):
		return ReasonDisclosureMismatch
	case errors.Is(err, ErrSchema), errors.Is(err, ErrValue):
		return ReasonSchema
	case errors.Is(err, ErrNotCanonical):
		return ReasonNotCanonical
	case errors.Is(err, ErrMalformed):
		return ReasonMalformed
	}
	return ReasonInternal
}

// String makes a receipt readable in logs and test failures.
func (r *Receipt) String() string {
	if r.Status == StatusRejected {
		return fmt.Sprintf("%s seq %d rejected (%s): %s", r.Department, r.Seq, r.Reason, r.Detail)
	}
	return fmt.Sprintf("%s seq %d %s at leaf %d", r.Department, r.Seq, r.Status, r.Leaf)
}
