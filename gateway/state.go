package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

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
	if len(c) > 256 {
		st.mu.Unlock()
		return nil, badRequest("caseRef is limited to 256 bytes")
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
