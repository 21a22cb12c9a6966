package gateway

// Resolvers of the access log: accessLog and accessEntry.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

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
	st.audit(readsAccessLog)
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
	// Reading a citizen's access log is an access about that citizen, and
	// so is trying to: they see it in theirs.
	st.subject(q.Subject)
	asked := q.Consumer
	q, no := accessLogScope(st.id, r.g.ownTag(st.id), q)
	if no != nil {
		st.deny(schema.AccessDenial{Department: asked, Reason: no.reason})
		return nil, no.err()
	}
	st.subject(q.Subject)
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
		st.disclose(ev.Leaf, []string{"access"}, nil)
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
	st.audit(readsAccessLog)
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
	own := r.g.ownTag(st.id)
	if no := maySeeAccess(st.id, own, ev.Access); no != nil {
		d := schema.AccessDenial{Leaf: ev.Leaf, Reason: no.reason}
		if no.reason == "not-own-department" {
			d.Department = ev.Access.Consumer
		}
		st.deny(d)
		return nil, no.err()
	}
	st.subject(own)
	out, err := r.g.accessOf(ctx, st, ev)
	if err == nil {
		st.disclose(ev.Leaf, []string{"access"}, nil)
	}
	return out, err
}

// ownTag is the subject tag of a citizen caller, "" for anyone else (or a
// citizen id that does not validate, which no token carries).
func (g *Gateway) ownTag(id auth.Identity) string {
	if !id.Has(auth.RoleCitizen) {
		return ""
	}
	tag, err := g.subjectTag(id.CitizenID)
	if err != nil {
		return ""
	}
	return tag
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
