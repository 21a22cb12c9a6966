package gateway

import (
	"encoding/base64"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

func TestCheckCaseRef(t *testing.T) {
	for _, c := range []struct {
		ref string
		ok  bool
	}{
		{"", true},
		{"CASE-2026-0001", true},
		{"海淀 不动产 2026/07-№5", true},
		{"A\u3000B", true}, // ideographic space
		{"e\u0301", true},  // combining mark
		{strings.Repeat("x", maxCaseRef), true},
		{strings.Repeat("x", maxCaseRef+1), false},
		{"CASE\x00", false},
		{"\x1b[31mred", false},
		{"DEL\x7f", false},
		{"tab\there", false},
		{"line\nbreak", false},
		{"sep\u2028", false},
		{"para\u2029", false},
		{"\u202eoverride", false},
		{"zero\u200bwidth", false},
		{"private\ue000", false},
		{"bad\xffutf8", false},
	} {
		err := checkCaseRef(c.ref)
		if (err == nil) != c.ok {
			t.Errorf("checkCaseRef(%q) = %v, want ok=%v", c.ref, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "caseRef") {
			t.Errorf("checkCaseRef(%q): the error does not name caseRef: %v", c.ref, err)
		}
	}
}

func TestReservedIdentity(t *testing.T) {
	for _, c := range []struct {
		id       auth.Identity
		reserved bool
	}{
		{auth.Identity{User: "u", Department: "tax"}, false},
		{auth.Identity{User: "anonymous-clerk", Department: "tax"}, false},
		{auth.Identity{User: "u", Department: unauthenticatedConsumer}, true},
		{auth.Identity{User: anonymousUser, Department: "tax"}, true},
	} {
		if got := reservedIdentity(c.id) != ""; got != c.reserved {
			t.Errorf("reservedIdentity(%+v) = %v, want %v", c.id, got, c.reserved)
		}
	}
}

func TestCursors(t *testing.T) {
	c, err := newCursors([]byte("a ledger secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newCursors([]byte("another ledger secret, same length"))
	conn := connectionID("real-estate", "public-security", "resident", "")
	pos := store.EncodeCursor(store.EncodeKey([]string{"110108195001011001"}))
	cur := c.seal(conn, pos)
	if strings.Contains(cur, pos) || strings.Contains(cur, "110108") {
		t.Fatalf("cursor %q shows its position", cur)
	}
	if c.seal(conn, pos) == cur {
		t.Error("two seals of one position are equal: the cursor tells positions apart")
	}
	if got, err := c.open(conn, cur); err != nil || got != pos {
		t.Fatalf("open(seal(p)) = %q, %v", got, err)
	}
	for name, bad := range map[string]struct {
		c    *cursors
		conn string
		cur  string
	}{
		"other connection": {c, connectionID("real-estate", "public-security", "resident", "tag"), cur},
		"other consumer":   {c, connectionID("tax", "public-security", "resident", ""), cur},
		"other secret":     {other, conn, cur},
		"truncated":        {c, conn, cur[:len(cur)-2]},
		"empty":            {c, conn, ""},
		"not base64":       {c, conn, "%%%"},
		"too long":         {c, conn, strings.Repeat("A", maxCursor+1)},
	} {
		if _, err := bad.c.open(bad.conn, bad.cur); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// FuzzCursorOpen: cursors come from callers; open never panics, and
// accepts nothing it did not seal.
func FuzzCursorOpen(f *testing.F) {
	c, err := newCursors([]byte("a ledger secret of some length"))
	if err != nil {
		f.Fatal(err)
	}
	conn := connectionID("a", "b", "c", "")
	f.Add(c.seal(conn, "position"))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, cursor string) {
		pos, err := c.open(conn, cursor)
		if err != nil {
			return
		}
		// Whatever opened was sealed: any change of its bytes is refused.
		raw, _ := base64.RawURLEncoding.DecodeString(cursor)
		for i := range raw {
			edited := append([]byte(nil), raw...)
			edited[i] ^= 0x80
			if p2, err := c.open(conn, base64.RawURLEncoding.EncodeToString(edited)); err == nil {
				t.Fatalf("cursor with byte %d edited opened (%q, was %q)", i, p2, pos)
			}
		}
	})
}

// FuzzReadRequest: the body decoder never panics, takes one JSON object
// and nothing after it but white space.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{`{"query":"{ checkpoint { size } }"}`, `{"query":"q"} {"query":"r"}`, `{"query":"q"}x`, `{"query":1}`, ` {"variables":{"n":1e400}} `, "{}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
		req, status, err := readRequest(httptest.NewRecorder(), r, 1<<16)
		if err != nil {
			if status != 400 && status != 413 {
				t.Fatalf("status %d for an error", status)
			}
			return
		}
		trimmed := strings.TrimRight(body, " \t\r\n")
		if !strings.HasSuffix(trimmed, "}") {
			t.Fatalf("accepted a body that does not end with its object: %q (%+v)", body, req)
		}
	})
}

func TestRowScopeAndFilterable(t *testing.T) {
	rt := &schema.RecordType{Name: "resident", Fields: []schema.Field{{Name: "citizen_id"}, {Name: "name"}, {Name: "address"}}}
	perm := func(cond string, fields ...string) store.Permission {
		return store.Permission{Owner: "ps", Consumer: "re", Purpose: "p", Type: "resident", Fields: fields, Condition: cond}
	}
	for _, c := range []struct {
		name      string
		consumer  string
		perms     []store.Permission
		scope     rowScope
		plain     string // filterable without subject
		subjected string // filterable with subject
	}{
		{"owner", "ps", nil, allRows, "address,citizen_id,name", "address,citizen_id,name"},
		{"nothing", "re", nil, noRows, "", ""},
		{"subject only", "re", []store.Permission{perm("subject", "citizen_id", "name")}, subjectRows, "", "citizen_id,name"},
		{"mixed", "re", []store.Permission{perm("", "name"), perm("subject", "citizen_id")}, allRows, "name", "citizen_id,name"},
		{"unknown condition is conditional", "re", []store.Permission{perm("district", "name")}, subjectRows, "", ""},
	} {
		a := &authz{consumer: c.consumer, purpose: "p", perms: map[[2]string][]store.Permission{}}
		for _, p := range c.perms {
			k := [2]string{p.Owner, p.Type}
			a.perms[k] = append(a.perms[k], p)
		}
		if got := a.scope("ps", "resident"); got != c.scope {
			t.Errorf("%s: scope %v, want %v", c.name, got, c.scope)
		}
		for _, withSubject := range []bool{false, true} {
			want := c.plain
			if withSubject {
				want = c.subjected
			}
			var got []string
			for _, f := range rt.Fields {
				if a.filterable("ps", rt, withSubject)[f.Name] {
					got = append(got, f.Name)
				}
			}
			slices.Sort(got)
			if g := strings.Join(got, ","); g != want {
				t.Errorf("%s (subject %v): filterable %s, want %s", c.name, withSubject, g, want)
			}
		}
	}
}

// TestAccessPolicy: roles × queries × scopes of the access policy.
func TestAccessPolicy(t *testing.T) {
	analyst := auth.Identity{User: "u", Department: "real-estate", Roles: []auth.Role{auth.RoleAnalyst}}
	auditor := auth.Identity{User: "u", Department: "audit", Roles: []auth.Role{auth.RoleAuditor}}
	citizen := auth.Identity{User: "c", Department: "public", Roles: []auth.Role{auth.RoleCitizen}, CitizenID: "x"}
	both := auth.Identity{User: "u", Department: "tax", Roles: []auth.Role{auth.RoleAnalyst, auth.RoleAuditor}}
	const own, other = "tag-own", "tag-other"
	reason := func(r *refusal) string {
		if r == nil {
			return ""
		}
		return r.reason
	}

	t.Run("grants", func(t *testing.T) {
		for _, c := range []struct {
			id              auth.Identity
			owner, consumer string
			want            string
		}{
			{auditor, "", "", ""},
			{auditor, "tax", "civil-affairs", ""},
			{analyst, "", "", ""},
			{analyst, "real-estate", "tax", ""},
			{analyst, "tax", "real-estate", ""},
			{analyst, "tax", "", ""}, // answered, then filtered by maySeeGrant
			{analyst, "tax", "civil-affairs", "not-own-department"},
			{citizen, "", "", "role"},
			{both, "civil-affairs", "electricity", ""},
		} {
			if got := reason(mayListGrants(c.id, c.owner, c.consumer)); got != c.want {
				t.Errorf("%v grants(owner %q, consumer %q) = %q, want %q", c.id.Roles, c.owner, c.consumer, got, c.want)
			}
		}
		for _, c := range []struct {
			id   auth.Identity
			p    store.Permission
			want bool
		}{
			{auditor, store.Permission{Owner: "tax", Consumer: "civil-affairs"}, true},
			{analyst, store.Permission{Owner: "real-estate", Consumer: "tax"}, true},
			{analyst, store.Permission{Owner: "tax", Consumer: "real-estate"}, true},
			{analyst, store.Permission{Owner: "tax", Consumer: "civil-affairs"}, false},
		} {
			if got := maySeeGrant(c.id, c.p); got != c.want {
				t.Errorf("%v maySeeGrant(%s → %s) = %v", c.id.Roles, c.p.Owner, c.p.Consumer, got)
			}
		}
	})

	t.Run("accessLog", func(t *testing.T) {
		for _, c := range []struct {
			name     string
			id       auth.Identity
			ownTag   string
			q        store.AccessQuery
			want     string
			subject  string // the query run
			consumer string
		}{
			{"auditor, everything", auditor, "", store.AccessQuery{}, "", "", ""},
			{"auditor, one citizen", auditor, "", store.AccessQuery{Subject: other}, "", other, ""},
			{"auditor, one department", auditor, "", store.AccessQuery{Consumer: "tax"}, "", "", "tax"},
			{"analyst, own department", analyst, "", store.AccessQuery{}, "", "", "real-estate"},
			{"analyst, own department named", analyst, "", store.AccessQuery{Consumer: "real-estate"}, "", "", "real-estate"},
			{"analyst, one citizen of theirs", analyst, "", store.AccessQuery{Subject: other}, "", other, "real-estate"},
			{"analyst, other department", analyst, "", store.AccessQuery{Consumer: "tax"}, "not-own-department", "", ""},
			{"citizen, own", citizen, own, store.AccessQuery{}, "", own, ""},
			{"citizen, own named", citizen, own, store.AccessQuery{Subject: own}, "", own, ""},
			{"citizen, own, by department", citizen, own, store.AccessQuery{Consumer: "tax"}, "", own, "tax"},
			{"citizen, another", citizen, own, store.AccessQuery{Subject: other}, "not-own-data", "", ""},
			{"citizen without a tag", citizen, "", store.AccessQuery{}, "not-own-data", "", ""},
			{"no role", auth.Identity{User: "u", Department: "x"}, "", store.AccessQuery{}, "role", "", ""},
		} {
			q, no := accessLogScope(c.id, c.ownTag, c.q)
			if got := reason(no); got != c.want {
				t.Errorf("%s: refusal %q, want %q", c.name, got, c.want)
				continue
			}
			if no == nil && (q.Subject != c.subject || q.Consumer != c.consumer) {
				t.Errorf("%s: runs subject %q consumer %q, want %q %q", c.name, q.Subject, q.Consumer, c.subject, c.consumer)
			}
		}
	})

	t.Run("accessEntry", func(t *testing.T) {
		entry := schema.Access{Consumer: "real-estate", Subjects: []string{own}}
		for _, c := range []struct {
			name   string
			id     auth.Identity
			ownTag string
			a      schema.Access
			want   string
		}{
			{"auditor", auditor, "", entry, ""},
			{"analyst, own department", analyst, "", entry, ""},
			{"analyst, other department", analyst, "", schema.Access{Consumer: "tax"}, "not-own-department"},
			{"citizen named", citizen, own, entry, ""},
			{"citizen not named", citizen, other, entry, "not-own-data"},
			{"citizen without a tag", citizen, "", schema.Access{Consumer: "tax"}, "not-own-data"},
		} {
			if got := reason(maySeeAccess(c.id, c.ownTag, c.a)); got != c.want {
				t.Errorf("%s: %q, want %q", c.name, got, c.want)
			}
		}
	})

	t.Run("submitGrant", func(t *testing.T) {
		for _, c := range []struct {
			id    auth.Identity
			owner string
			want  string
		}{
			{analyst, "", ""},
			{analyst, "real-estate", ""},
			{analyst, "tax", "not-own-department"},
			{auditor, "", "role"},
			{auth.Identity{User: "u", Department: "real-estate", Roles: []auth.Role{auth.RoleAuditor}}, "real-estate", "role"},
			{citizen, "public", "role"},
		} {
			if got := reason(maySubmitGrant(c.id, c.owner)); got != c.want {
				t.Errorf("%v submitGrant(%q) = %q, want %q", c.id.Roles, c.owner, got, c.want)
			}
		}
	})
}
