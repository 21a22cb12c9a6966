package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// resolver is the root resolver of the SDL's Query and Mutation.
type resolver struct{ g *Gateway }

// dataQuery starts a data query: the caller must be an analyst, the
// purpose known; it returns the caller's authorisation.
func (r *resolver) dataQuery(ctx context.Context, op, department string, purpose, caseRef *string) (*reqState, *authz, error) {
	st, err := authenticated(ctx, op)
	if err != nil {
		return nil, nil, err
	}
	if !st.id.Has(auth.RoleAnalyst) {
		st.deny(schema.AccessDenial{Department: department, Reason: "role"})
		return nil, nil, denied("role", "data queries are for analysts; auditors read the access log and grants, citizens their own access log")
	}
	a, err := st.begin(ctx, department, purpose, caseRef)
	return st, a, err
}

// --- record, history, records ---------------------------------------------

type recordArgs struct {
	Department string
	Type       string
	Key        []string
	Subject    *string
	Purpose    *string
	CaseRef    *string
}

func (r *resolver) Record(ctx context.Context, args recordArgs) (*recordOut, error) {
	st, a, err := r.dataQuery(ctx, "record", args.Department, args.Purpose, args.CaseRef)
	if err != nil {
		return nil, err
	}
	t, key, err := r.keyed(st, a, args)
	if err != nil {
		return nil, err
	}
	rec, err := t.store.Current(ctx, t.department, t.recordType, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, r.g.storeError(t.department, err)
	}
	out, err := r.g.buildRecord(ctx, st, a, t, rec)
	return out, nothingErr(err, t)
}

func (r *resolver) History(ctx context.Context, args recordArgs) ([]*recordOut, error) {
	st, a, err := r.dataQuery(ctx, "history", args.Department, args.Purpose, args.CaseRef)
	if err != nil {
		return nil, err
	}
	t, key, err := r.keyed(st, a, args)
	if err != nil {
		return nil, err
	}
	recs, err := t.store.History(ctx, t.department, t.recordType, key)
	if errors.Is(err, store.ErrNotFound) {
		return []*recordOut{}, nil
	}
	if err != nil {
		return nil, r.g.storeError(t.department, err)
	}
	if len(recs) > r.g.cfg.MaxRecords {
		recs = recs[len(recs)-r.g.cfg.MaxRecords:]
	}
	out := make([]*recordOut, 0, len(recs))
	var firstDenial error
	for _, rec := range recs {
		ro, err := r.g.buildRecord(ctx, st, a, t, rec)
		var nd *errNothingDisclosable
		switch {
		case errors.As(err, &nd):
			if firstDenial == nil {
				firstDenial = nothingErr(err, t)
			}
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, ro)
	}
	if len(out) == 0 && firstDenial != nil {
		return nil, firstDenial
	}
	return out, nil
}

// keyed resolves the target of a keyed query and checks the caller has
// some permission on it.
func (r *resolver) keyed(st *reqState, a *authz, args recordArgs) (*target, []string, error) {
	t, err := r.g.resolveTarget(st, args.Department, args.Type, args.Subject)
	if err != nil {
		return nil, nil, err
	}
	key, err := canonicalKey(t.rt, args.Key)
	if err != nil {
		return nil, nil, err
	}
	if err := st.requireType(a, t); err != nil {
		return nil, nil, err
	}
	return t, key, nil
}

// nothingErr turns errNothingDisclosable into the denial the caller sees.
func nothingErr(err error, t *target) error {
	var nd *errNothingDisclosable
	if errors.As(err, &nd) {
		return denied(nd.reason, fmt.Sprintf("no field of this %s record may be disclosed to you (%s)", t.recordType, reasonText(nd.reason)))
	}
	return err
}

type filterIn struct {
	Field  string
	Eq     *string
	Prefix *string
	Min    *string
	Max    *string
}

type recordsArgs struct {
	Department string
	Type       string
	Where      *[]filterIn
	First      int32
	After      *string
	Subject    *string
	Purpose    *string
	CaseRef    *string
}

type recordConnection struct {
	Edges    []*recordEdge
	PageInfo *pageInfo
}

type recordEdge struct {
	Cursor string
	Node   *recordOut
}

type pageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

// maxPage bounds first on lists.
const maxPage = 100

func (r *resolver) Records(ctx context.Context, args recordsArgs) (*recordConnection, error) {
	st, a, err := r.dataQuery(ctx, "records", args.Department, args.Purpose, args.CaseRef)
	if err != nil {
		return nil, err
	}
	t, err := r.g.resolveTarget(st, args.Department, args.Type, args.Subject)
	if err != nil {
		return nil, err
	}
	if err := st.requireType(a, t); err != nil {
		return nil, err
	}
	first := int(args.First)
	if first < 1 || first > maxPage {
		return nil, badRequest(fmt.Sprintf("first must be between 1 and %d", maxPage))
	}
	q := store.ListQuery{Limit: first, After: deref(args.After)}
	if args.Where != nil {
		// Filtering on a field the caller may not see would reveal its
		// values one query at a time.
		granted := map[string]bool{}
		if t.department == a.consumer {
			for _, f := range t.rt.Fields {
				granted[f.Name] = true
			}
		}
		for _, p := range a.perms[[2]string{t.department, t.recordType}] {
			for _, f := range p.Fields {
				granted[f] = true
			}
		}
		for _, w := range *args.Where {
			f, ok := t.rt.Field(w.Field)
			if !ok {
				return nil, badRequest(fmt.Sprintf("type %s has no field %q", t.recordType, w.Field))
			}
			if !granted[w.Field] {
				st.deny(schema.AccessDenial{Department: t.department, Type: t.recordType, Fields: []string{w.Field}, Reason: "filter-not-granted"})
				return nil, denied("filter-not-granted", fmt.Sprintf("you may not filter on %s.%s: it is not granted to you for this purpose", t.recordType, w.Field))
			}
			sf, err := filterOf(f, w)
			if err != nil {
				return nil, err
			}
			q.Filters = append(q.Filters, sf)
		}
	}
	page, err := t.store.List(ctx, t.department, t.recordType, q)
	if err != nil {
		return nil, r.g.storeError(t.department, err)
	}
	conn := &recordConnection{Edges: []*recordEdge{}, PageInfo: &pageInfo{HasNextPage: page.Next != ""}}
	for _, rec := range page.Records {
		ro, err := r.g.buildRecord(ctx, st, a, t, rec)
		var nd *errNothingDisclosable
		switch {
		case errors.As(err, &nd):
			continue // the denial is logged; the row is left out
		case err != nil:
			return nil, err
		}
		conn.Edges = append(conn.Edges, &recordEdge{Cursor: store.EncodeCursor(store.EncodeKey(rec.Key)), Node: ro})
	}
	if page.Next != "" {
		next := page.Next
		conn.PageInfo.EndCursor = &next
	} else if n := len(page.Records); n > 0 {
		end := store.EncodeCursor(store.EncodeKey(page.Records[n-1].Key))
		conn.PageInfo.EndCursor = &end
	}
	return conn, nil
}

// filterOf turns one SDL filter into a store filter, canonicalising its
// values.
func filterOf(f schema.Field, w filterIn) (store.Filter, error) {
	set := 0
	for _, p := range []*string{w.Eq, w.Prefix} {
		if p != nil {
			set++
		}
	}
	if w.Min != nil || w.Max != nil {
		set++
	}
	if set != 1 {
		return store.Filter{}, badRequest(fmt.Sprintf("filter on %s: give exactly one of eq, prefix, or min/max", w.Field))
	}
	canon := func(s string) (string, error) {
		c, err := f.Canonical(s)
		if err != nil {
			return "", badRequest(fmt.Sprintf("filter on %s: %v", w.Field, err))
		}
		return c, nil
	}
	switch {
	case w.Eq != nil:
		c, err := canon(*w.Eq)
		return store.Filter{Field: w.Field, Op: store.Equal, Type: f.Type, Value: c}, err
	case w.Prefix != nil:
		if len(*w.Prefix) > 256 {
			return store.Filter{}, badRequest("prefix is limited to 256 bytes")
		}
		return store.Filter{Field: w.Field, Op: store.Prefix, Type: f.Type, Value: *w.Prefix}, nil
	}
	sf := store.Filter{Field: w.Field, Op: store.Range, Type: f.Type}
	var err error
	if w.Min != nil {
		if sf.Min, err = canon(*w.Min); err != nil {
			return sf, err
		}
	}
	if w.Max != nil {
		if sf.Max, err = canon(*w.Max); err != nil {
			return sf, err
		}
	}
	return sf, nil
}

// --- person ------------------------------------------------------------------

type personArgs struct {
	CitizenID string
	Purpose   *string
	CaseRef   *string
}

type personOut struct {
	Subject     string
	Departments []*personDept
}

type personDept struct {
	Department string
	records    []*recordOut
	err        error
}

// Records is nullable: a department whose store failed has an error here.
func (p *personDept) Records() (*[]*recordOut, error) {
	if p.err != nil {
		return nil, p.err
	}
	return &p.records, nil
}

func (r *resolver) Person(ctx context.Context, args personArgs) (*personOut, error) {
	st, a, err := r.dataQuery(ctx, "person", "", args.Purpose, args.CaseRef)
	if err != nil {
		return nil, err
	}
	tag, err := r.g.subjectTag(args.CitizenID)
	if err != nil {
		return nil, err
	}
	st.subject(tag)
	out := &personOut{Subject: tag}
	var owners []string
	for _, d := range r.g.deps.Catalog.Departments() {
		if a.anyGrant(d) {
			owners = append(owners, d)
		}
	}
	if len(owners) == 0 {
		st.deny(schema.AccessDenial{Department: st.id.Department, Reason: "no-grant"})
		return nil, denied("no-grant", fmt.Sprintf("no department has granted %s anything for purpose %q", a.consumer, a.purpose))
	}
	fctx, cancel := context.WithTimeout(ctx, r.g.cfg.FederationTimeout)
	defer cancel()
	out.Departments = make([]*personDept, len(owners))
	var wg sync.WaitGroup
	for i, d := range owners {
		out.Departments[i] = &personDept{Department: d}
		wg.Add(1)
		go func(pd *personDept) {
			defer wg.Done()
			pd.records, pd.err = r.personRecords(fctx, st, a, pd.Department, tag)
		}(out.Departments[i])
	}
	wg.Wait()
	return out, nil
}

// personRecords reads one department's records about a citizen.
func (r *resolver) personRecords(ctx context.Context, st *reqState, a *authz, department, tag string) ([]*recordOut, error) {
	s := r.g.deps.Stores[department]
	recs, err := s.BySubject(ctx, department, tag)
	if err != nil {
		return nil, r.g.storeError(department, err)
	}
	out := []*recordOut{}
	for _, rec := range recs {
		if len(out) >= r.g.cfg.MaxRecords {
			break
		}
		if !a.mayRead(department, rec.Type) {
			continue // types the caller has no grant on are not part of the answer
		}
		rt, err := r.g.deps.Catalog.RecordType(department, rec.Type, 0)
		if err != nil {
			continue
		}
		t := &target{department: department, recordType: rec.Type, rt: rt, store: s, subject: tag}
		ro, err := r.g.buildRecord(ctx, st, a, t, rec)
		var nd *errNothingDisclosable
		switch {
		case errors.As(err, &nd):
			continue
		case err != nil:
			return nil, &Error{Code: codeUnavailable, Msg: fmt.Sprintf("department %s: %v", department, err), Extra: map[string]any{"department": department}}
		}
		out = append(out, ro)
	}
	return out, nil
}

// --- checkpoint and proofs ------------------------------------------------------

type checkpointOut struct {
	Origin   string
	Size     Uint64
	RootHash string
	Signed   string
}

func authenticated(ctx context.Context, op string) (*reqState, error) {
	st := stateOf(ctx)
	if st == nil || !st.authenticated {
		return nil, &Error{Code: codeUnauthenticated, Msg: "authentication required"}
	}
	st.setOp(op)
	return st, nil
}

func (r *resolver) Checkpoint(ctx context.Context) (*checkpointOut, error) {
	st, err := authenticated(ctx, "checkpoint")
	if err != nil {
		return nil, err
	}
	return &checkpointOut{Origin: st.cp.Origin, Size: Uint64(st.cp.Size),
		RootHash: base64.StdEncoding.EncodeToString(st.cp.Hash), Signed: string(st.signed)}, nil
}

type inclusionOut struct {
	Index, Size Uint64
	Hashes      []string
}

func (r *resolver) InclusionProof(ctx context.Context, args struct{ Index, Size Uint64 }) (*inclusionOut, error) {
	st, err := authenticated(ctx, "inclusionProof")
	if err != nil {
		return nil, err
	}
	if uint64(args.Size) > st.cp.Size || args.Index >= args.Size {
		return nil, badRequest(fmt.Sprintf("need index < size ≤ %d (the current checkpoint)", st.cp.Size))
	}
	hs, err := r.g.deps.Log.InclusionProof(ctx, uint64(args.Index), uint64(args.Size))
	if err != nil {
		return nil, err
	}
	return &inclusionOut{Index: args.Index, Size: args.Size, Hashes: b64s(hs)}, nil
}

type consistencyOut struct {
	From, To Uint64
	Hashes   []string
}

func (r *resolver) ConsistencyProof(ctx context.Context, args struct{ From, To Uint64 }) (*consistencyOut, error) {
	st, err := authenticated(ctx, "consistencyProof")
	if err != nil {
		return nil, err
	}
	if uint64(args.To) > st.cp.Size || args.From > args.To {
		return nil, badRequest(fmt.Sprintf("need from ≤ to ≤ %d (the current checkpoint)", st.cp.Size))
	}
	hs, err := r.g.deps.Log.ConsistencyProof(ctx, uint64(args.From), uint64(args.To))
	if err != nil {
		return nil, err
	}
	return &consistencyOut{From: args.From, To: args.To, Hashes: b64s(hs)}, nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// --- grants ----------------------------------------------------------------------

type grantsArgs struct {
	Owner, Consumer, Purpose, Type *string
}

type grantOut struct {
	Owner, Consumer, Purpose, Type string
	Fields                         []string
	Condition                      *string
	Expires                        *graphql.Time
	Leaf                           Uint64
}

func (r *resolver) Grants(ctx context.Context, args grantsArgs) ([]*grantOut, error) {
	st, err := authenticated(ctx, "grants")
	if err != nil {
		return nil, err
	}
	q := store.GrantQuery{Owner: deref(args.Owner), Consumer: deref(args.Consumer), Purpose: deref(args.Purpose), Type: deref(args.Type), Now: st.now}
	switch {
	case st.id.Has(auth.RoleAuditor):
	case st.id.Has(auth.RoleAnalyst):
		if q.Owner != st.id.Department && q.Consumer != st.id.Department {
			if q.Owner != "" && q.Consumer != "" {
				return nil, denied("not-own-department", "analysts see the grants their department gives or receives")
			}
		}
	default:
		return nil, denied("role", "grants are for analysts and auditors")
	}
	evs, err := r.g.grants.upTo(ctx, st.cp.Size, r.g.cfg.GrantWait)
	if err != nil {
		return nil, &Error{Code: codeUnavailable, Msg: "grants are not available for the current checkpoint; try again"}
	}
	var match []store.GrantEvent
	for _, ev := range evs {
		if q.Matches(ev) {
			match = append(match, ev)
		}
	}
	out := []*grantOut{}
	for _, p := range store.FoldGrants(match, st.now) {
		if !st.id.Has(auth.RoleAuditor) && p.Owner != st.id.Department && p.Consumer != st.id.Department {
			continue
		}
		g := &grantOut{Owner: p.Owner, Consumer: p.Consumer, Purpose: p.Purpose, Type: p.Type, Fields: p.Fields, Leaf: Uint64(p.Leaf)}
		if p.Condition != "" {
			c := p.Condition
			g.Condition = &c
		}
		if !p.Expires.IsZero() {
			g.Expires = &graphql.Time{Time: p.Expires}
		}
		out = append(out, g)
	}
	return out, nil
}

// --- access log ----------------------------------------------------------------

type accessLogArgs struct {
	CitizenID *string
	Consumer  *string
	From, To  *graphql.Time
	First     int32
	After     *string
}

type accessConnection struct {
	Edges    []*accessEdge
	PageInfo *pageInfo
}

type accessEdge struct {
	Cursor string
	Node   *accessOut
}

type accessOut struct {
	ID        graphql.ID
	Leaf      Uint64
	Time      graphql.Time
	Consumer  string
	User      string
	Purpose   string
	CaseRef   *string
	Disclosed []*accessItemOut
	Denied    []*accessDenialOut
	Proof     string
}

type accessItemOut struct {
	Leaf   Uint64
	Fields []string
}

type accessDenialOut struct {
	Department string
	Type       *string
	Leaf       *Uint64
	Fields     []string
	Reason     string
}

func (r *resolver) AccessLog(ctx context.Context, args accessLogArgs) (*accessConnection, error) {
	st, err := authenticated(ctx, "accessLog")
	if err != nil {
		return nil, err
	}
	first := int(args.First)
	if first < 1 || first > maxPage {
		return nil, badRequest(fmt.Sprintf("first must be between 1 and %d", maxPage))
	}
	q := store.AccessQuery{Consumer: deref(args.Consumer), Limit: first + 1}
	if args.CitizenID != nil {
		if q.Subject, err = r.g.subjectTag(*args.CitizenID); err != nil {
			return nil, err
		}
	}
	switch {
	case st.id.Has(auth.RoleAuditor):
	case st.id.Has(auth.RoleCitizen):
		own, err := r.g.subjectTag(st.id.CitizenID)
		if err != nil {
			return nil, err
		}
		if q.Subject != "" && q.Subject != own {
			return nil, denied("not-own-data", "citizens see the accesses to their own data only")
		}
		q.Subject = own
	case st.id.Has(auth.RoleAnalyst):
		if q.Consumer != "" && q.Consumer != st.id.Department {
			return nil, denied("not-own-department", "analysts see their own department's accesses only")
		}
		q.Consumer = st.id.Department
	default:
		return nil, denied("role", "no role that may read the access log")
	}
	if args.From != nil {
		q.From = args.From.Time
	}
	if args.To != nil {
		q.To = args.To.Time
	}
	if args.After != nil {
		n, err := strconv.ParseUint(*args.After, 10, 64)
		if err != nil {
			return nil, badRequest("after is not a cursor from this connection")
		}
		q.FromLeaf = n
	}
	evs, err := r.g.deps.Ledger.Accesses(ctx, q)
	if err != nil {
		return nil, r.g.storeError("ledger", err)
	}
	conn := &accessConnection{Edges: []*accessEdge{}, PageInfo: &pageInfo{}}
	if len(evs) > first {
		evs = evs[:first]
		conn.PageInfo.HasNextPage = true
	}
	for _, ev := range evs {
		ao, err := r.g.accessOf(ctx, st, ev)
		if err != nil {
			return nil, err
		}
		conn.Edges = append(conn.Edges, &accessEdge{Cursor: strconv.FormatUint(ev.Leaf+1, 10), Node: ao})
	}
	if n := len(conn.Edges); n > 0 {
		c := conn.Edges[n-1].Cursor
		conn.PageInfo.EndCursor = &c
	}
	return conn, nil
}

func (r *resolver) AccessEntry(ctx context.Context, args struct{ ID graphql.ID }) (*accessOut, error) {
	st, err := authenticated(ctx, "accessEntry")
	if err != nil {
		return nil, err
	}
	dept, seqText, ok := strings.Cut(string(args.ID), ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || !schema.ValidID(dept) {
		return nil, badRequest("an access id is <gateway>:<seq>, as extensions.access.id names it")
	}
	ref, err := r.g.deps.Ledger.EntryBySeq(ctx, dept, seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // not in the ledger (yet)
	}
	if err != nil {
		return nil, r.g.storeError("ledger", err)
	}
	evs, err := r.g.deps.Ledger.Accesses(ctx, store.AccessQuery{FromLeaf: ref.Leaf, Limit: 1})
	if err != nil {
		return nil, r.g.storeError("ledger", err)
	}
	if len(evs) == 0 || evs[0].Leaf != ref.Leaf {
		return nil, nil
	}
	ev := evs[0]
	switch {
	case st.id.Has(auth.RoleAuditor):
	case st.id.Has(auth.RoleAnalyst) && ev.Access.Consumer == st.id.Department:
	case st.id.Has(auth.RoleCitizen):
		own, err := r.g.subjectTag(st.id.CitizenID)
		if err != nil || !containsString(ev.Access.Subjects, own) {
			return nil, denied("not-own-data", "this access entry does not concern you")
		}
	default:
		return nil, denied("not-own-department", "this access entry is not your department's")
	}
	return r.g.accessOf(ctx, st, ev)
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// accessOf renders a stored access event with a proof.
func (g *Gateway) accessOf(ctx context.Context, st *reqState, ev store.AccessEvent) (*accessOut, error) {
	a := ev.Access
	out := &accessOut{
		ID: graphql.ID(ev.Department + ":" + strconv.FormatUint(ev.Seq, 10)), Leaf: Uint64(ev.Leaf),
		Time: graphql.Time{Time: ev.Time}, Consumer: a.Consumer, User: a.User, Purpose: a.Purpose,
		Disclosed: []*accessItemOut{}, Denied: []*accessDenialOut{},
	}
	if a.CaseRef != "" {
		c := a.CaseRef
		out.CaseRef = &c
	}
	for _, it := range a.Disclosed {
		out.Disclosed = append(out.Disclosed, &accessItemOut{Leaf: Uint64(it.Leaf), Fields: it.Fields})
	}
	for _, d := range a.Denied {
		do := &accessDenialOut{Department: d.Department, Fields: d.Fields, Reason: d.Reason}
		if do.Fields == nil {
			do.Fields = []string{}
		}
		if d.Type != "" {
			t := d.Type
			do.Type = &t
		}
		if d.Leaf != 0 || d.Type != "" {
			l := Uint64(d.Leaf)
			do.Leaf = &l
		}
		out.Denied = append(out.Denied, do)
	}
	signed, size := st.signed, st.cp.Size
	if ev.Leaf >= size {
		s2, cp2, err := g.checkpoint()
		if err != nil {
			return nil, err
		}
		signed, size = s2, cp2.Size
	}
	hs, err := g.deps.Log.InclusionProof(ctx, ev.Leaf, size)
	if err != nil {
		return nil, fmt.Errorf("gateway: couldn't prove access entry %d: %w", ev.Leaf, err)
	}
	out.Proof = string((&merkle.Proof{Index: ev.Leaf, Hashes: hs, Checkpoint: signed}).Encode())
	return out, nil
}

// --- submitGrant ------------------------------------------------------------------

type submissionOut struct {
	Department string
	Seq        Uint64
	Digest     string
}

func (r *resolver) SubmitGrant(ctx context.Context, args struct{ Message string }) (*submissionOut, error) {
	st, err := authenticated(ctx, "submitGrant")
	if err != nil {
		return nil, err
	}
	if r.g.deps.Grants == nil {
		return nil, &Error{Code: codeUnavailable, Msg: "this gateway does not forward grants"}
	}
	m, err := schema.DecodeMessage([]byte(args.Message))
	if err != nil {
		return nil, badRequest("message: " + err.Error())
	}
	env, err := schema.DecodeEnvelope(m.Envelope)
	if err != nil {
		return nil, badRequest("envelope: " + err.Error())
	}
	var typ string
	var fields []string
	switch env.Kind {
	case schema.KindGrant:
		typ, fields = env.Grant.Type, env.Grant.Fields
	case schema.KindRevoke:
		typ, fields = env.Revoke.Type, env.Revoke.Fields
	default:
		return nil, badRequest(fmt.Sprintf("submitGrant takes grant and revoke envelopes, not %s", env.Kind))
	}
	if env.Department != st.id.Department {
		return nil, denied("not-own-department", fmt.Sprintf("only %s may submit %s's grants", env.Department, env.Department))
	}
	rt, err := r.g.deps.Catalog.RecordType(env.Department, typ, 0)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("department %s has no record type %q", env.Department, typ))
	}
	for _, f := range fields {
		if _, ok := rt.Field(f); !ok {
			return nil, badRequest(fmt.Sprintf("type %s has no field %q", typ, f))
		}
	}
	if err := schema.VerifyEnvelope(env, r.g.deps.Keys, st.cp.Size); err != nil {
		return nil, badRequest("signature: " + err.Error())
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.g.deps.Grants.SendGrant(sctx, env.Department, []byte(args.Message)); err != nil {
		r.g.logger.Error("gateway: couldn't forward a grant", "department", env.Department, "seq", env.Seq, "err", err)
		return nil, &Error{Code: codeUnavailable, Msg: "the grant could not be sent to the ledger; try again"}
	}
	return &submissionOut{Department: env.Department, Seq: Uint64(env.Seq), Digest: schema.EnvelopeDigest(m.Envelope)}, nil
}
