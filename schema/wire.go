package schema

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The canonical wire reader.
//
// Everything crossledger reads off the wire — the Kafka [Message], the
// [Envelope] and its bodies, a [Disclosure]'s JSON array, a [Receipt] — is
// read by one [reader]: a single pass over the bytes that accepts exactly
// their canonical JSON (RFC 8785, as the encoder in encode.go writes it)
// and tells every other input apart in two classes:
//
//   - [ErrMalformed]: not JSON (syntax, truncation, trailing data), a
//     duplicate or unknown key, a value of the wrong JSON type, an integer
//     out of range. Reading stops at the first one.
//   - [ErrNotCanonical]: JSON of the right shape spelled other than the
//     canonical way: whitespace, members out of order or missing, a key in
//     another case, an escape other than the one [appendJSONString]
//     writes, -0, null, a member holding the zero value that the canonical
//     form omits. Reading goes on after the first of these, so that a
//     malformation later in the input is what gets reported.
//
// The objects of each kind are read against their member table (see
// members.go), the one place where a body's shape is written; the encoder
// writes from the same tables. The reader never accepts an input for
// being close to canonical: it has no case folding, no "null means
// absent", no whitespace tolerance. Those inputs are read only as far as
// it takes to say which class they are in.

// maxNesting bounds nested arrays and objects in free-form JSON (the
// envelope inside a message): encoding/json's limit.
const maxNesting = 10000

// maxPath is how many levels of member keys and indices an error names.
const maxPath = 8

type frame struct {
	key string
	idx int // an array index when key is ""
}

type reader struct {
	b     []byte
	s     string // b as a string: unescaped strings are substrings of it
	i     int
	what  string      // "envelope", "message", …: for "trailing data after the …"
	root  string      // the Part of errors outside any member
	err   *EntryError // the first malformation; reading stops there
	ncAt  int         // where the input first departs from canonical form, or -1
	ncWhy string
	path  [maxPath]frame
	depth int
	keys  []string // the keys read so far of the free-form objects being read
}

// newReader reads b; s is b as a string, or "" for a reader that checks
// and keeps no strings (then the strings it reads alias b).
func newReader(b []byte, s, what string) *reader {
	if s == "" && len(b) > 0 {
		s = unsafe.String(&b[0], len(b))
	}
	return &reader{b: b, s: s, what: what, ncAt: -1}
}

// result is the outcome of reading: the malformation, else the first
// departure from canonical form, else nil.
func (r *reader) result() error {
	if r.err != nil {
		return r.err
	}
	if r.ncAt >= 0 {
		return entryErr(ErrNotCanonical, "", "differs from its canonical encoding at byte %d: %s", r.ncAt, r.ncWhy)
	}
	return nil
}

func (r *reader) push(key string, idx int) {
	if r.depth < maxPath {
		r.path[r.depth] = frame{key, idx}
	}
	r.depth++
}

func (r *reader) pop() { r.depth-- }

// part names the member being read, as in "access.denied[0].fields".
func (r *reader) part() string {
	var sb strings.Builder
	sb.WriteString(r.root)
	for _, f := range r.path[:min(r.depth, maxPath)] {
		if f.key == "" {
			sb.WriteString("[" + strconv.Itoa(f.idx) + "]")
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(f.key)
	}
	return sb.String()
}

func (r *reader) malformed(format string, args ...any) {
	if r.err == nil {
		r.err = entryErr(ErrMalformed, r.part(), format, args...)
	}
}

func (r *reader) noncanon(at int, format string, args ...any) {
	if r.ncAt < 0 {
		r.ncAt, r.ncWhy = at, fmt.Sprintf(format, args...)
	}
}

func (r *reader) syntax(where string) {
	if r.i >= len(r.b) {
		r.malformed("truncated JSON")
		return
	}
	r.malformed("invalid JSON at byte %d: invalid character %q %s", r.i, r.b[r.i], where)
}

// ws skips whitespace, which canonical JSON has none of.
func (r *reader) ws() {
	if r.i < len(r.b) && isSpace(r.b[r.i]) {
		r.noncanon(r.i, "whitespace")
		for r.i < len(r.b) && isSpace(r.b[r.i]) {
			r.i++
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// peek skips whitespace and returns the next byte, 0 at the end.
func (r *reader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// open consumes c, the opening of a value of kind want, or reports why
// the value there is not one.
func (r *reader) open(c byte, want string) bool {
	if r.err != nil {
		return false
	}
	if r.peek() == c {
		r.i++
		return true
	}
	r.typeErr(want)
	return false
}

// typeErr reports the value at r.i as the wrong type, or as not JSON.
func (r *reader) typeErr(want string) {
	kind := ""
	if r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '{':
			kind = "object"
		case c == '[':
			kind = "array"
		case c == '"':
			kind = "string"
		case c == 't' || c == 'f':
			kind = "bool"
		case c == 'n':
			kind = "null"
		case c == '-' || '0' <= c && c <= '9':
			kind = "number"
		}
	}
	if kind == "" {
		r.syntax("looking for beginning of value")
		return
	}
	r.malformed("JSON %s where %s expected", kind, want)
}

// next drives the loop over the members or elements of an object or
// array whose opening is consumed: it reports whether element n follows,
// consuming the comma before it, or else the closer.
func (r *reader) next(closer byte, n int) bool {
	if r.err != nil {
		return false
	}
	c := r.peek()
	if c == closer && n == 0 {
		r.i++
		return false
	}
	if n == 0 {
		return true
	}
	switch c {
	case ',':
		r.i++
		r.ws()
		return true
	case closer:
		r.i++
		return false
	}
	if closer == '}' {
		r.syntax("after object key:value pair")
	} else {
		r.syntax("after array element")
	}
	return false
}

// null consumes a null, which the canonical forms here never hold.
func (r *reader) null() bool {
	if r.peek() != 'n' {
		return false
	}
	at := r.i
	if r.literal("null") {
		r.noncanon(at, "null")
	}
	return true
}

func (r *reader) literal(lit string) bool {
	for k := 0; k < len(lit); k++ {
		if r.i >= len(r.b) || r.b[r.i] != lit[k] {
			r.syntax("in literal " + lit)
			return false
		}
		r.i++
	}
	return true
}

// span reads the string starting at the quote at r.i and returns the
// bounds of its contents and whether they hold escapes. It checks the
// escapes, and notes those that are not the canonical ones.
func (r *reader) span() (start, end int, esc bool) {
	b, i := r.b, r.i+1
	start = i
	for {
		for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		r.i = i
		switch {
		case i >= len(b):
			r.syntax("")
			return 0, 0, false
		case b[i] == '"':
			r.i++
			return start, i, esc
		case b[i] == '\\':
			esc = true
			if r.escape(); r.err != nil {
				return 0, 0, false
			}
			i = r.i
		default:
			r.syntax("in string literal")
			return 0, 0, false
		}
	}
}

// plain8 reports whether all eight bytes of w are plain: none is below
// 0x20, a quote or a backslash (the word-at-a-time test for a zero byte,
// which is exact about whether there is one).
func plain8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (w - 0x20*ones) &^ w
	quote := (w ^ '"'*ones - ones) &^ (w ^ '"'*ones)
	backslash := (w ^ '\\'*ones - ones) &^ (w ^ '\\'*ones)
	return (below|quote|backslash)&highs == 0
}

// plain holds the bytes that stand for themselves inside a JSON string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escape reads the escape at r.i. The canonical ones are \" \\ \b \f \n
// \r \t and \u00xx (lowercase hex) for the other control characters.
func (r *reader) escape() {
	at := r.i
	if r.i+1 >= len(r.b) {
		r.i = len(r.b)
		r.syntax("")
		return
	}
	r.i++
	switch r.b[r.i] {
	case '"', '\\', 'b', 'f', 'n', 'r', 't':
		r.i++
		return
	case '/':
		r.i++
	case 'u':
		r.i++
		for k := 0; k < 4; k++ {
			if r.i >= len(r.b) {
				r.syntax("")
				return
			}
			if !isHex(r.b[r.i]) {
				r.syntax("in \\u hexadecimal character escape")
				return
			}
			r.i++
		}
		if h := r.b[at+2 : at+6]; h[0] == '0' && h[1] == '0' && (h[2] == '0' || h[2] == '1') && isLowerHex(h[3]) {
			if c := hex4(h); c != '\b' && c != '\f' && c != '\n' && c != '\r' && c != '\t' {
				return
			}
		}
	default:
		r.syntax("in string escape code")
		return
	}
	r.noncanon(at, "escape %s is not the canonical one", r.b[at:r.i])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// text reads a JSON string.
func (r *reader) text() string {
	if r.err != nil {
		return ""
	}
	if r.peek() != '"' {
		r.typeErr("string")
		return ""
	}
	start, end, esc := r.span()
	if r.err != nil {
		return ""
	}
	if esc {
		return string(appendUnquoted(make([]byte, 0, end-start), r.b[start:end]))
	}
	return r.s[start:end]
}

// texts reads an array of strings; [] is an empty, non-nil slice.
func (r *reader) texts() []string {
	if !r.open('[', "array") {
		return nil
	}
	var buf [16]string
	out := buf[:0]
	for n := 0; r.next(']', n); n++ {
		if r.null() {
			out = append(out, "")
			continue
		}
		r.push("", n)
		out = append(out, r.text())
		r.pop()
	}
	return append(make([]string, 0, len(out)), out...)
}

// key reads an object key and the colon after it.
func (r *reader) key() string {
	if r.peek() != '"' {
		r.syntax("looking for beginning of object key string")
		return ""
	}
	k := r.text()
	if r.err != nil {
		return ""
	}
	if r.peek() != ':' {
		r.syntax("after object key")
		return ""
	}
	r.i++
	return k
}

// number reads a JSON number and returns its text.
func (r *reader) number() string {
	b, start := r.b, r.i
	digits := func() int {
		n := 0
		for r.i < len(b) && '0' <= b[r.i] && b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(b) && b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(b) && b[r.i] == '0':
		r.i++
	case digits() == 0:
		r.syntax("in numeric literal")
		return ""
	}
	if r.i < len(b) && b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			r.syntax("after decimal point in numeric literal")
			return ""
		}
	}
	if r.i < len(b) && (b[r.i] == 'e' || b[r.i] == 'E') {
		r.i++
		if r.i < len(b) && (b[r.i] == '+' || b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			r.syntax("in exponent of numeric literal")
			return ""
		}
	}
	return r.s[start:r.i]
}

// integer reads a JSON integer of magnitude at most max (max+1 when
// negative) and returns its magnitude and sign; signed says whether it
// may be negative.
func (r *reader) integer(signed bool, max uint64) (n uint64, neg bool) {
	if r.err != nil {
		return 0, false
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		r.typeErr("integer")
		return 0, false
	}
	at := r.i
	t := r.number()
	if r.err != nil {
		return 0, false
	}
	digits, neg := strings.CutPrefix(t, "-")
	limit := max
	if neg {
		limit++
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	switch {
	case strings.ContainsAny(digits, ".eE"):
		r.malformed("JSON number %s is not an integer", t)
	case neg && !signed:
		r.malformed("JSON number %s where unsigned integer expected", t)
	case err != nil || n > limit:
		r.malformed("JSON number %s out of range", t)
	case neg && n == 0:
		r.noncanon(at, "-0")
	}
	return n, neg
}

// boolean reads true or false.
func (r *reader) boolean() bool {
	switch r.peek() {
	case 't':
		return r.literal("true")
	case 'f':
		r.literal("false")
		return false
	}
	r.typeErr("bool")
	return false
}

// anyValue reads any JSON value and checks that it is in canonical form:
// for objects, members sorted by the UTF-16 code units of their keys; for
// numbers, the ECMAScript shortest form.
func (r *reader) anyValue(depth int) {
	if r.err != nil {
		return
	}
	switch c := r.peek(); {
	case c == '{' || c == '[':
		if depth >= maxNesting {
			r.malformed("invalid JSON at byte %d: exceeded max depth", r.i)
			return
		}
		r.i++
		if c == '[' {
			for n := 0; r.next(']', n); n++ {
				r.anyValue(depth + 1)
			}
			return
		}
		o := r.keyOrder()
		for n := 0; r.next('}', n); n++ {
			at := r.i
			if !o.add(r, at, r.key()) {
				return
			}
			r.anyValue(depth + 1)
		}
		o.done(r)
	case c == '"':
		r.span()
	case c == 't':
		r.literal("true")
	case c == 'f':
		r.literal("false")
	case c == 'n':
		r.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		r.canonicalNumber()
	default:
		r.syntax("looking for beginning of value")
	}
}

// canonicalNumber reads a number of free-form JSON. Short integers are
// canonical as they stand (but -0); anything else must be what
// ECMAScript prints for its double value.
func (r *reader) canonicalNumber() {
	at := r.i
	t := r.number()
	if r.err != nil {
		return
	}
	if t == "-0" {
		r.noncanon(at, "-0")
		return
	}
	if len(t) <= 15 && !strings.ContainsAny(t, ".eE") {
		return
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		r.malformed("number %s out of range", t)
		return
	}
	var buf [32]byte
	if c, err := appendES6Number(buf[:0], f); err != nil || string(c) != t {
		r.noncanon(at, "number %s is not in its canonical form %s", t, c)
	}
}

// keyOrder checks the keys of one object whose keys are free (a map, or
// free-form JSON): strictly increasing in UTF-16 order. It tells a
// duplicate key (malformed) from one out of order (not canonical): the
// keys of the objects being read are kept on the reader's stack of keys,
// and made a set once the order breaks.
type keyOrder struct {
	base int // where the object's keys start in r.keys
	seen map[string]bool
}

func (r *reader) keyOrder() keyOrder {
	if r.keys == nil {
		r.keys = make([]string, 0, 32)
	}
	return keyOrder{base: len(r.keys)}
}

// add checks key k, read at offset at, and reports false for a duplicate.
func (o *keyOrder) add(r *reader, at int, k string) bool {
	if r.err != nil {
		return false
	}
	keys := r.keys[o.base:]
	late := len(keys) > 0 && compareUTF16(keys[len(keys)-1], k) >= 0
	if late && o.seen == nil {
		o.seen = make(map[string]bool, 2*len(keys))
		for _, k := range keys {
			o.seen[k] = true
		}
	}
	if o.seen != nil {
		if o.seen[k] {
			r.push(k, 0)
			r.malformed("duplicate key")
			r.pop()
			return false
		}
		o.seen[k] = true
	}
	if late {
		r.noncanon(at, "key %q out of order", k)
	}
	r.keys = append(r.keys, k)
	return true
}

// done drops the object's keys from the reader's stack.
func (o *keyOrder) done(r *reader) { r.keys = r.keys[:o.base] }

// readWire reads b, at most limit bytes of UTF-8, as one object of kind
// T. It reads a private copy of b, which the strings of the value alias.
// The caller checks the rules of the kind, then reports r.result().
func readWire[T any](b []byte, limit int, what string, ms []member[T]) (*T, *reader, error) {
	if len(b) > limit {
		return nil, nil, entryErr(ErrTooLarge, "", "%s is %d bytes, limit %d", what, len(b), limit)
	}
	if !utf8.Valid(b) {
		return nil, nil, entryErr(ErrMalformed, "", "invalid UTF-8")
	}
	v := new(T)
	r := newReader(bytes.Clone(b), "", what)
	readTop(r, v, ms)
	if r.err != nil {
		return nil, nil, r.err
	}
	return v, r, nil
}

// readTop reads the whole input as one object of kind T. A top-level
// null reads as an object with no members.
func readTop[T any](r *reader, v *T, ms []member[T]) {
	if r.null() {
		missing(r, ms, 0, r.i)
	} else {
		readObject(r, v, ms)
	}
	r.end()
}

// end checks that nothing but whitespace follows the top-level value.
func (r *reader) end() {
	r.ws()
	if r.err == nil && r.i < len(r.b) {
		r.malformed("trailing data after the %s", r.what)
	}
}

// readObject reads an object into v, member by member against ms, which
// lists the members in canonical order.
func readObject[T any](r *reader, v *T, ms []member[T]) {
	if !r.open('{', "object") {
		return
	}
	var seen, present uint64 // bit j: member j read under its own key, under any spelling
	prev := -1
	for n := 0; r.next('}', n); n++ {
		at := r.i
		k := r.key()
		if r.err != nil {
			return
		}
		j := find(ms, k, prev+1)
		switch {
		case j >= 0 && seen&(1<<j) != 0:
			r.push(k, 0)
			r.malformed("duplicate key")
			r.pop()
			return
		case j >= 0:
			seen |= 1 << j
		default:
			if j = findFold(ms, k); j < 0 {
				r.push(k, 0)
				r.malformed("unknown field")
				r.pop()
				return
			}
			r.noncanon(at, "key %q is spelled %q", k, ms[j].key)
		}
		if j <= prev {
			r.noncanon(at, "member %q out of order", ms[j].key)
		}
		for s := prev + 1; s < j; s++ {
			if !ms[s].omit {
				r.noncanon(at, "member %q expected before %q", ms[s].key, k)
			}
		}
		prev, present = j, present|1<<j
		m := &ms[j]
		r.push(m.key, 0)
		valueAt := r.i
		switch {
		case m.must && r.peek() == 'n':
			r.malformed("null")
		case r.null():
		default:
			m.read(r, v)
			if m.omit && r.err == nil && m.zero(v) {
				r.noncanon(valueAt, "member %q holds the zero value, which the canonical form omits", m.key)
			}
		}
		r.pop()
	}
	missing(r, ms, present, r.i-1)
}

// missing reports the members not present that the canonical form
// always writes: malformed where the member has no zero value.
func missing[T any](r *reader, ms []member[T], present uint64, at int) {
	for j := range ms {
		if r.err != nil || present&(1<<j) != 0 || ms[j].omit {
			continue
		}
		if ms[j].must {
			r.push(ms[j].key, 0)
			r.malformed("missing")
			r.pop()
		} else {
			r.noncanon(at, "member %q missing", ms[j].key)
		}
	}
}

// find returns the index of the member with key k, looking from the
// member after the previous one on (where canonical input has it), or -1.
func find[T any](ms []member[T], k string, from int) int {
	for j := from; j < len(ms); j++ {
		if ms[j].key == k {
			return j
		}
	}
	for j := 0; j < from && j < len(ms); j++ {
		if ms[j].key == k {
			return j
		}
	}
	return -1
}

// findFold returns the index of the member whose key equals k but for
// ASCII case, or -1: such a key is not canonical, rather than unknown.
func findFold[T any](ms []member[T], k string) int {
	for j := range ms {
		if strings.EqualFold(ms[j].key, k) && isASCII(k) {
			return j
		}
	}
	return -1
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendUnquoted appends the contents of a JSON string (between the
// quotes, already checked by [reader.span]) decoded as encoding/json
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
