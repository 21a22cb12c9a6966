package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gopkg.in/yaml.v3"
)

func TestVerifyEachAlgorithm(t *testing.T) {
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{staticConfig(t)})
	for _, tt := range []struct {
		name string
		m    jwt.SigningMethod
		key  any
	}{
		{"EdDSA", jwt.SigningMethodEdDSA, edKey()},
		{"ES256", jwt.SigningMethodES256, ecKey()},
		{"RS256", jwt.SigningMethodRS256, rsaKey()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := claimsAt(clock.Now())
			c["roles"] = []string{"analyst", "auditor", "analyst"}
			id, err := a.Verify(context.Background(), sign(t, tt.m, tt.key, "", c))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Identity{Issuer: testIssuer, User: "zhang.wei", Department: "public-security",
				Roles: []Role{RoleAnalyst, RoleAuditor}, Expires: clock.Now().Add(time.Hour)}
			if id.Issuer != want.Issuer || id.User != want.User || id.Department != want.Department ||
				!slices.Equal(id.Roles, want.Roles) || !id.Expires.Equal(want.Expires) || id.CitizenID != "" {
				t.Errorf("identity = %+v, want %+v", id, want)
			}
			if !id.Has(RoleAuditor) || id.Has(RoleCitizen) {
				t.Errorf("Has: wrong answer for %v", id.Roles)
			}
		})
	}
}

func TestVerifyCitizen(t *testing.T) {
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{staticConfig(t)})
	c := claimsAt(clock.Now())
	c["roles"] = []string{"citizen"}
	c["citizen_id"] = strings.ToLower(testCitizenA)
	id, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "", c))
	if err != nil {
		t.Fatal(err)
	}
	if id.CitizenID != testCitizenA || !id.Has(RoleCitizen) {
		t.Errorf("identity = %+v, want citizen %s", id, testCitizenA)
	}
}

// TestReasons signs real tokens that are wrong in one way each and checks
// the denial reason.
func TestReasons(t *testing.T) {
	clock := newClock()
	now := clock.Now()
	audCfg := IssuerConfig{Issuer: "https://aud.test", Keys: []string{pemOf(t, edKey().Public())}, Audience: "crossledger-gateway"}
	deptCfg := IssuerConfig{Issuer: "https://dept.test", Keys: []string{pemOf(t, edKey().Public())}, Departments: []string{"civil-affairs"}}
	a := newAuth(t, clock, []IssuerConfig{staticConfig(t), audCfg, deptCfg})

	ed := func(mut func(jwt.MapClaims)) string {
		c := claimsAt(now)
		if mut != nil {
			mut(c)
		}
		return sign(t, jwt.SigningMethodEdDSA, edKey(), "", c)
	}
	with := func(k string, v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c[k] = v } }
	without := func(k string) func(jwt.MapClaims) { return func(c jwt.MapClaims) { delete(c, k) } }
	pubPEM := pemOf(t, edKey().Public())
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	valid := ed(nil)
	parts := strings.Split(valid, ".")

	for _, tt := range []struct {
		name, token, reason string
	}{
		{"valid", valid, ""},
		{"no token", "", "no-token"},
		{"not a jwt", "hello", "malformed-token"},
		{"bad base64", "a.b.c", "malformed-token"},
		{"two parts", parts[0] + "." + parts[1], "malformed-token"},
		{"oversized", ed(with("pad", strings.Repeat("x", MaxTokenSize))), "malformed-token"},
		{"crit header", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claimsAt(now))
			tok.Header["crit"] = []string{"exp"}
			s, _ := tok.SignedString(edKey())
			return s
		}(), "malformed-token"},

		{"other key", sign(t, jwt.SigningMethodEdDSA, otherEdKey(), "", claimsAt(now)), "bad-signature"},
		{"other RSA key", sign(t, jwt.SigningMethodRS256, otherRSAKey(), "", claimsAt(now)), "bad-signature"},
		{"other EC key", sign(t, jwt.SigningMethodES256, otherEC, "", claimsAt(now)), "bad-signature"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"root","department":"public-security","roles":["auditor"],"exp":9999999999}`)) + "." + parts[2], "bad-signature"},
		{"no signature", parts[0] + "." + parts[1] + ".", "bad-signature"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claimsAt(now)), "bad-signature"},
		{"HS256 with public PEM", sign(t, jwt.SigningMethodHS256, []byte(pubPEM), "", claimsAt(now)), "bad-signature"},
		{"HS256 with raw public key", sign(t, jwt.SigningMethodHS256, []byte(edKey().Public().(ed25519.PublicKey)), "", claimsAt(now)), "bad-signature"},
		{"PS256 with the RSA key", sign(t, jwt.SigningMethodPS256, rsaKey(), "", claimsAt(now)), "bad-signature"},
		{"unknown alg", func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XS999","typ":"JWT"}`))
			return h + "." + parts[1] + "." + parts[2]
		}(), "bad-signature"},
		{"ES384", sign(t, jwt.SigningMethodES384, mustEC384(t), "", claimsAt(now)), "bad-signature"},
		{"expired and forged", sign(t, jwt.SigningMethodEdDSA, otherEdKey(), "", func() jwt.MapClaims {
			c := claimsAt(now.Add(-3 * time.Hour))
			return c
		}()), "bad-signature"},

		{"expired", ed(with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"expired within leeway", ed(with("exp", now.Add(-10*time.Second).Unix())), ""},
		{"nbf in future", ed(with("nbf", now.Add(time.Hour).Unix())), "not-yet-valid"},
		{"iat in future", ed(with("iat", now.Add(time.Hour).Unix())), "not-yet-valid"},
		{"no iss", ed(without("iss")), "unknown-issuer"},
		{"iss not a string", ed(with("iss", 7)), "unknown-issuer"},
		{"wrong iss", ed(with("iss", "https://evil.test")), "unknown-issuer"},
		{"wrong aud", ed(func(c jwt.MapClaims) { c["iss"] = audCfg.Issuer; c["aud"] = "other" }), "wrong-audience"},
		{"no aud", ed(func(c jwt.MapClaims) { c["iss"] = audCfg.Issuer }), "wrong-audience"},
		{"right aud in list", ed(func(c jwt.MapClaims) { c["iss"] = audCfg.Issuer; c["aud"] = []string{"x", "crossledger-gateway"} }), ""},
		{"aud ignored when not configured", ed(with("aud", "anything")), ""},
		{"department not allowed", ed(with("iss", deptCfg.Issuer)), "department-not-allowed"},
		{"department allowed", ed(func(c jwt.MapClaims) { c["iss"] = deptCfg.Issuer; c["department"] = "civil-affairs" }), ""},

		{"no exp", ed(without("exp")), "bad-claims"},
		{"exp not a number", ed(with("exp", "tomorrow")), "bad-claims"},
		{"no sub", ed(without("sub")), "bad-claims"},
		{"sub with control characters", ed(with("sub", "a\nb")), "bad-claims"},
		{"no department", ed(without("department")), "bad-claims"},
		{"bad department", ed(with("department", "Public Security")), "bad-claims"},
		{"no roles", ed(without("roles")), "bad-claims"},
		{"empty roles", ed(with("roles", []string{})), "bad-claims"},
		{"roles a string", ed(with("roles", "analyst")), "bad-claims"},
		{"unknown role", ed(with("roles", []string{"analyst", "admin"})), "bad-claims"},
		{"citizen without id", ed(with("roles", []string{"citizen"})), "bad-claims"},
		{"citizen with bad check digit", ed(func(c jwt.MapClaims) {
			c["roles"] = []string{"citizen"}
			c["citizen_id"] = testCitizenB[:17] + "7"
		}), "bad-claims"},
		{"citizen and analyst", ed(func(c jwt.MapClaims) {
			c["roles"] = []string{"citizen", "analyst"}
			c["citizen_id"] = testCitizenB
		}), "bad-claims"},
		{"citizen id without citizen role", ed(with("citizen_id", testCitizenB)), "bad-claims"},
		{"citizen", ed(func(c jwt.MapClaims) {
			c["roles"] = []string{"citizen"}
			c["citizen_id"] = testCitizenB
		}), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Verify(context.Background(), tt.token)
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, tt.reason, err)
			}
			if err == nil {
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if n := countSentinels(err); n != 1 {
				t.Errorf("error matches %d sentinels, want 1: %v", n, err)
			}
			if !strings.HasPrefix(err.Error(), "auth: ") || len(err.Error()) < 15 {
				t.Errorf("message %q is not a clear message", err)
			}
		})
	}
}

func countSentinels(err error) int {
	n := 0
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			n++
		}
	}
	return n
}

func mustEC384(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestErrorMessagesNameTheProblem(t *testing.T) {
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{staticConfig(t)})
	c := claimsAt(clock.Now())
	c["roles"] = []string{"citizen"}
	_, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "", c))
	if msg := err.Error(); !strings.Contains(msg, "citizen_id") || !strings.Contains(msg, testIssuer) {
		t.Errorf("message %q should name the claim and issuer", msg)
	}
	c = claimsAt(clock.Now().Add(-2 * time.Hour))
	_, err = a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "", c))
	if msg := err.Error(); !strings.Contains(msg, "expired at 2026-03-01T11:00:00Z") {
		t.Errorf("message %q should say when the token expired", msg)
	}
}

func TestReasonOfOtherErrors(t *testing.T) {
	if Reason(nil) != "" {
		t.Error("Reason(nil) != \"\"")
	}
	if got := Reason(errors.New("boom")); got != "unauthenticated" {
		t.Errorf("Reason(foreign) = %q", got)
	}
	wrapped := errors.Join(errors.New("ctx"), fail(ErrExpired, "x", "", nil))
	if got := Reason(wrapped); got != "expired" {
		t.Errorf("Reason(wrapped) = %q", got)
	}
	if got := Reason(ErrDepartmentNotAllowed); got != "department-not-allowed" {
		t.Errorf("Reason(sentinel) = %q", got)
	}
}

func TestAuthenticateHeader(t *testing.T) {
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{staticConfig(t)})
	tok := sign(t, jwt.SigningMethodEdDSA, edKey(), "", claimsAt(clock.Now()))
	for _, tt := range []struct {
		name    string
		headers []string
		reason  string
	}{
		{"none", nil, "no-token"},
		{"empty", []string{""}, "no-token"},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "no-token"},
		{"bearer without token", []string{"Bearer "}, "no-token"},
		{"bearer", []string{"Bearer " + tok}, ""},
		{"lowercase scheme", []string{"bearer " + tok}, ""},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "malformed-token"},
		{"oversized", []string{"Bearer " + strings.Repeat("a", MaxTokenSize+1)}, "malformed-token"},
		{"garbage", []string{"Bearer not.a.jwt"}, "malformed-token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			id, err := a.Authenticate(r)
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, tt.reason, err)
			}
			if err == nil && id.User != "zhang.wei" {
				t.Errorf("identity = %+v", id)
			}
		})
	}
}

func TestIssuerConfigYAML(t *testing.T) {
	doc := `
issuer: https://idp.haidian.example
jwks_url: https://idp.haidian.example/.well-known/jwks.json
audience: crossledger-gateway
departments: [civil-affairs, public-security]
leeway: 45s
max_lifetime: 8h
keys:
  - |
` + indent(pemOf(t, edKey().Public()), "    ")
	var c IssuerConfig
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Leeway != 45*time.Second || c.MaxLifetime != 8*time.Hour || c.Audience != "crossledger-gateway" || len(c.Departments) != 2 || len(c.Keys) != 1 ||
		c.JWKSURL != "https://idp.haidian.example/.well-known/jwks.json" {
		t.Errorf("decoded %+v", c)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestConfigValidate(t *testing.T) {
	ed := pemOf(t, edKey().Public())
	small, err := rsaKeyOfSize(1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  IssuerConfig
		want string // substring of the error; "" for valid
	}{
		{"static", IssuerConfig{Issuer: "a", Keys: []string{ed}}, ""},
		{"jwks https", IssuerConfig{Issuer: "a", JWKSURL: "https://idp.example/jwks.json"}, ""},
		{"jwks loopback http", IssuerConfig{Issuer: "a", JWKSURL: "http://127.0.0.1:8080/jwks"}, ""},
		{"no issuer", IssuerConfig{Keys: []string{ed}}, "issuer: missing"},
		{"no keys", IssuerConfig{Issuer: "a"}, "needs keys or jwks_url"},
		{"jwks plain http", IssuerConfig{Issuer: "a", JWKSURL: "http://idp.example/jwks.json"}, "must be an https URL"},
		{"not PEM", IssuerConfig{Issuer: "a", Keys: []string{"/etc/keys/idp.pem"}}, "not PEM text"},
		{"private key PEM", IssuerConfig{Issuer: "a", Keys: []string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}, "want PUBLIC KEY"},
		{"RSA 1024", IssuerConfig{Issuer: "a", Keys: []string{pemOf(t, small.Public())}}, "RSA key of 1024 bits"},
		{"P-384", IssuerConfig{Issuer: "a", Keys: []string{pemOf(t, mustEC384(t).Public())}}, "curve P-384"},
		{"bad department", IssuerConfig{Issuer: "a", Keys: []string{ed}, Departments: []string{"Tax"}}, "not a department id"},
		{"leeway", IssuerConfig{Issuer: "a", Keys: []string{ed}, Leeway: time.Hour}, "leeway"},
		{"max lifetime at the limit", IssuerConfig{Issuer: "a", Keys: []string{ed}, MaxLifetime: MaxLifetimeLimit}, ""},
		{"max lifetime negative", IssuerConfig{Issuer: "a", Keys: []string{ed}, MaxLifetime: -time.Hour}, "max_lifetime -1h0m0s is outside"},
		{"max lifetime too long", IssuerConfig{Issuer: "a", Keys: []string{ed}, MaxLifetime: MaxLifetimeLimit + time.Second}, "max_lifetime 720h0m1s is outside"},
		{"static key with kid", IssuerConfig{Issuer: "a", Keys: []string{pemWithKID(t, edKey().Public(), "k1")}}, ""},
		{"static key with empty kid", IssuerConfig{Issuer: "a", Keys: []string{strings.Replace(pemWithKID(t, edKey().Public(), "k1"), "kid: k1", "kid: ", 1)}}, "kid is empty"},
		{"static key with other PEM header", IssuerConfig{Issuer: "a", Keys: []string{strings.Replace(pemWithKID(t, edKey().Public(), "k1"), "kid:", "Kid:", 1)}}, `PEM header "Kid"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := New(context.Background(), []IssuerConfig{{Issuer: "a", Keys: []string{ed}}, {Issuer: "a", Keys: []string{ed}}}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate issuer: %v", err)
	}
	if _, err := New(context.Background(), nil); err == nil {
		t.Error("New with no issuers succeeded")
	}
}

func rsaKeyOfSize(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }

func TestMaxLifetime(t *testing.T) {
	if got := (IssuerConfig{}).maxLifetime(); got != 24*time.Hour || DefaultMaxLifetime != 24*time.Hour {
		t.Fatalf("default max lifetime = %v (DefaultMaxLifetime %v), want 24h", got, DefaultMaxLifetime)
	}
	clock := newClock()
	now := clock.Now()
	short := IssuerConfig{Issuer: "https://short.test", Keys: []string{pemOf(t, edKey().Public())}, MaxLifetime: 2 * time.Hour}
	a := newAuth(t, clock, []IssuerConfig{staticConfig(t), short}) // staticConfig: the default, 24h; leeway 30s

	// tok signs claims issued at iat (no iat claim if zero), expiring at exp.
	tok := func(iss string, iat, exp time.Time) string {
		c := claimsAt(now)
		c["iss"] = iss
		delete(c, "nbf")
		delete(c, "iat")
		if !iat.IsZero() {
			c["iat"] = iat.Unix()
		}
		c["exp"] = exp.Unix()
		return sign(t, jwt.SigningMethodEdDSA, edKey(), "", c)
	}
	day := 24 * time.Hour
	for _, tt := range []struct {
		name   string
		token  string
		reason string
		msg    []string // substrings of the error
	}{
		{"exactly 24h", tok(testIssuer, now, now.Add(day)), "", nil},
		{"24h plus leeway", tok(testIssuer, now, now.Add(day+DefaultLeeway)), "", nil},
		{"24h plus leeway plus 1s", tok(testIssuer, now, now.Add(day+DefaultLeeway+time.Second)), "bad-claims",
			[]string{"exp is 24h0m31s after iat", "max_lifetime is 24h0m0s", testIssuer}},
		{"ten years", tok(testIssuer, now, now.AddDate(10, 0, 0)), "bad-claims", []string{"after iat", "max_lifetime is 24h0m0s"}},
		{"ten years, forged", sign(t, jwt.SigningMethodEdDSA, otherEdKey(), "", jwt.MapClaims{
			"iss": testIssuer, "sub": "x", "department": "tax", "roles": []string{"analyst"},
			"iat": now.Unix(), "exp": now.AddDate(10, 0, 0).Unix()}), "bad-signature", nil},
		// exp − iat too long although exp is soon.
		{"issued 23h ago, 2h left", tok(testIssuer, now.Add(-23*time.Hour), now.Add(2*time.Hour)), "bad-claims",
			[]string{"exp is 25h0m0s after iat", "max_lifetime is 24h0m0s"}},
		{"issued 23h ago, 1h left", tok(testIssuer, now.Add(-23*time.Hour), now.Add(time.Hour)), "", nil},
		// No iat: exp − now decides.
		{"no iat, 24h left", tok(testIssuer, time.Time{}, now.Add(day)), "", nil},
		{"no iat, 25h left", tok(testIssuer, time.Time{}, now.Add(25*time.Hour)), "bad-claims",
			[]string{"exp is 25h0m0s from now", "max_lifetime is 24h0m0s"}},
		{"no iat, ten years", tok(testIssuer, time.Time{}, now.AddDate(10, 0, 0)), "bad-claims", []string{"from now"}},
		// iat in the future within the leeway: exp − iat fits, exp − now does not.
		{"iat 30s ahead", tok(testIssuer, now.Add(DefaultLeeway), now.Add(DefaultLeeway+day+DefaultLeeway)), "bad-claims",
			[]string{"exp is 24h1m0s from now"}},
		{"configured 2h, exactly", tok(short.Issuer, now, now.Add(2*time.Hour)), "", nil},
		{"configured 2h, 3h", tok(short.Issuer, now, now.Add(3*time.Hour)), "bad-claims",
			[]string{"exp is 3h0m0s after iat", "max_lifetime is 2h0m0s", short.Issuer}},
		{"configured 2h, no iat, 3h", tok(short.Issuer, time.Time{}, now.Add(3*time.Hour)), "bad-claims",
			[]string{"exp is 3h0m0s from now", "max_lifetime is 2h0m0s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Verify(context.Background(), tt.token)
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, tt.reason, err)
			}
			if err != nil && countSentinels(err) != 1 {
				t.Errorf("error matches %d sentinels, want 1: %v", countSentinels(err), err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q should contain %q", err, m)
				}
			}
		})
	}
}

func TestStaticKeyKID(t *testing.T) {
	clock := newClock()
	cfg := IssuerConfig{Issuer: testIssuer, Keys: []string{
		pemWithKID(t, edKey().Public(), "ed-1"),
		pemWithKID(t, otherEdKey().Public(), "ed-2"),
		pemOf(t, ecKey().Public()), // no kid
	}}
	a := newAuth(t, clock, []IssuerConfig{cfg})
	c := claimsAt(clock.Now())
	withHeader := func(kid any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(edKey())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name   string
		token  string
		reason string
		msg    string // substring of the error
	}{
		{"kid of the signing key", sign(t, jwt.SigningMethodEdDSA, edKey(), "ed-1", c), "", ""},
		{"kid of the other signing key", sign(t, jwt.SigningMethodEdDSA, otherEdKey(), "ed-2", c), "", ""},
		{"kid of a different key", sign(t, jwt.SigningMethodEdDSA, edKey(), "ed-2", c), "bad-signature", ""},
		{"kid of a different key, other way", sign(t, jwt.SigningMethodEdDSA, otherEdKey(), "ed-1", c), "bad-signature", ""},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, edKey(), "ed-9", c), "bad-signature", `no key with this kid "ed-9" for EdDSA`},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, edKey(), "", c), "", ""},
		{"no kid, other key", sign(t, jwt.SigningMethodEdDSA, otherEdKey(), "", c), "", ""},
		{"kid, key without kid", sign(t, jwt.SigningMethodES256, ecKey(), "anything", c), "", ""},
		{"empty kid", withHeader(""), "bad-signature", `"kid" is not a non-empty string`},
		{"kid not a string", withHeader(7), "bad-signature", `"kid" is not a non-empty string`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Verify(context.Background(), tt.token)
			if got := Reason(err); got != tt.reason {
				t.Fatalf("Reason = %q, want %q (err: %v)", got, tt.reason, err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q should contain %q", err, tt.msg)
			}
		})
	}
}
