package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// reqState is one request's context: who asks, the checkpoint every
// answer is proven against, and what the request disclosed and was
// denied, which becomes its access entry.
type reqState struct {
	g             *Gateway
	authenticated bool
	id            auth.Identity
	signed        []byte // the checkpoint, verbatim
	cp            merkle.Checkpoint
	now           time.Time

	mu        sync.Mutex
	op        string // the first root field resolved, for metrics
	purpose   string // the request's one purpose (set by the first data query)
	caseRef   string
	data      bool                  // a data query ran: the request gets an access entry
	subjects  map[string]bool       // subject tags concerned
	disclosed map[uint64][]string   // leaf → disclosed fields
	denials   []schema.AccessDenial // in order
	authzs    map[string]*authz     // purpose → authorisation (one purpose per request, but cheap)
	events    []store.GrantEvent    // grant events below cp.Size, loaded once
	loaded    bool
	// reads names what a request that declared no purpose read (the
	// access log, grants): the purpose of its access entry.
	reads    string
	denySeen map[string]bool // leafless denials already recorded
	warnings []string        // for extensions.warnings: why an answer is empty
}

func (st *reqState) warningList() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.warnings)
}

// warn adds a warning to the response's extensions (once per text).
func (st *reqState) warn(msg string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Contains(st.warnings, msg) {
		st.warnings = append(st.warnings, msg)
	}
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// begin records that a data query with purpose and caseRef runs, checks
// the purpose, and returns the caller's authorisation for it. Every
// failure is a denial that is logged.
func (st *reqState) begin(ctx context.Context, department string, purpose, caseRef *string) (*authz, error) {
	p, c := deref(purpose), deref(caseRef)
	st.mu.Lock()
	st.data = true
	if err := checkCaseRef(c); err != nil {
		st.mu.Unlock()
		return nil, badRequest(err.Error())
	}
	switch {
	case p == "":
		st.denyLocked(schema.AccessDenial{Department: department, Reason: "no-purpose"})
		st.mu.Unlock()
		return nil, denied("no-purpose", "every data query must name a purpose (the business purpose of this access, e.g. \"real-estate-transfer\")")
	case !slices.Contains(st.g.cfg.Purposes, p):
		st.denyLocked(schema.AccessDenial{Department: department, Reason: "unknown-purpose"})
		st.mu.Unlock()
		return nil, denied("unknown-purpose", "unknown purpose; known purposes: "+joinQuoted(st.g.cfg.Purposes))
	case st.purpose != "" && st.purpose != p:
		st.mu.Unlock()
		return nil, badRequest("one request may declare one purpose; split it into one request per purpose")
	}
	st.purpose = p
	if st.caseRef == "" {
		st.caseRef = c
	}
	loaded := st.loaded
	st.mu.Unlock()

	if !loaded {
		evs, err := st.g.grants.upTo(ctx, st.cp.Size, st.g.cfg.GrantWait)
		if err != nil {
			return nil, &Error{Code: codeUnavailable, Msg: "grants are not available for the current checkpoint; try again"}
		}
		st.mu.Lock()
		st.events, st.loaded = evs, true
		st.mu.Unlock()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.authzs[p]
	if a == nil {
		a = newAuthz(st.events, st.id.Department, p, st.now)
		st.authzs[p] = a
	}
	return a, nil
}

// maxCaseRef bounds a case reference, in bytes.
const maxCaseRef = 256

// checkCaseRef accepts a case reference of at most maxCaseRef bytes of
// UTF-8 made of letters, marks, numbers, punctuation, symbols and spaces
// (Unicode's graphic characters: categories L, M, N, P, S and Zs). It is
// signed into access entries forever and shown to auditors and citizens,
// so control characters (NUL, ANSI escapes, DEL), format characters
// (bidirectional overrides, zero-width joiners), line and paragraph
// separators (U+2028, U+2029), private-use and unassigned code points are
// refused.
func checkCaseRef(c string) error {
	if len(c) > maxCaseRef {
		return fmt.Errorf("caseRef is %d bytes, limit %d", len(c), maxCaseRef)
	}
	if !utf8.ValidString(c) {
		return errors.New("caseRef is not valid UTF-8")
	}
	for i, r := range c {
		if !unicode.IsGraphic(r) {
			return fmt.Errorf("caseRef has a character that is not printable (%U at byte %d): use letters, digits, punctuation, symbols and spaces", r, i)
		}
	}
	return nil
}

func (st *reqState) deny(d schema.AccessDenial) {
	st.mu.Lock()
	st.denyLocked(d)
	st.mu.Unlock()
}

func (st *reqState) denyLocked(d schema.AccessDenial) {
	st.data = true
	if d.Department == "" {
		d.Department = st.g.cfg.ID
	}
	if d.Leaf == 0 {
		// One entry per distinct leafless denial: how often a request
		// met it (once per withheld row, say) is not the entry's to say.
		k := d.Department + "\x00" + d.Type + "\x00" + d.Reason + "\x00" + strings.Join(d.Fields, ",")
		if st.denySeen[k] {
			return
		}
		if st.denySeen == nil {
			st.denySeen = map[string]bool{}
		}
		st.denySeen[k] = true
	}
	if len(st.denials) < maxDenials {
		st.denials = append(st.denials, d)
	}
}

// maxDenials bounds the denials one request logs (a records page of a
// type with few granted fields denies on every row).
const maxDenials = 1000

func (st *reqState) disclose(leaf uint64, fields []string, subjects []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(fields) > 0 {
		st.disclosed[leaf] = mergeSorted(st.disclosed[leaf], fields)
	}
	for _, s := range subjects {
		st.subjects[s] = true
	}
}

// withheld records a keyed query refused by the row condition and returns
// the error it answers with, the same whether or not the row exists.
//
// The access entry names the citizens the query itself names — the
// subject: of the query (already noted) and the key fields that are
// subject fields (a resident keyed by citizen id): so the probed citizen
// sees the probe in their own access log — and never the tags of the
// stored row. Access entries are public in the log, and a subject tag is
// the same in every entry (person answers it too): a withheld row's tags
// there would tell anyone reading the log that the row exists and who is
// in it (a marriage id's spouses). The stored row is not read for the
// entry at all.
func (st *reqState) withheld(t *target, key []string) error {
	for i, name := range t.rt.Key {
		if f, ok := t.rt.Field(name); ok && f.Subject && i < len(key) {
			st.subject(schema.SubjectTag(st.g.cfg.LedgerSecret, key[i]))
		}
	}
	st.deny(schema.AccessDenial{Department: t.department, Type: t.recordType, Reason: "row-condition"})
	return rowConditionErr(t)
}

// audit marks a request that read something about people without a data
// query (the access log, grants): it gets an access entry whose purpose
// names what it read, unless a data query declared one.
func (st *reqState) audit(reads string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.data = true
	if st.reads == "" {
		st.reads = reads
	}
}

func (st *reqState) subject(tag string) {
	if tag == "" {
		return
	}
	st.mu.Lock()
	st.subjects[tag] = true
	st.mu.Unlock()
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func joinQuoted(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += `"` + s + `"`
	}
	return out
}

// setOp notes the root field being resolved; the first names the request
// in metrics.
func (st *reqState) setOp(name string) {
	st.mu.Lock()
	if st.op == "" {
		st.op = name
	}
	st.mu.Unlock()
}

func (st *reqState) operation() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.op == "" {
		return "introspection"
	}
	return st.op
}
