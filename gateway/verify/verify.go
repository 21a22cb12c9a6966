package verify

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/merkle/witness"
	"github.com/crossledger/crossledger/schema"
)

// Problem classifies a [Failure], for programs that act on it; the
// Failure's Reason is for people.
type Problem string

const (
	// NoRecords: the response holds no record to verify.
	NoRecords Problem = "no-records"
	// Incomplete: a record or field lacks a key verification needs.
	Incomplete Problem = "incomplete"
	// Malformed: a value has the wrong JSON type or form.
	Malformed Problem = "malformed"
	// EnvelopeInvalid: the envelope does not decode strictly or is not a
	// record change.
	EnvelopeInvalid Problem = "envelope-invalid"
	// UnknownKey: the key ring has no key of that id for the department
	// at the record's leaf.
	UnknownKey Problem = "unknown-key"
	// BadSignature: the envelope's signature does not verify.
	BadSignature Problem = "bad-signature"
	// RecordMismatch: a record's department, type, op, schemaVersion,
	// time, keyId, signature or leaf disagrees with the envelope or proof.
	RecordMismatch Problem = "record-mismatch"
	// DisclosureInvalid: a disclosure does not parse, or names another
	// field.
	DisclosureInvalid Problem = "disclosure-invalid"
	// DisclosureDigest: a disclosure does not hash to the envelope's
	// digest for its field.
	DisclosureDigest Problem = "disclosure-digest"
	// FieldDigest: a field's digest is not the envelope's digest.
	FieldDigest Problem = "field-digest"
	// ValueMismatch: the value shown is not the disclosed value.
	ValueMismatch Problem = "value-mismatch"
	// Undisclosed: a value is shown without a disclosure, or a field is
	// neither disclosed nor consistently redacted.
	Undisclosed Problem = "undisclosed"
	// ExtraField: a field the envelope does not commit to.
	ExtraField Problem = "extra-field"
	// MissingField: a field the envelope commits to is not in fields.
	MissingField Problem = "missing-field"
	// DuplicateField: a field listed twice.
	DuplicateField Problem = "duplicate-field"
	// SchemaViolation: with [WithCatalog], a record or value that breaks
	// its record type.
	SchemaViolation Problem = "schema"
	// ProofInvalid: the proof does not decode.
	ProofInvalid Problem = "proof-invalid"
	// ProofIndex: the proof's index is not the record's leaf.
	ProofIndex Problem = "proof-index"
	// CheckpointInvalid: a checkpoint is not signed by the log key.
	CheckpointInvalid Problem = "checkpoint-invalid"
	// Inclusion: the inclusion proof does not prove the envelope.
	Inclusion Problem = "inclusion"
	// Fork: two signed checkpoints of one size with different roots.
	Fork Problem = "fork"
	// Quorum: with [WithPolicy], a checkpoint lacks the cosignatures of
	// the policy's quorum of witnesses, or one of its cosignatures by a
	// known witness does not verify.
	Quorum Problem = "quorum"
)

// Failure is one thing that did not verify.
type Failure struct {
	// Path is the JSON path of the value concerned, e.g.
	// data.person.departments[2].records[0].fields[3].
	Path    string
	Problem Problem
	// Reason says what failed and what it means.
	Reason string
}

func (f Failure) String() string { return f.Path + ": " + f.Reason }

// Checkpoint is one distinct signed checkpoint the response relies on.
type Checkpoint struct {
	Origin   string
	Size     uint64
	RootHash string // standard base64
	Records  int    // records whose proofs are against it
	// Witnesses are, with [WithPolicy], the policy names of the witnesses
	// whose cosignatures on it verified.
	Witnesses []string
}

// Report is the outcome of [Response].
type Report struct {
	Records         int // record objects found (verified or not)
	DisclosedFields int // fields whose disclosure verified
	RedactedFields  int // redacted fields whose digest is the envelope's
	// CheckpointSize is the largest verified checkpoint's tree size.
	CheckpointSize uint64
	// Checkpoints are the distinct verified checkpoints, by size.
	Checkpoints []Checkpoint
	// AccessID is extensions.access.id, the access entry the gateway
	// logged for this response ("" when absent).
	AccessID string
	// Errors are the response's GraphQL errors ("message (at path)"):
	// not verification failures, but parts of the answer that are
	// missing.
	Errors []string
	// Failures lists everything that did not verify, in response order.
	Failures []Failure
}

// OK reports whether everything verified.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// Option configures [Response].
type Option func(*options)

type options struct {
	catalog *schema.Catalog
	policy  *witness.Policy
}

// WithPolicy also requires every checkpoint to carry cosignatures meeting
// the C2SP tlog-policy's quorum, and reports which witnesses vouched.
func WithPolicy(p *witness.Policy) Option {
	return func(o *options) { o.policy = p }
}

// WithCatalog also checks records against their record types: the
// envelope's type and schema version exist for its department, every
// disclosed value is canonical for its field type, and the record's
// "key", when present, equals the disclosed key fields.
func WithCatalog(c *schema.Catalog) Option {
	return func(o *options) { o.catalog = c }
}

// Response verifies a GraphQL response as saved from the gateway (see the
// package documentation for the shape and the checks). logVerifier is the
// log's checkpoint key; keys resolves department keys (usually built from
// the genesis file, plus any department.key entries the caller applied).
//
// It returns an error only when data is not a readable GraphQL response
// (not JSON, duplicate keys, neither "data" nor "errors"), or when
// logVerifier or keys is nil.
func Response(data []byte, logVerifier note.Verifier, keys *schema.KeyRing, opts ...Option) (*Report, error) {
	if logVerifier == nil || keys == nil {
		return nil, errors.New("verify: need a log verifier and a key ring")
	}
	root, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("verify: couldn't read the response: %w", err)
	}
	if root.kind != kObject {
		return nil, fmt.Errorf("verify: couldn't read the response: it is %s, not a JSON object", root.kind)
	}
	dataV, hasData := root.get("data")
	errsV, hasErrs := root.get("errors")
	if !hasData && !hasErrs {
		return nil, errors.New(`verify: couldn't read the response: it has neither "data" nor "errors", so it is not a GraphQL response`)
	}
	v := &verifier{log: logVerifier, keys: keys, report: &Report{}, roots: map[uint64]seenRoot{}, cps: map[string]*Checkpoint{}, witnesses: map[string][]string{}}
	for _, o := range opts {
		o(&v.opts)
	}
	if hasErrs {
		v.graphQLErrors(errsV)
	}
	if ext, ok := root.get("extensions"); ok {
		if acc, ok := ext.get("access"); ok {
			if id, ok := acc.get("id"); ok && id.kind == kString {
				v.report.AccessID = id.str
			}
		}
	}
	if hasData {
		v.walk(dataV, "data")
	}
	if v.report.Records == 0 {
		v.fail("data", NoRecords, "the response holds no records (objects with envelope, proof and fields): nothing was verified")
	}
	for _, c := range v.cps {
		v.report.Checkpoints = append(v.report.Checkpoints, *c)
	}
	slices.SortFunc(v.report.Checkpoints, func(a, b Checkpoint) int {
		return cmp.Or(cmp.Compare(a.Size, b.Size), cmp.Compare(a.RootHash, b.RootHash))
	})
	if n := len(v.report.Checkpoints); n > 0 {
		v.report.CheckpointSize = v.report.Checkpoints[n-1].Size
	}
	return v.report, nil
}

type verifier struct {
	log    note.Verifier
	keys   *schema.KeyRing
	opts   options
	report *Report
	roots  map[uint64]seenRoot    // tree size → first root seen, for fork detection
	cps    map[string]*Checkpoint // size/root → checkpoint
	// witnesses: signed checkpoint → the policy names that cosigned it
	witnesses map[string][]string
}

type seenRoot struct {
	hash string
	path string
}

func (v *verifier) fail(path string, p Problem, format string, args ...any) {
	v.report.Failures = append(v.report.Failures, Failure{Path: path, Problem: p, Reason: fmt.Sprintf(format, args...)})
}

func (v *verifier) graphQLErrors(errs *value) {
	if errs.kind != kArray {
		v.report.Errors = append(v.report.Errors, "errors is "+errs.kind.String()+", not a list")
		return
	}
	for _, e := range errs.elems {
		msg := "(no message)"
		if m, ok := e.get("message"); ok && m.kind == kString {
			msg = m.str
		}
		if p, ok := e.get("path"); ok && p.kind == kArray {
			at := "data"
			for _, s := range p.elems {
				switch s.kind {
				case kString:
					at = member(at, s.str)
				case kNumber:
					at += "[" + s.str + "]"
				}
			}
			msg += " (at " + at + ")"
		}
		v.report.Errors = append(v.report.Errors, msg)
	}
}

// walk finds records and checkpoints anywhere under val.
func (v *verifier) walk(val *value, path string) {
	switch val.kind {
	case kArray:
		for i, e := range val.elems {
			v.walk(e, index(path, i))
		}
	case kObject:
		if _, ok := val.get("envelope"); ok {
			v.record(val, path)
			return
		}
		if s, ok := val.get("signed"); ok {
			if _, ok := val.get("rootHash"); ok {
				v.checkpointObject(val, s, path)
			}
		}
		for i, k := range val.keys {
			v.walk(val.vals[i], member(path, k))
		}
	}
}

// record verifies one Record object.
func (v *verifier) record(rec *value, path string) {
	v.report.Records++
	envV, _ := rec.get("envelope")
	proofV, hasProof := rec.get("proof")
	fieldsV, hasFields := rec.get("fields")
	var missing []string
	if !hasProof {
		missing = append(missing, "proof")
	}
	if !hasFields {
		missing = append(missing, "fields")
	}
	if len(missing) > 0 {
		v.fail(path, Incomplete, "record lacks %s: select envelope, proof and fields under these names (not aliased) to verify it", strings.Join(missing, " and "))
		return
	}
	if envV.kind != kString {
		v.fail(member(path, "envelope"), Malformed, "envelope is %s, not a string holding the signed envelope", envV.kind)
		return
	}
	entry := []byte(envV.str)

	// The proof first: its index is the ledger index the signing key is
	// resolved at.
	leaf, hasLeaf := v.leaf(rec, path)
	index, indexKnown := leaf, hasLeaf
	if p, cp, ok := v.proof(proofV, member(path, "proof"), entry); ok {
		if hasLeaf && p.Index != leaf {
			v.fail(member(path, "proof"), ProofIndex, "the proof is for leaf %d but the record says leaf %d: the proof belongs to another entry", p.Index, leaf)
		}
		index, indexKnown = p.Index, true
		if cp != nil {
			cp.Records++
		}
	}

	env, err := schema.DecodeEnvelope(entry)
	if err != nil {
		v.fail(member(path, "envelope"), EnvelopeInvalid, "the envelope does not decode strictly (%v): it is not the canonical signed envelope the department logged", err)
		return
	}
	if env.Kind != schema.KindRecordChange {
		v.fail(member(path, "envelope"), EnvelopeInvalid, "the envelope is a %s entry, not a record change", env.Kind)
		return
	}
	if indexKnown {
		pub, err := v.keys.ResolveKey(env.Department, env.KeyID, index)
		switch {
		case err != nil:
			v.fail(member(path, "envelope"), UnknownKey, "the key ring has no key %s of department %s valid at leaf %d: the signer is unknown (check --keys) or the key was rotated out", env.KeyID, env.Department, index)
		case schema.Verify(env, pub) != nil:
			v.fail(member(path, "envelope"), BadSignature, "the signature does not verify under key %s of %s: the envelope was altered after it was signed", env.KeyID, env.Department)
		}
	} else {
		v.fail(member(path, "envelope"), Incomplete, "the signature was not checked: with no valid proof and no leaf, the ledger index to resolve key %s of %s at is unknown", env.KeyID, env.Department)
	}
	v.agree(rec, path, env)
	v.fields(fieldsV, member(path, "fields"), env, rec, path)
}

// leaf reads the record's optional leaf.
func (v *verifier) leaf(rec *value, path string) (uint64, bool) {
	l, ok := rec.get("leaf")
	if !ok {
		return 0, false
	}
	n, err := uintOf(l)
	if err != nil {
		v.fail(member(path, "leaf"), Malformed, "leaf %s", err)
		return 0, false
	}
	return n, true
}

func uintOf(val *value) (uint64, error) {
	if val.kind != kNumber {
		return 0, fmt.Errorf("is %s, not an unsigned integer", val.kind)
	}
	n, err := strconv.ParseUint(val.str, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != val.str {
		return 0, fmt.Errorf("%s is not an unsigned 64-bit integer", val.str)
	}
	return n, nil
}

// proof decodes and verifies a record's proof of entry. ok reports
// whether the proof decoded (its index is meaningful); cp is the verified
// checkpoint, or nil.
func (v *verifier) proof(val *value, path string, entry []byte) (p *merkle.Proof, cp *Checkpoint, ok bool) {
	if val.kind != kString {
		v.fail(path, Malformed, "proof is %s, not a string holding a c2sp.org/tlog-proof@v1", val.kind)
		return nil, nil, false
	}
	p, err := merkle.DecodeProof([]byte(val.str))
	if err != nil {
		v.fail(path, ProofInvalid, "the proof does not decode: %v", err)
		return nil, nil, false
	}
	c, ok := v.checkpoint(p.Checkpoint, path)
	if !ok {
		return p, nil, true
	}
	if _, err := p.Verify(entry, v.log); err != nil {
		v.fail(path, Inclusion, "the inclusion proof does not prove this envelope at leaf %d in the tree of size %d: the envelope or the proof was altered", p.Index, c.Size)
		return p, nil, true
	}
	return p, v.noteCheckpoint(c, p.Checkpoint, path), true
}

// checkpoint verifies a signed checkpoint note.
func (v *verifier) checkpoint(signed []byte, path string) (merkle.Checkpoint, bool) {
	c, _, err := merkle.ParseCheckpoint(signed, v.log)
	if err == nil {
		if v.opts.policy != nil {
			vd, err := v.opts.policy.Check(signed, v.log)
			if err != nil {
				v.fail(path, Quorum, "the checkpoint is not vouched for by the policy's witnesses: %v", strings.TrimPrefix(err.Error(), "witness: "))
				return merkle.Checkpoint{}, false
			}
			v.witnesses[string(signed)] = vd.Witnesses
		}
		return c, true
	}
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		v.fail(path, CheckpointInvalid, "the checkpoint is not signed by the log key %s: a wrong log key was given, or the checkpoint is from another log", v.log.Name())
	case errors.As(err, &invalid):
		v.fail(path, CheckpointInvalid, "the checkpoint's signature by the log key %s does not verify: the checkpoint was altered", v.log.Name())
	default:
		v.fail(path, CheckpointInvalid, "the checkpoint does not verify: %v", err)
	}
	return merkle.Checkpoint{}, false
}

// noteCheckpoint records a verified checkpoint and reports a fork.
func (v *verifier) noteCheckpoint(c merkle.Checkpoint, signed []byte, path string) *Checkpoint {
	root := base64.StdEncoding.EncodeToString(c.Hash)
	if seen, ok := v.roots[c.Size]; ok && seen.hash != root {
		v.fail(path, Fork, "the log signed two different trees of size %d (root %s here, %s at %s): the log forked; keep this response as evidence", c.Size, root, seen.hash, seen.path)
	} else if !ok {
		v.roots[c.Size] = seenRoot{hash: root, path: path}
	}
	k := strconv.FormatUint(c.Size, 10) + "/" + root
	cp, ok := v.cps[k]
	if !ok {
		cp = &Checkpoint{Origin: c.Origin, Size: c.Size, RootHash: root}
		v.cps[k] = cp
	}
	for _, w := range v.witnesses[string(signed)] {
		if !slices.Contains(cp.Witnesses, w) {
			cp.Witnesses = append(cp.Witnesses, w)
		}
	}
	slices.Sort(cp.Witnesses)
	return cp
}

// checkpointObject verifies a Checkpoint object (origin, size, rootHash,
// signed).
func (v *verifier) checkpointObject(obj, signed *value, path string) {
	sp := member(path, "signed")
	if signed.kind != kString {
		v.fail(sp, Malformed, "signed is %s, not a string holding the signed checkpoint", signed.kind)
		return
	}
	c, ok := v.checkpoint([]byte(signed.str), sp)
	if !ok {
		return
	}
	v.noteCheckpoint(c, []byte(signed.str), sp)
	if o, ok := obj.get("origin"); ok && (o.kind != kString || o.str != c.Origin) {
		v.fail(member(path, "origin"), RecordMismatch, "origin differs from the signed checkpoint's origin %q", c.Origin)
	}
	if s, ok := obj.get("size"); ok {
		if n, err := uintOf(s); err != nil || n != c.Size {
			v.fail(member(path, "size"), RecordMismatch, "size differs from the signed checkpoint's size %d", c.Size)
		}
	}
	if r, ok := obj.get("rootHash"); ok && (r.kind != kString || r.str != base64.StdEncoding.EncodeToString(c.Hash)) {
		v.fail(member(path, "rootHash"), RecordMismatch, "rootHash differs from the signed checkpoint's root hash %s", base64.StdEncoding.EncodeToString(c.Hash))
	}
}

// agree checks the record's optional metadata against the envelope.
func (v *verifier) agree(rec *value, path string, env *schema.Envelope) {
	str := func(key, want, what string) {
		val, ok := rec.get(key)
		if !ok {
			return
		}
		if val.kind != kString || val.str != want {
			v.fail(member(path, key), RecordMismatch, "the record says %s %s but the signed envelope says %q: the record's metadata was altered", what, show(val), want)
		}
	}
	str("department", env.Department, "department")
	str("type", env.Change.Type, "type")
	str("op", string(env.Change.Op), "op")
	str("keyId", env.KeyID, "key id")
	str("signature", env.Sig, "signature")
	if val, ok := rec.get("schemaVersion"); ok {
		if n, err := uintOf(val); err != nil || n != uint64(env.Change.SchemaVersion) {
			v.fail(member(path, "schemaVersion"), RecordMismatch, "the record says schema version %s but the signed envelope says %d: the record's metadata was altered", show(val), env.Change.SchemaVersion)
		}
	}
	if val, ok := rec.get("time"); ok {
		want, _ := time.Parse(time.RFC3339, env.Time)
		got, err := time.Parse(time.RFC3339, val.str)
		if val.kind != kString || err != nil || !got.Equal(want) {
			v.fail(member(path, "time"), RecordMismatch, "the record says time %s but the signed envelope says %s: the record's metadata was altered", show(val), env.Time)
		}
	}
}

// show renders a scalar for a failure message.
func show(val *value) string {
	switch val.kind {
	case kString:
		return strconv.Quote(val.str)
	case kNumber:
		return val.str
	case kBool:
		return strconv.FormatBool(val.b)
	}
	return val.kind.String()
}

// fields verifies a record's fields against the envelope's digests.
func (v *verifier) fields(list *value, path string, env *schema.Envelope, rec *value, recPath string) {
	if list.kind != kArray {
		v.fail(path, Malformed, "fields is %s, not a list", list.kind)
		return
	}
	var rt *schema.RecordType
	if v.opts.catalog != nil {
		var err error
		rt, err = v.opts.catalog.RecordType(env.Department, env.Change.Type, env.Change.SchemaVersion)
		if err != nil {
			v.fail(member(recPath, "envelope"), SchemaViolation, "the catalog has no record type %s version %d of %s: %v", env.Change.Type, env.Change.SchemaVersion, env.Department, err)
		}
	}
	digests := env.Change.Digests
	seen := map[string]string{} // name → path of its first field
	disclosed := map[string]string{}
	for i, f := range list.elems {
		fp := index(path, i)
		if n, ok := f.get("name"); ok && n.kind == kString {
			if first, dup := seen[n.str]; dup {
				v.fail(fp, DuplicateField, "field %s is listed twice (first at %s)", n.str, first)
				continue
			}
		}
		name, text, ok := v.field(f, fp, digests, rt)
		if name == "" {
			continue
		}
		seen[name] = fp
		if ok && text != nil {
			disclosed[name] = *text
		}
	}
	for _, name := range sortedKeys(digests) {
		if _, ok := seen[name]; !ok {
			v.fail(path, MissingField, "field %s, which the signed envelope commits to, is missing: a record must list every committed field, redacted or not", name)
		}
	}
	if rt != nil {
		v.key(rec, recPath, rt, disclosed)
	}
}

// field verifies one field object. It returns the field's name ("" when
// unreadable), the disclosed value (nil when redacted or unverified) and
// whether the field verified.
func (v *verifier) field(f *value, path string, digests map[string]string, rt *schema.RecordType) (string, *string, bool) {
	if f.kind != kObject {
		v.fail(path, Malformed, "field is %s, not an object", f.kind)
		return "", nil, false
	}
	var missing []string
	get := func(k string) *value {
		val, ok := f.get(k)
		if !ok {
			missing = append(missing, k)
		}
		return val
	}
	nameV, valueV, discV, digestV := get("name"), get("value"), get("disclosure"), get("digest")
	if nameV != nil && (nameV.kind != kString || nameV.str == "") {
		v.fail(member(path, "name"), Malformed, "name is %s, not a field name", show(nameV))
		return "", nil, false
	}
	if len(missing) > 0 {
		v.fail(path, Incomplete, "field lacks %s: select name, value, disclosure and digest of every field (not aliased) to verify it", strings.Join(missing, ", "))
		if nameV != nil {
			return nameV.str, nil, false // listed, if not verifiable
		}
		return "", nil, false
	}
	name := nameV.str
	if digestV.kind != kString {
		v.fail(member(path, "digest"), Malformed, "digest of field %s is %s, not a string", name, digestV.kind)
		return name, nil, false
	}
	want, committed := digests[name]
	if !committed {
		v.fail(path, ExtraField, "field %s is not committed to by the signed envelope: it was added, or belongs to another record", name)
		return name, nil, false
	}
	ok := true
	if digestV.str != want {
		v.fail(member(path, "digest"), FieldDigest, "the digest shown for field %s is not the one signed in the envelope: the field belongs to another record or was altered", name)
		ok = false
	}
	redacted := valueV.kind == kNull && discV.kind == kNull
	if r, has := f.get("redacted"); has && (r.kind != kBool || r.b != redacted) {
		v.fail(member(path, "redacted"), Undisclosed, "redacted is %s but field %s %s", show(r), name, map[bool]string{true: "has no value and no disclosure", false: "has a value or a disclosure"}[redacted])
		ok = false
	}
	if redacted {
		if ok {
			v.report.RedactedFields++
		}
		return name, nil, ok
	}
	if discV.kind == kNull {
		v.fail(member(path, "value"), Undisclosed, "field %s shows a value without its disclosure: the value is not covered by the department's signature", name)
		return name, nil, false
	}
	if discV.kind != kString {
		v.fail(member(path, "disclosure"), Malformed, "disclosure of field %s is %s, not a string", name, discV.kind)
		return name, nil, false
	}
	d, err := schema.ParseDisclosure(discV.str)
	if err != nil {
		v.fail(member(path, "disclosure"), DisclosureInvalid, "the disclosure of field %s does not parse (%v): it was altered or is not a crossledger disclosure", name, err)
		return name, nil, false
	}
	if d.Name != name {
		v.fail(member(path, "disclosure"), DisclosureInvalid, "the disclosure shown for field %s discloses field %s: it was swapped", name, d.Name)
		return name, nil, false
	}
	if d.Digest() != want {
		v.fail(member(path, "disclosure"), DisclosureDigest, "disclosure digest does not match the envelope's digest for field %s: the value was altered or the disclosure belongs to another record", name)
		return name, nil, false
	}
	text := textOf(d.Value)
	switch {
	case valueV.kind == kNull:
		v.fail(member(path, "value"), Undisclosed, "field %s has a disclosure but a null value (the disclosed value is %q)", name, text)
		return name, nil, false
	case valueV.kind != kString:
		v.fail(member(path, "value"), Malformed, "value of field %s is %s, not a string in canonical text", name, valueV.kind)
		return name, nil, false
	case valueV.str != text:
		v.fail(member(path, "value"), ValueMismatch, "the value shown for field %s (%q) is not the disclosed, signed value (%q): the value was altered", name, valueV.str, text)
		return name, nil, false
	}
	if rt != nil {
		fd, found := rt.Field(name)
		if !found {
			v.fail(path, SchemaViolation, "record type %s version %d has no field %s", rt.Name, rt.Version, name)
			return name, nil, false
		}
		if _, err := fd.ParseJSON(d.Value); err != nil {
			v.fail(member(path, "value"), SchemaViolation, "the disclosed value of field %s is not valid for its type %s: %v", name, fd.Type, err)
			return name, nil, false
		}
	}
	if ok {
		v.report.DisclosedFields++
	}
	return name, &text, ok
}

// key checks the record's "key" against the disclosed key fields.
func (v *verifier) key(rec *value, path string, rt *schema.RecordType, values map[string]string) {
	k, ok := rec.get("key")
	if !ok {
		return
	}
	kp := member(path, "key")
	if k.kind != kArray || len(k.elems) != len(rt.Key) {
		v.fail(kp, SchemaViolation, "key is not a list of the %d key fields of %s (%s)", len(rt.Key), rt.Name, strings.Join(rt.Key, ", "))
		return
	}
	for i, name := range rt.Key {
		want, ok := values[name]
		if !ok {
			continue // redacted: the envelope names records by a keyed hash only
		}
		if e := k.elems[i]; e.kind != kString || e.str != want {
			v.fail(index(kp, i), RecordMismatch, "key field %s is %s but its disclosed value is %q: the record's key was altered", name, show(e), want)
		}
	}
}

// textOf is the canonical text of a disclosed value: ints and bools as
// their JSON text, strings as they are.
func textOf(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
