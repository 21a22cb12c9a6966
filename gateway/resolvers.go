package gateway

// The root resolver, and what every resolver starts with.

import (
	"context"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/schema"
)

// Purposes of the access entries of requests that ran no data query:
// what they read (or, for submitGrant, tried to forward).
const (
	readsAccessLog   = "read-access-log"
	readsGrants      = "read-grants"
	readsSubmitGrant = "submit-grant"
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

// authenticated returns the request state of an authenticated request
// and notes the operation.
func authenticated(ctx context.Context, op string) (*reqState, error) {
	st := stateOf(ctx)
	if st == nil || !st.authenticated {
		return nil, &Error{Code: codeUnauthenticated, Msg: "authentication required"}
	}
	st.setOp(op)
	return st, nil
}
