package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// This file holds the ledger rules the audit checks entry by entry, as a
// state machine without I/O: [ledger] is what the audit knows after the
// entries before some index (key history, record-type catalog, every
// signer's last seq and counts), and each entry is checked in four steps
// (see [ledger.check]).

// Problem codes. Every [Problem] carries one.
const (
	CodeCheckpoint   = "checkpoint"    // the served checkpoint does not verify under the log key
	CodeQuorum       = "quorum"        // the checkpoint lacks the cosignatures the policy needs
	CodeRollback     = "rollback"      // the served tree is smaller than one verified before
	CodeFork         = "fork"          // the served tree does not extend the one verified before
	CodeTile         = "tile"          // a served hash tile is malformed or disagrees with the entries
	CodeBundle       = "bundle"        // a served entry bundle is malformed or rewrites verified entries
	CodeRoot         = "root"          // the entries do not hash to the checkpoint's root
	CodeMalformed    = "malformed"     // an entry is not an envelope
	CodeNotCanonical = "not-canonical" // an entry is an envelope, spelled other than canonically
	CodeUnknownKey   = "unknown-key"   // no key of the signer with that id is valid at the index
	CodeBadSignature = "bad-signature" // the signature does not verify under the signer's key
	CodeSeqGap       = "seq-gap"       // a signer skipped seqs
	CodeSeqReplay    = "seq-replay"    // a signer used a seq again
	CodeWrongOwner   = "wrong-owner"   // a grant or revoke not signed by the record type's owner
	CodeNotGateway   = "not-gateway"   // an access entry not signed by the gateway, or the gateway signing something else
	CodeSchema       = "schema"        // a record change or schema entry that the department's schemas refuse
	CodeKey          = "key"           // a department.key entry that may not do what it says
)

// Problem is one thing wrong with the served log, with the evidence.
type Problem struct {
	Code string `json:"code"`
	// Index is the entry's ledger index (or the first entry a bad tile
	// covers); absent for problems with the checkpoint.
	Index *uint64 `json:"index,omitempty"`
	// Resource is the served path at fault, when it is one.
	Resource   string `json:"resource,omitempty"`
	Department string `json:"department,omitempty"`
	Seq        uint64 `json:"seq,omitempty"`
	Reason     string `json:"reason"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Index != nil {
		fmt.Fprintf(&b, "index %d: ", *p.Index)
	}
	if p.Resource != "" {
		fmt.Fprintf(&b, "%s: ", p.Resource)
	}
	fmt.Fprintf(&b, "%s: %s", p.Code, p.Reason)
	return b.String()
}

func at(i uint64) *uint64 { return &i }

// Department is what the audit counted of one signer (a department, the
// gateway, or governance).
type Department struct {
	// Seq is the last seq of its entries that verified.
	Seq uint64 `json:"seq"`
	// Kinds counts its entries by kind.
	Kinds map[schema.Kind]uint64 `json:"kinds"`
}

// Replayed is a department.key or schema entry the audit applied, kept so
// that a later run rebuilds the key history and the catalog.
type Replayed struct {
	Index uint64 `json:"index"`
	Entry []byte `json:"entry"`
}

// ledger is the audit's knowledge of the ledger up to some index.
type ledger struct {
	keys    *schema.KeyRing
	catalog *schema.Catalog
	gateway string
	depts   map[string]*Department
	// undecodable counts entries that are not canonical envelopes.
	undecodable uint64
	replay      []Replayed
}

// newLedger returns the ledger state after the given replayed entries.
func newLedger(g *schema.Genesis, schemas func() (*schema.Catalog, error), gateway string, depts map[string]*Department, undecodable uint64, replay []Replayed) (*ledger, error) {
	keys, err := schema.NewKeyRing(g)
	if err != nil {
		return nil, err
	}
	cat, err := schemas()
	if err != nil {
		return nil, err
	}
	l := &ledger{keys: keys, catalog: cat, gateway: gateway, depts: map[string]*Department{}, undecodable: undecodable}
	for d, s := range depts {
		c := &Department{Seq: s.Seq, Kinds: map[schema.Kind]uint64{}}
		for k, n := range s.Kinds {
			c.Kinds[k] = n
		}
		l.depts[d] = c
	}
	for _, r := range replay {
		env, err := schema.DecodeEnvelope(r.Entry)
		if err != nil {
			return nil, fmt.Errorf("replayed entry %d: %w", r.Index, err)
		}
		if err := l.apply(env, r.Index); err != nil {
			return nil, fmt.Errorf("replayed entry %d: %w", r.Index, err)
		}
		l.replay = append(l.replay, r)
	}
	return l, nil
}

// apply applies a verified department.key or schema entry.
func (l *ledger) apply(env *schema.Envelope, index uint64) error {
	switch env.Kind {
	case schema.KindDepartmentKey:
		return l.keys.Apply(env, index)
	case schema.KindSchema:
		return l.catalog.AddVersion(env.Department, env.Schema.RecordType)
	}
	return fmt.Errorf("a %s entry changes neither keys nor schemas", env.Kind)
}

// entry is one entry on its way through [ledger.check].
type entry struct {
	index uint64
	raw   []byte
	leaf  []byte

	env      *schema.Envelope
	err      error // not a canonical envelope
	msg, sig []byte

	pub      ed25519.PublicKey
	keyErr   error
	verified bool // the signature was checked (sigOK is the outcome)
	sigOK    bool
	problems []Problem // found while resolving
}

// prepare is step 1, independent per entry (run on all cores): the leaf
// hash, the strict decode, the signed bytes.
func prepare(e *entry) {
	e.leaf = merkle.LeafHash(e.raw)
	e.env, e.err = schema.DecodeEnvelope(e.raw)
	if e.err != nil {
		return
	}
	e.msg, e.err = e.env.SigningBytes()
	if e.err == nil {
		e.sig, e.err = base64.RawURLEncoding.DecodeString(e.env.Sig)
	}
}

// resolve is step 2, in index order: the key valid at the index, the
// checks against the catalog as it stands there, and — for the entries
// that change keys or schemas, which the next entries depend on — the
// signature now and the change.
func (l *ledger) resolve(e *entry) {
	if e.err != nil {
		return
	}
	env := e.env
	e.pub, e.keyErr = l.keys.ResolveKey(env.Department, env.KeyID, e.index)
	e.problems = l.catalogProblems(e)
	if e.keyErr != nil || (env.Kind != schema.KindDepartmentKey && env.Kind != schema.KindSchema) {
		return
	}
	e.verified, e.sigOK = true, ed25519.Verify(e.pub, e.msg, e.sig)
	if !e.sigOK {
		return
	}
	if err := l.apply(env, e.index); err != nil {
		code := CodeKey
		if env.Kind == schema.KindSchema {
			code = CodeSchema
		}
		e.problems = append(e.problems, e.problem(code, "%v", err))
		return
	}
	l.replay = append(l.replay, Replayed{Index: e.index, Entry: e.raw})
}

func (e *entry) problem(code, format string, args ...any) Problem {
	p := Problem{Code: code, Index: at(e.index), Reason: fmt.Sprintf(format, args...)}
	if e.env != nil {
		p.Department, p.Seq = e.env.Department, e.env.Seq
	}
	return p
}

// catalogProblems checks a record change against its department's record
// type, and a grant or revoke against the owner of the type it names.
func (l *ledger) catalogProblems(e *entry) []Problem {
	env := e.env
	var out []Problem
	switch env.Kind {
	case schema.KindRecordChange:
		ch := env.Change
		rt, err := l.catalog.RecordType(env.Department, ch.Type, ch.SchemaVersion)
		if err != nil {
			return []Problem{e.problem(CodeSchema, "%s has no record type %s version %d", env.Department, ch.Type, ch.SchemaVersion)}
		}
		for name := range ch.Digests {
			if _, ok := rt.Field(name); !ok {
				out = append(out, e.problem(CodeSchema, "%s version %d has no field %q", ch.Type, ch.SchemaVersion, name))
			}
		}
		if ch.Op == schema.OpUpsert {
			for _, f := range rt.Fields {
				if _, ok := ch.Digests[f.Name]; f.Required && !ok {
					out = append(out, e.problem(CodeSchema, "upsert of %s lacks required field %q", ch.Type, f.Name))
				}
			}
		}
		slices.SortFunc(out, func(a, b Problem) int { return strings.Compare(a.Reason, b.Reason) })
	case schema.KindGrant:
		g := env.Grant
		rt, err := l.catalog.RecordType(env.Department, g.Type, 0)
		if err != nil {
			return []Problem{e.problem(CodeWrongOwner, "grant of %s signed by %s, which does not own it%s", g.Type, env.Department, l.owners(g.Type))}
		}
		for _, f := range g.Fields {
			if _, ok := rt.Field(f); !ok {
				out = append(out, e.problem(CodeSchema, "grant names field %q, which %s does not have", f, g.Type))
			}
		}
	case schema.KindRevoke:
		r := env.Revoke
		if _, err := l.catalog.RecordType(env.Department, r.Type, 0); err != nil {
			return []Problem{e.problem(CodeWrongOwner, "revoke of %s signed by %s, which does not own it%s", r.Type, env.Department, l.owners(r.Type))}
		}
	}
	return out
}

// owners names the departments that own a record type of that name.
func (l *ledger) owners(recordType string) string {
	var own []string
	for _, d := range l.catalog.Departments() {
		if _, err := l.catalog.RecordType(d, recordType, 0); err == nil {
			own = append(own, d)
		}
	}
	if len(own) == 0 {
		return " (no department has it)"
	}
	return " (owner: " + strings.Join(own, ", ") + ")"
}

// verifyBatch is step 3 (run on all cores): the signatures not checked
// yet.
func verifyBatch(es []*entry) {
	var items []schema.BatchItem
	var pos []*entry
	for _, e := range es {
		if e.err != nil || e.keyErr != nil || e.verified {
			continue
		}
		items = append(items, schema.BatchItem{PublicKey: e.pub, Message: e.msg, Signature: e.sig})
		pos = append(pos, e)
	}
	for i, err := range schema.VerifyBatch(items) {
		pos[i].verified, pos[i].sigOK = true, err == nil
	}
}

// finish is step 4, in index order: counts, the seq rule and who may sign
// what, for an entry whose signature was checked. It returns the entry's
// problems.
func (l *ledger) finish(e *entry) []Problem {
	if e.err != nil {
		l.undecodable++
		code := CodeMalformed
		if errors.Is(e.err, schema.ErrNotCanonical) {
			code = CodeNotCanonical
		}
		return []Problem{e.problem(code, "%v", e.err)}
	}
	env := e.env
	d := l.dept(env.Department)
	d.Kinds[env.Kind]++
	var out []Problem
	switch {
	case e.keyErr != nil:
		return append(out, e.problem(CodeUnknownKey, "%s key %s is not valid at index %d", env.Department, env.KeyID, e.index))
	case !e.sigOK:
		return append(out, e.problem(CodeBadSignature, "signature does not verify under %s key %s", env.Department, env.KeyID))
	}
	var p *Problem
	d.Seq, p = seqRule(d.Seq, env.Seq)
	if p != nil {
		q := e.problem(p.Code, "%s", p.Reason)
		out = append(out, q)
	}
	switch {
	case env.Kind == schema.KindAccess && env.Department != l.gateway:
		out = append(out, e.problem(CodeNotGateway, "access entry signed by %s, not by the gateway %s", env.Department, l.gateway))
	case env.Kind != schema.KindAccess && env.Department == l.gateway:
		out = append(out, e.problem(CodeNotGateway, "the gateway %s signed a %s entry; it signs access entries only", l.gateway, env.Kind))
	}
	return append(out, e.problems...)
}

func (l *ledger) dept(id string) *Department {
	d, ok := l.depts[id]
	if !ok {
		d = &Department{Kinds: map[schema.Kind]uint64{}}
		l.depts[id] = d
	}
	return d
}

// seqRule applies the dense-seq rule to a signer whose last verified seq
// is last and whose next entry has seq: it returns the new last seq and
// the problem, if any. A gap moves on to seq (so one gap is one problem);
// a seq used again keeps last.
func seqRule(last, seq uint64) (uint64, *Problem) {
	switch {
	case seq == last+1:
		return seq, nil
	case seq > last+1:
		missing := fmt.Sprintf("%d", last+1)
		if seq > last+2 {
			missing = fmt.Sprintf("%d..%d", last+1, seq-1)
		}
		return seq, &Problem{Code: CodeSeqGap, Reason: fmt.Sprintf("seq %d follows %d: %s missing", seq, last, missing)}
	default:
		return last, &Problem{Code: CodeSeqReplay, Reason: fmt.Sprintf("seq %d used again (last seq %d)", seq, last)}
	}
}
