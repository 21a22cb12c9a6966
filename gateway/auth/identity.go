package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/crossledger/crossledger/schema"
)

// Role is what a caller may do at the gateway.
type Role string

const (
	// RoleAnalyst queries records of other departments under a purpose.
	RoleAnalyst Role = "analyst"
	// RoleAuditor reads the log, proofs and access entries.
	RoleAuditor Role = "auditor"
	// RoleCitizen sees the records about themself; the token must carry
	// their citizen_id, and no other role.
	RoleCitizen Role = "citizen"
)

func (r Role) valid() bool {
	return r == RoleAnalyst || r == RoleAuditor || r == RoleCitizen
}

// Identity is an authenticated caller.
type Identity struct {
	// Issuer is the token's iss: the configured issuer that vouched for it.
	Issuer string
	// User is the token's sub.
	User string
	// Department is the department the caller acts for (the consumer
	// department of the queries it makes).
	Department string
	// Roles are the caller's roles, without duplicates, in token order.
	Roles []Role
	// CitizenID is the canonical resident identity number of a citizen
	// (check character X upper-cased); "" unless Roles is [RoleCitizen].
	CitizenID string
	// Expires is the token's exp.
	Expires time.Time
}

// Has reports whether the identity holds role r.
func (id Identity) Has(r Role) bool {
	return slices.Contains(id.Roles, r)
}

// Validate checks the identity against the rules for token claims (see the
// package documentation): a user, a department id, known roles, and a valid
// citizen id exactly when the role is citizen, alone. The error names the
// claim.
func (id Identity) Validate() error {
	return id.check()
}

// check validates an identity's fields as claims and canonicalises it:
// duplicate roles are dropped and the citizen id is canonicalised. It is the
// same check for tokens read and tokens issued.
func (id *Identity) check() error {
	if err := checkUser(id.User); err != nil {
		return err
	}
	if !validDepartment(id.Department) {
		if id.Department == "" {
			return fmt.Errorf("claim department is missing")
		}
		return fmt.Errorf("claim department %q is not a department id ([a-z0-9-]{1,64})", id.Department)
	}
	if len(id.Roles) == 0 {
		return fmt.Errorf("claim roles is missing or empty")
	}
	var roles []Role
	for _, r := range id.Roles {
		if !r.valid() {
			return fmt.Errorf("claim roles: unknown role %q (want analyst, auditor or citizen)", string(r))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	id.Roles = roles
	citizen := slices.Contains(roles, RoleCitizen)
	switch {
	case citizen && len(roles) > 1:
		return fmt.Errorf("claim roles: citizen cannot be combined with other roles")
	case citizen && id.CitizenID == "":
		return fmt.Errorf("claim citizen_id is required for role citizen")
	case citizen:
		c, err := schema.CanonicalCitizenID(id.CitizenID)
		if err != nil {
			return fmt.Errorf("claim citizen_id: %w", err)
		}
		id.CitizenID = c
	case id.CitizenID != "":
		return fmt.Errorf("claim citizen_id is only allowed with role citizen")
	}
	return nil
}

// maxUser bounds sub: it is written into access entries.
const maxUser = 256

func checkUser(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("claim sub (the user) is missing")
	case len(u) > maxUser:
		return fmt.Errorf("claim sub is %d bytes, limit %d", len(u), maxUser)
	case !utf8.ValidString(u):
		return fmt.Errorf("claim sub is not valid UTF-8")
	case strings.IndexFunc(u, unicode.IsControl) >= 0:
		return fmt.Errorf("claim sub contains control characters")
	}
	return nil
}

// validDepartment is the schema package's rule for department ids:
// [a-z0-9-]{1,64}.
func validDepartment(s string) bool { return schema.ValidID(s) }

// identityFromClaims maps verified claims onto an Identity.
func identityFromClaims(issuer string, c map[string]any) (Identity, error) {
	id := Identity{Issuer: issuer}
	var err error
	if id.User, err = stringClaim(c, "sub"); err != nil {
		return Identity{}, err
	}
	if id.Department, err = stringClaim(c, "department"); err != nil {
		return Identity{}, err
	}
	if id.CitizenID, err = stringClaim(c, "citizen_id"); err != nil {
		return Identity{}, err
	}
	switch v := c["roles"].(type) {
	case nil:
	case []any:
		for i, r := range v {
			s, ok := r.(string)
			if !ok {
				return Identity{}, fmt.Errorf("claim roles[%d] is not a string", i)
			}
			id.Roles = append(id.Roles, Role(s))
		}
	default:
		return Identity{}, fmt.Errorf("claim roles is not an array of strings")
	}
	if err := id.check(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func stringClaim(c map[string]any, name string) (string, error) {
	switch v := c[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("claim %s is not a string", name)
	}
}

type ctxKey struct{}

// NewContext returns a context carrying id, for handlers behind the
// authentication middleware.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity stored by [NewContext].
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
