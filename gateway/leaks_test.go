package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/schema"
)

const recordsQuery = `query($d: String!, $t: String!, $w: [Filter!], $first: Int, $after: String, $s: String, $p: String) {
  records(department: $d, type: $t, where: $w, first: $first, after: $after, subject: $s, purpose: $p) {
    edges { cursor node { key leaf envelope keyId signature proof fields { name value disclosure digest redacted } } }
    pageInfo { hasNextPage endCursor }
  }
}`

// page is one records() answer as the tests read it.
type page struct {
	keys    []string
	cursors []string
	hasNext bool
	end     string
}

func readPage(t *testing.T, r *response) page {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("records: %s", truncate(r.Body))
	}
	conn := r.Data["records"].(map[string]any)
	var p page
	for _, e := range conn["edges"].([]any) {
		e := e.(map[string]any)
		p.cursors = append(p.cursors, e["cursor"].(string))
		node := e["node"].(map[string]any)
		var key []string
		for _, k := range node["key"].([]any) {
			key = append(key, k.(string))
		}
		p.keys = append(p.keys, strings.Join(key, "/"))
	}
	pi := conn["pageInfo"].(map[string]any)
	p.hasNext = pi["hasNextPage"].(bool)
	p.end, _ = pi["endCursor"].(string)
	return p
}

// assertOpaque fails if a cursor decodes (in any base64 alphabet) to
// something holding one of the secrets.
func assertOpaque(t *testing.T, cursor string, secrets ...string) {
	t.Helper()
	for _, text := range []string{cursor, decodeAny(cursor)} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Fatalf("cursor %q reveals %q", cursor, s)
			}
		}
	}
}

func decodeAny(s string) string {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b)
		}
	}
	return ""
}

// TestRowConditionLeaks is the hostile analyst of the gateway-leaks issue:
// real-estate may see public-security residents only for the citizen a
// query names, and tries to learn about the others through records()
// paging, cursors, filters and record() existence.
func TestRowConditionLeaks(t *testing.T) {
	s := startStack(t, stackOptions{})
	sc := seed(t, s)
	residents := []string{sc.a}
	for i := 10; i < 16; i++ {
		id := citizen(t, i)
		residents = append(residents, id)
		s.publish("public-security", "resident", map[string]string{
			"citizen_id": id, "name": fmt.Sprintf("Resident %d", i), "gender": "female", "birth_date": "1960-01-01",
			"address": secretAddress, "household_id": fmt.Sprintf("HH-%04d", i), "card_issued_on": "2016-01-01"})
	}
	// For tax-assessment, electricity grants its accounts only under
	// the row condition: arrears is a withheld value without subject:.
	s.grant("electricity", schema.Grant{Consumer: "real-estate", Purpose: "tax-assessment", Type: "account",
		Fields: []string{"account_no", "arrears", "holder_id"}, Condition: "subject"})
	s.settle()
	analyst := s.token("real-estate", auth.RoleAnalyst)
	residentsQ := func(extra map[string]any) map[string]any {
		v := map[string]any{"d": "public-security", "t": "resident", "first": 1, "p": "real-estate-transfer"}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	entryOf := func(r *response) schema.Access {
		t.Helper()
		id := r.accessID()
		if id == "" {
			t.Fatalf("no access entry: %s", truncate(r.Body))
		}
		return s.waitAccess(id).Access
	}

	t.Run("withheld type pages as empty", func(t *testing.T) {
		for _, first := range []int{1, 100} {
			r := s.query(analyst, recordsQuery, residentsQ(map[string]any{"first": first}))
			p := readPage(t, r)
			if len(p.keys) != 0 || p.hasNext || p.end != "" {
				t.Fatalf("first %d: withheld rows showed: %+v (%s)", first, p, truncate(r.Body))
			}
			for _, id := range residents {
				if bytes.Contains(r.Body, []byte(id)) {
					t.Fatalf("citizen id in the answer: %s", truncate(r.Body))
				}
			}
			a := entryOf(r)
			if !slices.ContainsFunc(a.Denied, func(d schema.AccessDenial) bool { return d.Reason == "row-condition" && d.Type == "resident" }) {
				t.Fatalf("access entry has no row-condition denial: %+v", a.Denied)
			}
			if ws, _ := r.Extensions["warnings"].([]any); len(ws) == 0 || !strings.Contains(fmt.Sprint(ws), "subject:") {
				t.Fatalf("the empty answer does not say why: %s", truncate(r.Body))
			}
		}
	})

	t.Run("cursors are opaque and bound to their connection", func(t *testing.T) {
		// electricity/account is granted to real-estate for
		// real-estate-transfer on every row: page through it.
		for i := 20; i < 24; i++ {
			s.publish("electricity", "account", map[string]string{"account_no": fmt.Sprintf("E-%d", i), "holder_id": citizen(t, i),
				"holder_name": "Holder", "address": secretAddress, "monthly_kwh": "1", "arrears": "0", "opened_at": "2020-01-01T00:00:00Z"})
		}
		s.settle()
		q := map[string]any{"d": "electricity", "t": "account", "first": 2, "p": "real-estate-transfer"}
		var keys []string
		for range 10 {
			p := readPage(t, s.query(analyst, recordsQuery, q))
			keys = append(keys, p.keys...)
			for _, c := range append(slices.Clone(p.cursors), p.end) {
				assertOpaque(t, c, p.keys...)
			}
			if !p.hasNext {
				break
			}
			q["after"] = p.end
		}
		if want := []string{"E-1", "E-20", "E-21", "E-22", "E-23"}; !slices.Equal(slices.Sorted(slices.Values(keys)), want) {
			t.Fatalf("paged %v, want %v", keys, want)
		}
		first := readPage(t, s.query(analyst, recordsQuery, map[string]any{"d": "electricity", "t": "account", "first": 1, "p": "real-estate-transfer"}))
		// Edited, forged and foreign cursors are refused alike.
		raw, _ := base64.RawURLEncoding.DecodeString(first.end)
		raw[len(raw)-1] ^= 1
		for name, c := range map[string]string{
			"edited":  base64.RawURLEncoding.EncodeToString(raw),
			"forged":  base64.RawURLEncoding.EncodeToString([]byte(`"E-1"`)),
			"garbage": "%%%",
		} {
			r := s.query(analyst, recordsQuery, map[string]any{"d": "electricity", "t": "account", "first": 1, "after": c, "p": "real-estate-transfer"})
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_REQUEST" {
				t.Fatalf("%s cursor accepted: %s", name, truncate(r.Body))
			}
		}
		// The same position in another connection (one citizen's accounts).
		r := s.query(analyst, recordsQuery, map[string]any{"d": "electricity", "t": "account", "first": 1, "after": first.end, "s": sc.a, "p": "real-estate-transfer"})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_REQUEST" {
			t.Fatalf("another connection's cursor accepted: %s", truncate(r.Body))
		}
	})

	t.Run("a filter on a subject-conditioned field needs subject", func(t *testing.T) {
		for _, w := range []map[string]any{
			{"field": "name", "eq": "Zhang San"},
			{"field": "citizen_id", "prefix": "1101"},
			{"field": "household_id", "min": "HH-0000", "max": "HH-0010"},
		} {
			r := s.query(analyst, recordsQuery, residentsQ(map[string]any{"w": []any{w}}))
			if r.reason() != "filter-not-granted" || strings.Contains(string(r.Body), sc.a) {
				t.Fatalf("filter %v without subject: %s", w, truncate(r.Body))
			}
			if !strings.Contains(r.Errors[0].Message, "subject") {
				t.Errorf("the refusal does not say subject: would do: %s", r.Errors[0].Message)
			}
		}
	})

	t.Run("a name filter cannot reveal an id", func(t *testing.T) {
		// With another citizen named, Zhang San's row is out of the
		// list before the filter and the paging see it.
		r := s.query(analyst, recordsQuery, residentsQ(map[string]any{"w": []any{map[string]any{"field": "name", "eq": "Zhang San"}}, "s": sc.b}))
		p := readPage(t, r)
		if len(p.keys) != 0 || p.hasNext || p.end != "" || bytes.Contains(r.Body, []byte(sc.a)) {
			t.Fatalf("name filter leaked: %+v %s", p, truncate(r.Body))
		}
		// Named, the citizen's own row is the answer.
		p = readPage(t, s.query(analyst, recordsQuery, residentsQ(map[string]any{"w": []any{map[string]any{"field": "name", "eq": "Zhang San"}}, "s": sc.a})))
		if !slices.Equal(p.keys, []string{sc.a}) || p.hasNext {
			t.Fatalf("the named citizen's row: %+v", p)
		}
	})

	t.Run("a range filter cannot bisect a withheld value", func(t *testing.T) {
		q := func(min string, subject any) map[string]any {
			return map[string]any{"d": "electricity", "t": "account", "first": 10, "p": "tax-assessment", "s": subject,
				"w": []any{map[string]any{"field": "arrears", "min": min}}}
		}
		if r := s.query(analyst, recordsQuery, q("10", nil)); r.reason() != "filter-not-granted" {
			t.Fatalf("range on a withheld value without subject: %s", truncate(r.Body))
		}
		// Bisecting with another citizen named answers the same for
		// every bound: nothing.
		var answers []string
		for _, min := range []string{"0", "12", "13", "1000"} {
			p := readPage(t, s.query(analyst, recordsQuery, q(min, sc.b)))
			answers = append(answers, fmt.Sprint(p.keys, p.hasNext, p.end))
		}
		if uniq := slices.Compact(slices.Clone(answers)); len(uniq) != 1 || uniq[0] != fmt.Sprint([]string(nil), false, "") {
			t.Fatalf("the answers differ with the bound: %v", answers)
		}
		// The holder named: their own account, by the same filter.
		if p := readPage(t, s.query(analyst, recordsQuery, q("12", sc.a))); !slices.Equal(p.keys, []string{"E-1"}) {
			t.Fatalf("holder's own account: %+v", p)
		}
	})

	t.Run("existence oracle", func(t *testing.T) {
		nobody := citizen(t, 39)
		// tags is what a probe's public access entry may name: the
		// citizens the query itself names, never the withheld row's.
		tags := func(ids ...any) string {
			var out []string
			for _, id := range ids {
				if id, ok := id.(string); ok && id != "" {
					out = append(out, schema.SubjectTag(ledgerSecret, id))
				}
			}
			slices.Sort(out)
			return fmt.Sprint(slices.Compact(out))
		}
		type probe struct {
			dept, typ, key string
			keyIsCitizen   bool
		}
		for _, pr := range []struct{ exists, absent probe }{
			{probe{"public-security", "resident", sc.a, true}, probe{"public-security", "resident", nobody, true}},
			// M-2 is about c and d: the entry must not name them.
			{probe{"civil-affairs", "marriage", "M-2", false}, probe{"civil-affairs", "marriage", "M-404", false}},
		} {
			for _, subject := range []any{nil, sc.b} {
				// Twice in one request too: a count of the entry's tags
				// must not tell either.
				ask := func(p probe) (*response, schema.Access) {
					q := `query($d: String!, $t: String!, $k: [String!]!, $s: String, $p: String) {
  a: record(department: $d, type: $t, key: $k, subject: $s, purpose: $p) { leaf }
  b: record(department: $d, type: $t, key: $k, subject: $s, purpose: $p) { leaf } }`
					r := s.query(analyst, q, map[string]any{"d": p.dept, "t": p.typ, "k": []string{p.key}, "s": subject, "p": "real-estate-transfer"})
					return r, entryOf(r)
				}
				rExists, aExists := ask(pr.exists)
				rAbsent, aAbsent := ask(pr.absent)
				if rExists.Status != rAbsent.Status || string(sortedErrors(rExists.Errors)) != string(sortedErrors(rAbsent.Errors)) ||
					fmt.Sprint(rExists.Data) != fmt.Sprint(rAbsent.Data) {
					t.Fatalf("%s, subject %v: an existing withheld row answers\n%s\nand a missing one\n%s", pr.exists.typ, subject, truncate(rExists.Body), truncate(rAbsent.Body))
				}
				if rExists.reason() != "row-condition" {
					t.Fatalf("%s, subject %v: %s", pr.exists.typ, subject, truncate(rExists.Body))
				}
				for _, c := range []struct {
					p probe
					a schema.Access
				}{{pr.exists, aExists}, {pr.absent, aAbsent}} {
					var keyID any
					if c.p.keyIsCitizen {
						keyID = c.p.key
					}
					if got, want := fmt.Sprint(c.a.Subjects), tags(subject, keyID); got != want {
						t.Fatalf("%s %s, subject %v: the public entry names %v, want only the query's citizens %v", c.p.typ, c.p.key, subject, got, want)
					}
				}
				if fmt.Sprint(aExists.Denied) != fmt.Sprint(aAbsent.Denied) || len(aExists.Disclosed)+len(aAbsent.Disclosed) != 0 {
					t.Fatalf("%s, subject %v: access entries differ: %+v vs %+v", pr.exists.typ, subject, aExists, aAbsent)
				}
			}
		}
	})

	t.Run("history keeps the delete that ends a visible record", func(t *testing.T) {
		s.publish("civil-affairs", "marriage", map[string]string{
			"marriage_id": "M-3", "spouse_a_id": sc.a, "spouse_a_name": secretNameA, "spouse_b_id": sc.c, "spouse_b_name": secretNameC,
			"status": "married", "registered_on": "2020-05-20", "registry_office": secretOffice})
		if _, err := s.clients["civil-affairs"].Publish(s.ctx, "marriage", schema.OpDelete, map[string]string{"marriage_id": "M-3"}); err != nil {
			t.Fatal(err)
		}
		s.settle()
		const history = `query($k: [String!]!, $s: String) { history(department: "civil-affairs", type: "marriage", key: $k, subject: $s, purpose: "real-estate-transfer") { op leaf } }`
		r := s.query(analyst, history, map[string]any{"k": []string{"M-3"}, "s": sc.a})
		if len(r.Errors) > 0 {
			t.Fatalf("history: %s", truncate(r.Body))
		}
		vs := r.Data["history"].([]any)
		if len(vs) != 2 || vs[1].(map[string]any)["op"] != "delete" {
			t.Fatalf("history of a deleted marriage about the named citizen: %s", truncate(r.Body))
		}
		// Another citizen named: nothing, as for a marriage that never was.
		if r := s.query(analyst, history, map[string]any{"k": []string{"M-3"}, "s": sc.b}); r.reason() != "row-condition" {
			t.Fatalf("history about another citizen: %s", truncate(r.Body))
		}
	})

	t.Run("the probed citizen sees the probe", func(t *testing.T) {
		probed := residents[3]
		r := s.query(analyst, recordQuery, map[string]any{"d": "public-security", "t": "resident", "k": []string{probed}, "p": "real-estate-transfer"})
		if r.reason() != "row-condition" {
			t.Fatalf("probe: %s", truncate(r.Body))
		}
		id := r.accessID()
		a := s.waitAccess(id).Access
		if !slices.Contains(a.Subjects, schema.SubjectTag(ledgerSecret, probed)) {
			t.Fatalf("the probe's access entry does not name the probed citizen: %+v", a)
		}
		// The query text holds the citizen id: the public entry names it
		// by a keyed digest, not one anybody could reverse by trying ids.
		plain := sha256.Sum256([]byte(recordQuery))
		if !strings.HasPrefix(a.Query, "hmac-sha256:") || strings.Contains(a.Query, base64.RawURLEncoding.EncodeToString(plain[:])) {
			t.Fatalf("query digest %q is not keyed", a.Query)
		}
		own := s.query(s.citizenToken(probed), `{ accessLog(first: 100) { edges { node { id consumer denied { reason } } } } }`, nil)
		if !bytes.Contains(own.Body, []byte(`"id":"`+id+`"`)) {
			t.Fatalf("the citizen's own access log lacks the probe %s: %s", id, truncate(own.Body))
		}
		// Someone else's does not have it.
		other := s.query(s.citizenToken(residents[4]), `{ accessLog(first: 100) { edges { node { id } } } }`, nil)
		if bytes.Contains(other.Body, []byte(`"id":"`+id+`"`)) {
			t.Fatalf("another citizen sees the probe: %s", truncate(other.Body))
		}
	})
}

// sortedErrors encodes errs in path order (root fields resolve in
// parallel, so their errors come in any order).
func sortedErrors(errs []gqlErr) []byte {
	errs = slices.Clone(errs)
	slices.SortFunc(errs, func(a, b gqlErr) int { return strings.Compare(fmt.Sprint(a.Path), fmt.Sprint(b.Path)) })
	b, _ := json.Marshal(errs)
	return b
}

// TestEveryDenialIsLogged runs a refused request through every resolver
// that can refuse, for every role it refuses, and checks each is in an
// access entry with its reason; and that reads of the access log and of
// grants are access entries too.
func TestEveryDenialIsLogged(t *testing.T) {
	s := startStack(t, stackOptions{})
	sc := seed(t, s)
	analyst := s.token("real-estate", auth.RoleAnalyst)
	auditor := s.token("audit-office", auth.RoleAuditor)
	citizenA := s.citizenToken(sc.a)
	// An access entry of real-estate's, for accessEntry.
	first := s.query(analyst, personQuery, map[string]any{"id": sc.a, "purpose": "real-estate-transfer"})
	entryID := first.accessID()
	s.waitAccess(entryID)
	msg := signedGrant(t, "real-estate", 2)
	const sub = `mutation($m: String!) { submitGrant(message: $m) { seq } }`

	type tc struct {
		resolver, role string
		token, q       string
		vars           map[string]any
		reason         string
		// subject, if set, must be named by the access entry.
		subject string
	}
	marriage := map[string]any{"d": "civil-affairs", "t": "marriage", "k": []string{"M-1"}, "s": sc.a, "p": "real-estate-transfer"}
	marriages := map[string]any{"d": "civil-affairs", "t": "marriage", "first": 5, "s": sc.a, "p": "real-estate-transfer"}
	person := map[string]any{"id": sc.a, "purpose": "real-estate-transfer"}
	const history = `query($d: String!, $t: String!, $k: [String!]!, $s: String, $p: String) { history(department: $d, type: $t, key: $k, subject: $s, purpose: $p) { leaf } }`
	cases := []tc{}
	for _, role := range []struct {
		name, token string
	}{{"auditor", auditor}, {"citizen", citizenA}} {
		cases = append(cases,
			tc{"record", role.name, role.token, recordQuery, marriage, "role", ""},
			tc{"records", role.name, role.token, recordsQuery, marriages, "role", ""},
			tc{"history", role.name, role.token, history, marriage, "role", ""},
			tc{"person", role.name, role.token, personQuery, person, "role", ""},
			tc{"submitGrant", role.name, role.token, sub, map[string]any{"m": msg}, "role", ""},
		)
	}
	taxAnalyst := s.token("tax", auth.RoleAnalyst)
	cases = append(cases,
		tc{"record", "analyst", taxAnalyst, recordQuery, marriage, "no-grant", ""},
		tc{"records", "analyst", taxAnalyst, recordsQuery, marriages, "no-grant", ""},
		tc{"history", "analyst", taxAnalyst, history, marriage, "no-grant", ""},
		tc{"person", "analyst", taxAnalyst, personQuery, map[string]any{"id": sc.a, "purpose": "curiosity"}, "unknown-purpose", ""},
		tc{"grants", "analyst", analyst, `{ grants(owner: "tax", consumer: "civil-affairs") { leaf } }`, nil, "not-own-department", ""},
		tc{"grants", "citizen", citizenA, `{ grants { leaf } }`, nil, "role", ""},
		tc{"accessLog", "analyst", analyst, `{ accessLog(consumer: "tax", first: 5) { edges { cursor } } }`, nil, "not-own-department", ""},
		tc{"accessLog", "citizen", citizenA, `query($c: String) { accessLog(citizenId: $c, first: 5) { edges { cursor } } }`, map[string]any{"c": sc.b}, "not-own-data", sc.b},
		tc{"accessEntry", "analyst", taxAnalyst, `query($id: ID!) { accessEntry(id: $id) { leaf } }`, map[string]any{"id": entryID}, "not-own-department", ""},
		tc{"accessEntry", "citizen", s.citizenToken(sc.c), `query($id: ID!) { accessEntry(id: $id) { leaf } }`, map[string]any{"id": entryID}, "not-own-data", ""},
		tc{"submitGrant", "analyst", taxAnalyst, sub, map[string]any{"m": msg}, "not-own-department", ""},
	)
	for _, c := range cases {
		t.Run(c.resolver+"/"+c.role, func(t *testing.T) {
			r := s.query(c.token, c.q, c.vars)
			if r.reason() != c.reason {
				t.Fatalf("reason %q, want %q: %s", r.reason(), c.reason, truncate(r.Body))
			}
			id := r.accessID()
			if id == "" {
				t.Fatalf("a %s denial left no access entry: %s", c.reason, truncate(r.Body))
			}
			a := s.waitAccess(id).Access
			if !slices.ContainsFunc(a.Denied, func(d schema.AccessDenial) bool { return d.Reason == c.reason }) {
				t.Fatalf("access entry %s has no denial %q: %+v", id, c.reason, a)
			}
			if c.subject != "" && !slices.Contains(a.Subjects, schema.SubjectTag(ledgerSecret, c.subject)) {
				t.Fatalf("access entry %s does not name the citizen concerned: %+v", id, a)
			}
		})
	}

	t.Run("reads of the access log and grants are logged", func(t *testing.T) {
		reads := []struct {
			name, token, q string
			vars           map[string]any
			purpose        string
			subject        string
			disclosed      bool
		}{
			{"auditor reads a citizen's access log", auditor, `query($c: String) { accessLog(citizenId: $c, first: 5) { edges { node { id } } } }`, map[string]any{"c": sc.a}, "read-access-log", sc.a, true},
			{"citizen reads their own access log", citizenA, `{ accessLog(first: 5) { edges { node { id } } } }`, nil, "read-access-log", sc.a, true},
			{"analyst reads their department's access log", analyst, `{ accessLog(first: 5) { edges { node { id } } } }`, nil, "read-access-log", "", true},
			{"auditor reads an access entry", auditor, `query($id: ID!) { accessEntry(id: $id) { leaf } }`, map[string]any{"id": entryID}, "read-access-log", "", true},
			{"auditor reads the grants", auditor, `{ grants { leaf } }`, nil, "read-grants", "", true},
		}
		for _, rd := range reads {
			r := s.query(rd.token, rd.q, rd.vars)
			if len(r.Errors) > 0 {
				t.Fatalf("%s: %s", rd.name, truncate(r.Body))
			}
			id := r.accessID()
			if id == "" {
				t.Fatalf("%s: no access entry", rd.name)
			}
			a := s.waitAccess(id).Access
			if a.Purpose != rd.purpose || rd.disclosed && len(a.Disclosed) == 0 {
				t.Fatalf("%s: access entry %+v", rd.name, a)
			}
			if rd.subject != "" && !slices.Contains(a.Subjects, schema.SubjectTag(ledgerSecret, rd.subject)) {
				t.Fatalf("%s: access entry does not name the citizen: %+v", rd.name, a)
			}
		}
	})
}

// signedGrant is a grant of dept's with seq, signed by its demo key, as
// the JSON wire message submitGrant takes.
func signedGrant(t *testing.T, dept string, seq uint64) string {
	t.Helper()
	return signedMessage(t, grantEnvelope(dept, seq, "title_no"), schema.DemoKey(dept))
}

// grantEnvelope is dept's grant with seq, under its demo key, of fields of
// real-estate's property titles to tax for tax assessment; unsigned.
func grantEnvelope(dept string, seq uint64, fields ...string) *schema.Envelope {
	return &schema.Envelope{V: 1, Kind: schema.KindGrant, Department: dept, Seq: seq,
		Time: time.Now().UTC().Format("2006-01-02T15:04:05Z"), KeyID: schema.KeyID(schema.DemoKey(dept).Public().(ed25519.PublicKey)),
		Grant: &schema.Grant{Consumer: "tax", Purpose: "tax-assessment", Type: "property-title", Fields: fields}}
}

// signedMessage signs env with key, as the JSON wire message.
func signedMessage(t *testing.T, env *schema.Envelope, key ed25519.PrivateKey) string {
	t.Helper()
	if err := schema.Sign(env, key); err != nil {
		t.Fatal(err)
	}
	return string(ingesttest.EncodeMessage(t, env, nil))
}

// TestLowFindings: the low findings of the gateway-leaks issue, over HTTP.
func TestLowFindings(t *testing.T) {
	m := newMinistry(t)
	s := startStack(t, stackOptions{issuers: []auth.IssuerConfig{m.cfg}})
	sc := seed(t, s)
	analyst := s.token("real-estate", auth.RoleAnalyst)

	t.Run("integer literals out of range", func(t *testing.T) {
		var logged bytes.Buffer
		log.SetOutput(&logged)
		defer log.SetOutput(os.Stderr)
		for _, q := range []string{
			`{ inclusionProof(index: 9223372036854775808, size: 1) { index } }`,
			`{ consistencyProof(from: 0, to: 18446744073709551616) { to } }`,
			`{ inclusionProof(index: 0, size: 99999999999999999999999) { index } }`,
		} {
			r := s.query(analyst, q, nil)
			if r.Status != 400 || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] == "INTERNAL" {
				t.Fatalf("%s: %d %s", q, r.Status, truncate(r.Body))
			}
			if !strings.Contains(r.Errors[0].Message, "range") {
				t.Errorf("%s: unclear error %q", q, r.Errors[0].Message)
			}
		}
		// Variables never reach graphql-go's literal parsing: numbers
		// past what Uint64 holds are refused by the scalar.
		for _, n := range []string{"9223372036854775808", "18446744073709551616", "1e400", "-1", "1.5"} {
			r := s.post(analyst, []byte(`{"query":"query($i: Uint64!) { inclusionProof(index: $i, size: 1) { index } }","variables":{"i":`+n+`}}`))
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] == "INTERNAL" || strings.Contains(string(r.Body), "panic") {
				t.Fatalf("variable %s: %d %s", n, r.Status, truncate(r.Body))
			}
		}
		if strings.Contains(logged.String(), "goroutine ") || strings.Contains(logged.String(), "panic") {
			t.Fatalf("a stack trace was logged:\n%s", logged.String())
		}
	})

	t.Run("caseRef must be printable", func(t *testing.T) {
		q := `query($c: String) { person(citizenId: "` + sc.a + `", purpose: "real-estate-transfer", caseRef: $c) { subject } }`
		for _, bad := range []string{"CASE\x00-1", "\x1b[31mCASE", "CASE\x7f", "CASE\u2028-1", "CASE\u202e1-ESAC", "CASE\u200b", "A\tB"} {
			r := s.query(analyst, q, map[string]any{"c": bad})
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "BAD_REQUEST" || !strings.Contains(r.Errors[0].Message, "caseRef") {
				t.Fatalf("caseRef %q accepted: %s", bad, truncate(r.Body))
			}
		}
		r := s.query(analyst, q, map[string]any{"c": "海淀 不动产 2026/07-№5 (re: A&B)"})
		if len(r.Errors) > 0 {
			t.Fatalf("a printable caseRef refused: %s", truncate(r.Body))
		}
	})

	t.Run("submitGrant needs an analyst", func(t *testing.T) {
		msg := signedGrant(t, "real-estate", 2)
		r := s.query(s.token("real-estate", auth.RoleAuditor), `mutation($m: String!) { submitGrant(message: $m) { seq } }`, map[string]any{"m": msg})
		if r.reason() != "role" {
			t.Fatalf("an auditor forwarded the department's grant: %s", truncate(r.Body))
		}
	})

	t.Run("reserved names and long-lived tokens", func(t *testing.T) {
		tok := func(claims jwt.MapClaims) string {
			base := jwt.MapClaims{"iss": "ministry", "sub": "m-user", "department": "tax", "roles": []string{"analyst"},
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
			for k, v := range claims {
				base[k] = v
			}
			signed, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, base).SignedString(m.key)
			if err != nil {
				t.Fatal(err)
			}
			return signed
		}
		reserved, err := s.issuer.Issue(auth.Identity{User: "x", Department: "unauthenticated", Roles: []auth.Role{auth.RoleAnalyst}}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			token, reason string
		}{
			"reserved department": {reserved, "bad-claims"},
			"reserved user":       {tok(jwt.MapClaims{"sub": "anonymous"}), "bad-claims"},
			"ten-year token":      {tok(jwt.MapClaims{"exp": time.Now().Add(10 * 365 * 24 * time.Hour).Unix()}), "bad-claims"},
			"48-hour token":       {tok(jwt.MapClaims{"exp": time.Now().Add(48 * time.Hour).Unix()}), "bad-claims"},
		} {
			r := s.query(c.token, `{ checkpoint { size } }`, nil)
			if r.Status != 401 || r.reason() != c.reason {
				t.Fatalf("%s: %d %s", name, r.Status, truncate(r.Body))
			}
		}
		if r := s.query(tok(nil), `{ checkpoint { size } }`, nil); r.Status != 200 {
			t.Fatalf("a one-hour token: %d %s", r.Status, truncate(r.Body))
		}
	})

	t.Run("trailing bytes after the body", func(t *testing.T) {
		for _, body := range []string{
			`{"query":"{ checkpoint { size } }"} {"query":"{ grants { leaf } }"}`,
			`{"query":"{ checkpoint { size } }"}x`,
			`{"query":"{ checkpoint { size } }"}]`,
		} {
			r := s.post(analyst, []byte(body))
			if r.Status != 400 || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "after the JSON") {
				t.Fatalf("%q: %d %s", body, r.Status, truncate(r.Body))
			}
		}
		if r := s.post(analyst, []byte("{\"query\":\"{ checkpoint { size } }\"}\r\n \n")); r.Status != 200 {
			t.Fatalf("trailing white space refused: %d %s", r.Status, truncate(r.Body))
		}
	})

	t.Run("a chunked body over the limit", func(t *testing.T) {
		// No Content-Length: the limit holds while reading, after the
		// token was checked.
		big := append([]byte(`{"query":"{ checkpoint { size } }","variables":{"x":"`), bytes.Repeat([]byte("x"), 300<<10)...)
		big = append(big, `"}}`...)
		req, _ := http.NewRequestWithContext(s.ctx, http.MethodPost, s.srv.URL+"/graphql", io.MultiReader(bytes.NewReader(big)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+analyst)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte("BODY_TOO_LARGE")) {
			t.Fatalf("chunked 300 KiB body: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("a trickled body without a token is not waited for", func(t *testing.T) {
		u, _ := url.Parse(s.srv.URL)
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// 1000 bytes announced, 10 sent: at a byte a second the body
		// would take a quarter of an hour. The answer must come with the
		// headers alone, and the connection close right after it.
		fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":", u.Host)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		conn.SetReadDeadline(time.Now().Add(60 * time.Second)) // a hang detector only
		resp, err := readHTTPResponse(conn)
		if err != nil {
			t.Fatalf("no answer before the body was sent: %v", err)
		}
		if !strings.HasPrefix(resp, "HTTP/1.1 401") || !strings.Contains(resp, "Connection: close") {
			t.Fatalf("answer: %s", resp)
		}
		start := time.Now()
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Fatalf("the connection was not closed: %v", err)
		}
		t.Logf("connection closed %v after the answer, %d of 1000 body bytes sent", time.Since(start), 10)
	})
}

// readHTTPResponse reads one HTTP/1.1 response with a Content-Length
// body and returns its header text.
func readHTTPResponse(c net.Conn) (string, error) {
	br := bufio.NewReader(c)
	var head strings.Builder
	length := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return head.String(), err
		}
		head.WriteString(line)
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length: "); ok {
			fmt.Sscan(v, &length)
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := io.ReadFull(br, make([]byte, length)); err != nil {
		return head.String(), err
	}
	return head.String(), nil
}
