package gateway

// Resolvers of grants: the grants in force and submitGrant.

import (
	"context"
	"fmt"
	"time"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

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
	st.audit(readsGrants)
	q := store.GrantQuery{Owner: deref(args.Owner), Consumer: deref(args.Consumer), Purpose: deref(args.Purpose), Type: deref(args.Type), Now: st.now}
	if no := mayListGrants(st.id, q.Owner, q.Consumer); no != nil {
		st.deny(schema.AccessDenial{Department: q.Owner, Reason: no.reason})
		return nil, no.err()
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
		if !maySeeGrant(st.id, p) {
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
		st.disclose(p.Leaf, []string{"grant"}, nil)
	}
	return out, nil
}

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
	if no := maySubmitGrant(st.id, ""); no != nil {
		st.audit(readsSubmitGrant)
		st.deny(schema.AccessDenial{Reason: no.reason})
		return nil, no.err()
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
	if no := maySubmitGrant(st.id, env.Department); no != nil {
		st.audit(readsSubmitGrant)
		st.deny(schema.AccessDenial{Department: env.Department, Type: typ, Reason: no.reason})
		return nil, no.err()
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
		st.audit(readsSubmitGrant)
		st.deny(schema.AccessDenial{Department: env.Department, Type: typ, Reason: "bad-signature"})
		return nil, denied("bad-signature", "signature: "+err.Error())
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.g.deps.Grants.SendGrant(sctx, env.Department, []byte(args.Message)); err != nil {
		r.g.logger.Error("gateway: couldn't forward a grant", "department", env.Department, "seq", env.Seq, "err", err)
		return nil, &Error{Code: codeUnavailable, Msg: "the grant could not be sent to the ledger; try again"}
	}
	return &submissionOut{Department: env.Department, Seq: Uint64(env.Seq), Digest: schema.EnvelopeDigest(m.Envelope)}, nil
}
