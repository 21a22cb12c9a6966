package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/crossledger/crossledger/gateway"
	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/gateway/limits"
	"github.com/crossledger/crossledger/gateway/verify"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// citizen returns a valid resident identity number for i.
func citizen(t *testing.T, i int) string {
	t.Helper()
	first := fmt.Sprintf("11010819%02d0101%03d", 50+i%40, 100+i)
	c, err := schema.CitizenIDCheck(first)
	if err != nil {
		t.Fatal(err)
	}
	return first + string(c)
}

func creditCode(t *testing.T, i int) string {
	t.Helper()
	first := fmt.Sprintf("91110108%09d", i)
	c, err := schema.CreditCodeCheck(first)
	if err != nil {
		t.Fatal(err)
	}
	return first + string(c)
}

// scenario is the Haidian property-transfer data the tests query.
type scenario struct {
	a, b, c, d string // citizens: a and b married, c and d married
	secrets    []string
}

// secret values that no grant in the scenario discloses to real-estate:
// they must never appear in a response body.
const (
	secretNameA   = "Secret-Name-Of-Spouse-A"
	secretNameB   = "Secret-Name-Of-Spouse-B"
	secretNameC   = "Secret-Name-Of-Spouse-C"
	secretOffice  = "Secret-Registry-Office"
	secretAddress = "Secret-Address-Of-A"
	secretKWh     = "987654"
	secretRating  = "secret-tax-marker"
)

func seed(t *testing.T, s *stack) *scenario {
	sc := &scenario{a: citizen(t, 1), b: citizen(t, 2), c: citizen(t, 3), d: citizen(t, 4),
		secrets: []string{secretNameA, secretNameB, secretNameC, secretOffice, secretAddress, secretKWh}}
	s.publish("public-security", "resident", map[string]string{
		"citizen_id": sc.a, "name": "Zhang San", "gender": "male", "birth_date": "1951-01-01",
		"address": secretAddress, "household_id": "HH-0001", "card_issued_on": "2015-06-01"})
	s.publish("civil-affairs", "marriage", map[string]string{
		"marriage_id": "M-1", "spouse_a_id": sc.a, "spouse_a_name": secretNameA, "spouse_b_id": sc.b, "spouse_b_name": secretNameB,
		"status": "married", "registered_on": "2010-05-20", "registry_office": secretOffice})
	s.publish("civil-affairs", "marriage", map[string]string{
		"marriage_id": "M-2", "spouse_a_id": sc.c, "spouse_a_name": secretNameC, "spouse_b_id": sc.d, "spouse_b_name": "Other Name",
		"status": "divorced", "registered_on": "2001-01-01", "dissolved_on": "2005-01-01", "registry_office": secretOffice})
	s.publish("real-estate", "property-title", map[string]string{
		"title_no": "T-1", "owner_id": sc.a, "owner_name": "Zhang San", "address": "1 Zhongguancun St",
		"area_sqm": "88.5", "usage": "residential", "registered_on": "2012-03-04", "encumbered": "false"})
	s.publish("tax", "tax-credit", map[string]string{
		"taxpayer_id": creditCode(t, 7), "year": "2025", "rating": "A", "arrears": "0", "legal_rep_id": sc.a})
	s.publish("electricity", "account", map[string]string{
		"account_no": "E-1", "holder_id": sc.a, "holder_name": "Zhang San", "address": secretAddress,
		"monthly_kwh": secretKWh, "arrears": "12.5", "opened_at": "2012-03-05T08:00:00Z"})

	const purpose = "real-estate-transfer"
	s.grant("civil-affairs", schema.Grant{Consumer: "real-estate", Purpose: purpose, Type: "marriage",
		Fields: []string{"marriage_id", "spouse_a_id", "spouse_b_id", "status"}, Condition: "subject"})
	s.grant("public-security", schema.Grant{Consumer: "real-estate", Purpose: purpose, Type: "resident",
		Fields: []string{"citizen_id", "household_id", "name"}, Condition: "subject"})
	s.grant("tax", schema.Grant{Consumer: "real-estate", Purpose: purpose, Type: "tax-credit",
		Fields: []string{"rating", "year"}, Expires: time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")})
	s.grant("electricity", schema.Grant{Consumer: "real-estate", Purpose: purpose, Type: "account",
		Fields: []string{"account_no", "arrears"}})
	s.settle()
	return sc
}

const personQuery = `query($id: String!, $purpose: String) {
  person(citizenId: $id, purpose: $purpose, caseRef: "CASE-1") {
    subject
    departments { department records { department type key leaf envelope keyId signature proof fields { name value disclosure digest redacted } } }
  }
}`

const recordQuery = `query($d: String!, $t: String!, $k: [String!]!, $s: String, $p: String) {
  record(department: $d, type: $t, key: $k, subject: $s, purpose: $p) {
    department type key leaf envelope keyId signature proof fields { name value disclosure digest redacted }
  }
}`

// ministry is a second issuer with a static key that may vouch only for
// tax and real-estate, and whose tokens the test signs itself.
type ministry struct {
	key ed25519.PrivateKey
	cfg auth.IssuerConfig
}

func newMinistry(t *testing.T) *ministry {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &ministry{key: priv, cfg: auth.IssuerConfig{Issuer: "ministry", Keys: []string{p}, Departments: []string{"tax", "real-estate"}}}
}

func (m *ministry) token(t *testing.T, dept string, exp time.Time) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "ministry", "sub": "m-" + dept, "department": dept, "roles": []string{"analyst"},
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": exp.Unix(),
	})
	s, err := tok.SignedString(m.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthorisationMatrix runs every denial of the gateway issue against
// a real gateway over HTTP, with the real broker and a real store, and
// checks each gets its specific reason, leaks no denied value, and is in
// the access log.
func TestAuthorisationMatrix(t *testing.T) {
	m := newMinistry(t)
	s := startStack(t, stackOptions{issuers: []auth.IssuerConfig{m.cfg}})
	sc := seed(t, s)
	analyst := s.token("real-estate", auth.RoleAnalyst)

	// The revoke comes after everything else so that the electricity
	// grant was in force once: a revoked grant, not a missing one.
	s.revoke("electricity", schema.Revoke{Consumer: "real-estate", Purpose: "real-estate-transfer", Type: "account"})
	s.settle()

	// Tokens of dev issuers the gateway does not trust: one that claims the
	// trusted issuer's name, and a stranger.
	forged := foreignAnalystToken(t, "crossledger-test", "mallory")
	wrongIssuer := foreignAnalystToken(t, "stranger", "eve")
	marriage := func(key string, subject, purpose any) map[string]any {
		return map[string]any{"d": "civil-affairs", "t": "marriage", "k": []string{key}, "s": subject, "p": purpose}
	}

	cases := []struct {
		name   string
		token  string
		q      string
		vars   map[string]any
		status int
		code   string
		reason string
		// deniedField, if set, must come back redacted (and the query
		// otherwise succeeds).
		deniedField string
		clock       time.Duration
	}{
		{name: "no token", q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 401, code: "UNAUTHENTICATED", reason: "no-token"},
		{name: "bad signature", token: forged, q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 401, code: "UNAUTHENTICATED", reason: "bad-signature"},
		{name: "expired token", token: m.token(t, "real-estate", time.Now().Add(-time.Hour)), q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 401, code: "UNAUTHENTICATED", reason: "expired"},
		{name: "wrong issuer", token: wrongIssuer, q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 401, code: "UNAUTHENTICATED", reason: "unknown-issuer"},
		{name: "issuer may not vouch for department", token: m.token(t, "civil-affairs", time.Now().Add(time.Hour)), q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 401, code: "UNAUTHENTICATED", reason: "department-not-allowed"},
		{name: "wrong department", token: s.token("tax", auth.RoleAnalyst), q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 200, code: "FORBIDDEN", reason: "no-grant"},
		{name: "missing purpose", token: analyst, q: recordQuery, vars: marriage("M-1", sc.a, nil), status: 200, code: "FORBIDDEN", reason: "no-purpose"},
		{name: "unknown purpose", token: analyst, q: recordQuery, vars: marriage("M-1", sc.a, "curiosity"), status: 200, code: "FORBIDDEN", reason: "unknown-purpose"},
		{name: "ungranted field", token: analyst, q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 200, reason: "no-grant", deniedField: "spouse_a_name"},
		{name: "row condition violated", token: analyst, q: recordQuery, vars: marriage("M-2", sc.a, "real-estate-transfer"), status: 200, code: "FORBIDDEN", reason: "row-condition"},
		{name: "row condition without subject", token: analyst, q: recordQuery, vars: marriage("M-1", nil, "real-estate-transfer"), status: 200, code: "FORBIDDEN", reason: "row-condition"},
		{name: "revoked grant", token: analyst, q: recordQuery, vars: map[string]any{"d": "electricity", "t": "account", "k": []string{"E-1"}, "p": "real-estate-transfer"}, status: 200, code: "FORBIDDEN", reason: "revoked"},
		{name: "expired grant", token: analyst, q: recordQuery, vars: map[string]any{"d": "tax", "t": "tax-credit", "k": []string{creditCode(t, 7), "2025"}, "p": "real-estate-transfer"}, status: 200, code: "FORBIDDEN", reason: "expired", clock: 2 * time.Hour},
		{name: "wrong role", token: s.token("real-estate", auth.RoleAuditor), q: recordQuery, vars: marriage("M-1", sc.a, "real-estate-transfer"), status: 200, code: "FORBIDDEN", reason: "role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.clock.advance(c.clock)
			defer s.clock.advance(-c.clock)
			r := s.query(c.token, c.q, c.vars)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, truncate(r.Body))
			}
			for _, secret := range sc.secrets {
				if bytes.Contains(r.Body, []byte(secret)) {
					t.Fatalf("denied value %q in the response: %s", secret, truncate(r.Body))
				}
			}
			if c.deniedField != "" {
				if len(r.Errors) > 0 {
					t.Fatalf("errors: %s", truncate(r.Body))
				}
				rec, _ := r.Data["record"].(map[string]any)
				found := false
				for _, f := range rec["fields"].([]any) {
					f := f.(map[string]any)
					if f["name"] == c.deniedField {
						found = true
						if f["redacted"] != true || f["value"] != nil || f["disclosure"] != nil || f["digest"] == "" {
							t.Fatalf("field %s not redacted: %v", c.deniedField, f)
						}
					} else if f["name"] == "status" && (f["redacted"] != false || f["value"] != "married") {
						t.Fatalf("granted field status: %v", f)
					}
				}
				if !found {
					t.Fatalf("no field %s in %s", c.deniedField, truncate(r.Body))
				}
			} else {
				if len(r.Errors) == 0 {
					t.Fatalf("no error: %s", truncate(r.Body))
				}
				if got := r.Errors[0].Extensions["code"]; got != c.code {
					t.Errorf("code %v, want %s", got, c.code)
				}
				if r.reason() != c.reason {
					t.Errorf("reason %q, want %q: %s", r.reason(), c.reason, r.Errors[0].Message)
				}
				if r.Errors[0].Message == "" {
					t.Error("empty error message")
				}
			}
			id := r.accessID()
			if id == "" {
				t.Fatalf("no access id in %s", truncate(r.Body))
			}
			ev := s.waitAccess(id)
			if !slices.ContainsFunc(ev.Access.Denied, func(d schema.AccessDenial) bool { return d.Reason == c.reason }) {
				t.Fatalf("access entry %s has no denial %q: %+v", id, c.reason, ev.Access.Denied)
			}
		})
	}
}

// TestPersonVerifiesOffline asks the federated question of the issue and
// checks every record of the answer offline, and every inclusion proof
// against the served tiles with tessera's client.
func TestPersonVerifiesOffline(t *testing.T) {
	s := startStack(t, stackOptions{})
	sc := seed(t, s)
	r := s.query(s.token("real-estate", auth.RoleAnalyst), personQuery, map[string]any{"id": sc.a, "purpose": "real-estate-transfer"})
	if r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("person: %d %s", r.Status, truncate(r.Body))
	}
	for _, secret := range sc.secrets {
		if bytes.Contains(r.Body, []byte(secret)) {
			t.Fatalf("ungranted value %q in the response", secret)
		}
	}
	got := map[string]int{}
	person := r.Data["person"].(map[string]any)
	for _, d := range person["departments"].([]any) {
		d := d.(map[string]any)
		recs, _ := d["records"].([]any)
		got[d["department"].(string)] = len(recs)
	}
	want := map[string]int{"civil-affairs": 1, "public-security": 1, "real-estate": 1, "tax": 1, "electricity": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("department %s: %d records, want %d (all: %v)", k, got[k], v, got)
		}
	}

	rep, err := verify.Response(r.Body, s.log.Verifier(), s.keys)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Records != 5 {
		t.Fatalf("offline verification: %d records, failures %v", rep.Records, rep.Failures)
	}
	// Tamper with one disclosed value: verification must fail.
	tampered := bytes.Replace(r.Body, []byte(`"value":"married"`), []byte(`"value":"divorced"`), 1)
	if bytes.Equal(tampered, r.Body) {
		t.Fatal("no married status to tamper with")
	}
	if rep, err := verify.Response(tampered, s.log.Verifier(), s.keys); err != nil || rep.OK() {
		t.Fatalf("tampered response verified: %v %v", rep, err)
	}

	// Inclusion proofs against the tiles the log serves, with tessera.
	u, _ := url.Parse(s.srv.URL + "/")
	f, err := client.NewHTTPFetcher(u, s.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range person["departments"].([]any) {
		for _, rec := range d.(map[string]any)["records"].([]any) {
			rec := rec.(map[string]any)
			p, err := merkle.DecodeProof([]byte(rec["proof"].(string)))
			if err != nil {
				t.Fatal(err)
			}
			cp, _, err := merkle.ParseCheckpoint(p.Checkpoint, s.log.Verifier())
			if err != nil {
				t.Fatal(err)
			}
			pb, err := client.NewProofBuilder(s.ctx, cp.Size, f.ReadTile)
			if err != nil {
				t.Fatal(err)
			}
			hs, err := pb.InclusionProof(s.ctx, p.Index)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(hs, p.Hashes, bytes.Equal) {
				t.Fatalf("leaf %d: tessera's proof differs from the gateway's", p.Index)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, rfc6962.DefaultHasher.HashLeaf([]byte(rec["envelope"].(string))), hs, cp.Hash); err != nil {
				t.Fatalf("leaf %d: %v", p.Index, err)
			}
		}
	}

	// The access is in the ledger: the citizen sees it, another citizen
	// does not, and the entry names what was disclosed.
	id := r.accessID()
	ev := s.waitAccess(id)
	if ev.Access.Consumer != "real-estate" || ev.Access.Purpose != "real-estate-transfer" || ev.Access.CaseRef != "CASE-1" || len(ev.Access.Disclosed) != 5 {
		t.Fatalf("access entry: %+v", ev.Access)
	}
	if !slices.Contains(ev.Access.Subjects, schema.SubjectTag(ledgerSecret, sc.a)) {
		t.Fatalf("access entry does not name the citizen's tag: %+v", ev.Access.Subjects)
	}
	const logQ = `{ accessLog(first: 100) { edges { node { id consumer user purpose caseRef disclosed { leaf fields } proof } } } }`
	mine := s.query(s.citizenToken(sc.a), logQ, nil)
	if mine.Status != 200 || len(mine.Errors) > 0 || !bytes.Contains(mine.Body, []byte(`"id":"`+id+`"`)) {
		t.Fatalf("citizen a does not see access %s: %s", id, truncate(mine.Body))
	}
	theirs := s.query(s.citizenToken(sc.c), logQ, nil)
	if theirs.Status != 200 || bytes.Contains(theirs.Body, []byte(`"id":"`+id+`"`)) {
		t.Fatalf("citizen c sees a's access: %s", truncate(theirs.Body))
	}
	entry := s.query(s.token("real-estate", auth.RoleAnalyst), `query($id: ID!) { accessEntry(id: $id) { id leaf proof } }`, map[string]any{"id": id})
	if entry.Status != 200 || len(entry.Errors) > 0 || !strings.Contains(string(entry.Body), merkle.ProofHeader) {
		t.Fatalf("accessEntry: %s", truncate(entry.Body))
	}
}

// TestSubmitGrant sends a grant through the gateway's mutation and sees
// it take effect for the next queries, and refuses a forged one.
func TestSubmitGrant(t *testing.T) {
	s := startStack(t, stackOptions{})
	sc := seed(t, s)
	tax := s.token("tax", auth.RoleAnalyst)
	q := map[string]any{"d": "real-estate", "t": "property-title", "k": []string{"T-1"}, "p": "tax-assessment"}
	if r := s.query(tax, recordQuery, q); r.reason() != "no-grant" {
		t.Fatalf("before the grant: %s", truncate(r.Body))
	}
	// real-estate's system signs the grant itself with its next seq (its
	// SDK client published seq 1 in seed and publishes nothing more
	// here, so seq 2 is free), as `crossledger grant --out` does.
	env := grantEnvelope("real-estate", 2, "area_sqm", "title_no")
	msg := signedMessage(t, env, schema.DemoKey("real-estate"))
	const sub = `mutation($m: String!) { submitGrant(message: $m) { department seq digest } }`
	if r := s.query(tax, sub, map[string]any{"m": string(msg)}); r.reason() != "not-own-department" {
		t.Fatalf("tax submitted real-estate's grant: %s", truncate(r.Body))
	}
	r := s.query(s.token("real-estate", auth.RoleAnalyst), sub, map[string]any{"m": string(msg)})
	if r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("submitGrant: %s", truncate(r.Body))
	}
	waitFor(t, func() bool {
		r := s.query(tax, recordQuery, q)
		return len(r.Errors) == 0 && bytes.Contains(r.Body, []byte(`"value":"88.5"`))
	})
	_ = sc
	// A forged grant is refused before it reaches the ledger.
	env.Seq = 3
	env.Grant.Fields = []string{"address", "area_sqm", "owner_id", "owner_name", "title_no"}
	msg = signedMessage(t, env, schema.DemoKey("tax"))
	if r := s.query(s.token("real-estate", auth.RoleAnalyst), sub, map[string]any{"m": string(msg)}); len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "signature") {
		t.Fatalf("forged grant accepted: %s", truncate(r.Body))
	}
}

// foreignAnalystToken is a real-estate analyst token for user, issued by a
// new dev issuer named issuer with a key of its own.
func foreignAnalystToken(t *testing.T, issuer, user string) string {
	t.Helper()
	iss, err := auth.LoadOrCreateDevIssuer(filepath.Join(t.TempDir(), "issuer.pem"), issuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(auth.Identity{User: user, Department: "real-estate", Roles: []auth.Role{auth.RoleAnalyst}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met in 30s")
}

// TestAbuse sends the issue's hostile requests while a normal client keeps
// querying: each is refused quickly with a clear error and the normal
// queries keep being answered.
func TestAbuse(t *testing.T) {
	s := startStack(t, stackOptions{})
	sc := seed(t, s)
	tok := s.token("real-estate", auth.RoleAnalyst)

	ctx, cancel := context.WithCancel(s.ctx)
	normalDone := make(chan int)
	var answered atomic.Int64 // normal queries answered 200 so far
	go func() {
		n := 0
		for ctx.Err() == nil {
			body, _ := json.Marshal(map[string]any{"query": personQuery, "variables": map[string]any{"id": sc.a, "purpose": "real-estate-transfer"}})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.srv.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				break
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				n++
				answered.Add(1)
			}
			time.Sleep(50 * time.Millisecond)
		}
		normalDone <- n
	}()

	deep := strings.Repeat("{ a ", 200) + strings.Repeat("}", 200)
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d:__typename", i)
		}
		return b.String() + "}"
	}
	var bomb strings.Builder
	bomb.WriteString("{")
	for i := range 10 {
		fmt.Fprintf(&bomb, ` r%d: records(department: "civil-affairs", type: "marriage", first: 100, purpose: "real-estate-transfer") { edges { node { fields { name value disclosure digest } } } }`, i)
	}
	bomb.WriteString("}")
	huge := append([]byte(`{"query":"{ checkpoint { size } }","variables":{"x":"`), bytes.Repeat([]byte("x"), 10<<20)...)
	huge = append(huge, []byte(`"}}`)...)

	cases := []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"depth 200", mustJSON(deep), 400, "TOO_DEEP"},
		{"10000 aliases", mustJSON(aliases(10000)), 400, "QUERY_TOO_LARGE"},
		{"1000 aliases (under the length limit)", mustJSON(aliases(1000)), 400, "TOO_MANY_FIELDS"},
		{"cost bomb", mustJSON(bomb.String()), 400, "TOO_COSTLY"},
		{"10 MB body", huge, 413, "BODY_TOO_LARGE"},
	}
	for _, c := range cases {
		start := time.Now()
		r := s.post(tok, c.body)
		took := time.Since(start)
		if r.Status != c.status || len(r.Errors) == 0 {
			t.Errorf("%s: status %d: %s", c.name, r.Status, truncate(r.Body))
			continue
		}
		code, _ := r.Errors[0].Extensions["code"].(string)
		if code != c.code {
			t.Errorf("%s: code %q, want %q (%s)", c.name, code, c.code, r.Errors[0].Message)
		}
		if took > 30*time.Second { // a hang detector; the times are logged
			t.Errorf("%s: took %v", c.name, took)
		}
		t.Logf("%s: refused in %v: %s", c.name, took, r.Errors[0].Message)
	}
	// The normal client keeps being answered: wait (bounded) for one more
	// answer after the abuse.
	after := answered.Load()
	for deadline := time.Now().Add(30 * time.Second); answered.Load() == after && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if n := <-normalDone; n == 0 {
		t.Fatal("no normal query was answered during the abuse")
	}
}

func mustJSON(q string) []byte {
	b, _ := json.Marshal(map[string]any{"query": q})
	return b
}

// TestRateLimit: an identity over its rate gets 429 RATE_LIMITED with
// Retry-After, while another identity is still answered.
func TestRateLimit(t *testing.T) {
	s := startStack(t, stackOptions{cfg: func(c *gateway.Config) {
		c.Rate = limits.RateConfig{Authenticated: limits.Rate{PerSecond: 0.01, Burst: 2}, Anonymous: limits.Rate{PerSecond: 0.01, Burst: 1}, MaxKeys: 100}
	}})
	hasty := s.token("real-estate", auth.RoleAnalyst)
	const q = `{ checkpoint { size } }`
	for i := range 2 {
		if r := s.query(hasty, q, nil); r.Status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, r.Status, truncate(r.Body))
		}
	}
	r := s.query(hasty, q, nil)
	if r.Status != 429 || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "RATE_LIMITED" {
		t.Fatalf("over the rate: %d %s", r.Status, truncate(r.Body))
	}
	other, err := s.issuer.Issue(auth.Identity{User: "someone-else", Department: "tax", Roles: []auth.Role{auth.RoleAnalyst}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.query(other, q, nil); r.Status != 200 {
		t.Fatalf("another identity: %d %s", r.Status, truncate(r.Body))
	}
	// Unauthenticated callers share a tighter bucket per address: the
	// first refusal is logged, the next is just refused.
	if r := s.query("", q, nil); r.Status != 401 || r.accessID() == "" {
		t.Fatalf("first anonymous request: %d %s", r.Status, truncate(r.Body))
	}
	if r := s.query("", q, nil); r.Status != 429 {
		t.Fatalf("second anonymous request: %d %s", r.Status, truncate(r.Body))
	}
}
