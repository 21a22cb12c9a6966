package store

import (
	"cmp"
	"slices"
	"time"

	"github.com/crossledger/crossledger/schema"
)

// GrantEvent is one stored grant or revoke entry, as implementations read
// them back for [FoldGrants].
type GrantEvent struct {
	Leaf      uint64
	Kind      schema.Kind // KindGrant or KindRevoke
	Owner     string
	Consumer  string
	Purpose   string
	Type      string
	Fields    []string // a revoke with no fields revokes all
	Expires   string   // RFC 3339; "" none
	Condition string
}

// GrantEventOf returns the grant event of a grant or revoke entry; ok is
// false for other entries.
func GrantEventOf(e *Entry) (ev GrantEvent, ok bool) {
	switch {
	case e.Grant != nil:
		g := e.Grant
		return GrantEvent{Leaf: e.Leaf, Kind: schema.KindGrant, Owner: e.Department, Consumer: g.Consumer,
			Purpose: g.Purpose, Type: g.Type, Fields: g.Fields, Expires: g.Expires, Condition: g.Condition}, true
	case e.Revoke != nil:
		r := e.Revoke
		return GrantEvent{Leaf: e.Leaf, Kind: schema.KindRevoke, Owner: e.Department, Consumer: r.Consumer,
			Purpose: r.Purpose, Type: r.Type, Fields: r.Fields}, true
	}
	return GrantEvent{}, false
}

// FoldGrants folds grant and revoke events, in leaf order, into the
// permissions in force at now. Events must all match one query; they need
// not be sorted. A grant gives its fields (replacing an earlier grant of the
// same field, with its expiry and condition); a revoke withdraws its fields,
// or every field when it names none. Fields whose grant expired at or
// before now are left out.
func FoldGrants(events []GrantEvent, now time.Time) []Permission {
	events = slices.Clone(events)
	slices.SortFunc(events, func(a, b GrantEvent) int { return cmp.Compare(a.Leaf, b.Leaf) })
	type scope struct{ owner, consumer, purpose, typ string }
	granted := map[scope]map[string]*GrantEvent{} // field → the grant that gave it
	for i := range events {
		ev := &events[i]
		sc := scope{ev.Owner, ev.Consumer, ev.Purpose, ev.Type}
		fields := granted[sc]
		switch ev.Kind {
		case schema.KindGrant:
			if fields == nil {
				fields = map[string]*GrantEvent{}
				granted[sc] = fields
			}
			for _, f := range ev.Fields {
				fields[f] = ev
			}
		case schema.KindRevoke:
			if len(ev.Fields) == 0 {
				delete(granted, sc)
				continue
			}
			for _, f := range ev.Fields {
				delete(fields, f)
			}
		}
	}
	// Group the surviving fields by the grant that gave them.
	type group struct {
		sc    scope
		grant *GrantEvent
	}
	byGrant := map[group][]string{}
	for sc, fields := range granted {
		for f, g := range fields {
			byGrant[group{sc, g}] = append(byGrant[group{sc, g}], f)
		}
	}
	var out []Permission
	for grp, fields := range byGrant {
		p := Permission{Owner: grp.sc.owner, Consumer: grp.sc.consumer, Purpose: grp.sc.purpose, Type: grp.sc.typ,
			Condition: grp.grant.Condition, Leaf: grp.grant.Leaf}
		if grp.grant.Expires != "" {
			exp, err := time.Parse(time.RFC3339, grp.grant.Expires)
			if err != nil || !now.Before(exp) {
				// Unparseable expiry never reaches the store (Validate);
				// fail closed if it does.
				continue
			}
			p.Expires = exp.UTC()
		}
		slices.Sort(fields)
		p.Fields = fields
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Permission) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Consumer, b.Consumer),
			cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Leaf, b.Leaf))
	})
	return out
}

// Matches reports whether ev falls under q (ignoring q.Now).
func (q GrantQuery) Matches(ev GrantEvent) bool {
	return (q.Owner == "" || q.Owner == ev.Owner) && (q.Consumer == "" || q.Consumer == ev.Consumer) &&
		(q.Purpose == "" || q.Purpose == ev.Purpose) && (q.Type == "" || q.Type == ev.Type)
}

// ValidateGrantQuery checks q.
func ValidateGrantQuery(q GrantQuery) error {
	if q.Now.IsZero() {
		return invalidf("grant query without Now")
	}
	return nil
}
