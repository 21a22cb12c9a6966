package gateway

import (
	"slices"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// The access policy: who may read grants, the access log and access
// entries, and who may submit grants. Pure functions of the caller's
// identity and what it asks; the resolvers do the I/O, log every refusal
// and answer with it. Field and row authorisation of records is the fold
// of grants (authz, grants.go).
//
//	query        auditor   analyst                         citizen
//	grants       all       those its department gives      —
//	                       or receives
//	accessLog    all       its department's accesses       accesses to their own data
//	accessEntry  all       its department's                one that names them
//	submitGrant  —         its own department's grants     —

// refusal is a decision of the access policy not to answer: the denial
// reason logged and returned, and the message the caller reads.
type refusal struct{ reason, msg string }

func (r *refusal) err() error { return denied(r.reason, r.msg) }

// mayListGrants decides a grants query with the given owner and consumer
// filters ("" for any).
func mayListGrants(id auth.Identity, owner, consumer string) *refusal {
	switch {
	case id.Has(auth.RoleAuditor):
		return nil
	case id.Has(auth.RoleAnalyst):
		if owner != "" && consumer != "" && owner != id.Department && consumer != id.Department {
			return &refusal{"not-own-department", "analysts see the grants their department gives or receives"}
		}
		return nil
	}
	return &refusal{"role", "grants are for analysts and auditors"}
}

// maySeeGrant reports whether a permission is part of a grants answer
// that mayListGrants allowed.
func maySeeGrant(id auth.Identity, p store.Permission) bool {
	return id.Has(auth.RoleAuditor) || p.Owner == id.Department || p.Consumer == id.Department
}

// accessLogScope restricts an accessLog query to what the caller may see:
// q as asked (Subject: the tag of the citizen asked about, Consumer: the
// department asked about), ownTag the subject tag of a citizen caller. It
// returns the query to run.
func accessLogScope(id auth.Identity, ownTag string, q store.AccessQuery) (store.AccessQuery, *refusal) {
	switch {
	case id.Has(auth.RoleAuditor):
		return q, nil
	case id.Has(auth.RoleCitizen):
		if ownTag == "" || q.Subject != "" && q.Subject != ownTag {
			return q, &refusal{"not-own-data", "citizens see the accesses to their own data only"}
		}
		q.Subject = ownTag
		return q, nil
	case id.Has(auth.RoleAnalyst):
		if q.Consumer != "" && q.Consumer != id.Department {
			return q, &refusal{"not-own-department", "analysts see their own department's accesses only"}
		}
		q.Consumer = id.Department
		return q, nil
	}
	return q, &refusal{"role", "no role that may read the access log"}
}

// maySeeAccess decides whether the caller may read one access entry;
// ownTag is the subject tag of a citizen caller.
func maySeeAccess(id auth.Identity, ownTag string, a schema.Access) *refusal {
	switch {
	case id.Has(auth.RoleAuditor):
		return nil
	case id.Has(auth.RoleAnalyst) && a.Consumer == id.Department:
		return nil
	case id.Has(auth.RoleCitizen):
		if ownTag != "" && slices.Contains(a.Subjects, ownTag) {
			return nil
		}
		return &refusal{"not-own-data", "this access entry does not concern you"}
	}
	return &refusal{"not-own-department", "this access entry is not your department's"}
}

// maySubmitGrant decides whether the caller may forward a grant or revoke
// signed by owner; owner "" decides on the role alone (before the message
// is decoded).
func maySubmitGrant(id auth.Identity, owner string) *refusal {
	switch {
	case !id.Has(auth.RoleAnalyst):
		return &refusal{"role", "grants are submitted by the owning department's staff (role analyst)"}
	case owner != "" && owner != id.Department:
		return &refusal{"not-own-department", "only " + owner + " may submit " + owner + "'s grants"}
	}
	return nil
}
