package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestDevIssuerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway", "dev-issuer.pem")
	d, err := LoadOrCreateDevIssuer(path, "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, nil, []IssuerConfig{d.Config()})
	for _, id := range []Identity{
		{User: "zhang.wei", Department: "public-security", Roles: []Role{RoleAnalyst}},
		{User: "auditor-1", Department: "audit-office", Roles: []Role{RoleAuditor, RoleAnalyst}},
		{User: "citizen-a", Department: "civil-affairs", Roles: []Role{RoleCitizen}, CitizenID: strings.ToLower(testCitizenA)},
	} {
		tok, err := d.Issue(id, time.Hour)
		if err != nil {
			t.Fatalf("Issue(%+v): %v", id, err)
		}
		got, err := a.Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got.Issuer != "crossledger-dev" || got.User != id.User || got.Department != id.Department ||
			len(got.Roles) != len(id.Roles) || got.CitizenID != strings.ToUpper(id.CitizenID) {
			t.Errorf("round trip: got %+v, issued %+v", got, id)
		}
		if d := time.Until(got.Expires); d < 59*time.Minute || d > time.Hour {
			t.Errorf("expires in %v, want 1h", d)
		}
		// The token names its key.
		p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil || p.Header["kid"] != d.KeyID() || p.Header["alg"] != "EdDSA" {
			t.Errorf("header = %v, %v; want kid %s, alg EdDSA", p.Header, err, d.KeyID())
		}
	}
}

func TestDevIssuerPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "gateway", "dev-issuer.pem")
	d1, err := LoadOrCreateDevIssuer(path, "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	d2, err := LoadOrCreateDevIssuer(path, "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	if d1.KeyID() != d2.KeyID() {
		t.Fatalf("reloaded key differs: %s vs %s", d1.KeyID(), d2.KeyID())
	}
	// A token from one process verifies in another.
	tok, err := d1.Issue(Identity{User: "u", Department: "tax", Roles: []Role{RoleAnalyst}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, nil, []IssuerConfig{d2.Config()})
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify with reloaded issuer: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory holds %d files, want just the key (no temporaries)", len(entries))
	}
}

func TestDevIssuerConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev-issuer.pem")
	var wg sync.WaitGroup
	kids := make([]string, 8)
	for i := range kids {
		wg.Go(func() {
			d, err := LoadOrCreateDevIssuer(path, "crossledger-dev")
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = d.KeyID()
		})
	}
	wg.Wait()
	for _, k := range kids {
		if k != kids[0] {
			t.Fatalf("racing creators got different keys: %v", kids)
		}
	}
}

func TestDevIssuerRefuses(t *testing.T) {
	d, err := LoadOrCreateDevIssuer(filepath.Join(t.TempDir(), "k.pem"), "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	ok := Identity{User: "u", Department: "tax", Roles: []Role{RoleAnalyst}}
	for _, tt := range []struct {
		name string
		mut  func(*Identity)
		ttl  time.Duration
		want string
	}{
		{"citizen without id", func(id *Identity) { id.Roles = []Role{RoleCitizen} }, time.Hour, "citizen_id is required"},
		{"bad citizen id", func(id *Identity) { id.Roles = []Role{RoleCitizen}; id.CitizenID = testCitizenB[:17] + "7" }, time.Hour, "check character"},
		{"unknown role", func(id *Identity) { id.Roles = []Role{"admin"} }, time.Hour, "unknown role"},
		{"no department", func(id *Identity) { id.Department = "" }, time.Hour, "department is missing"},
		{"other issuer", func(id *Identity) { id.Issuer = "elsewhere" }, time.Hour, "names issuer"},
		{"zero ttl", func(*Identity) {}, 0, "lifetime"},
		{"huge ttl", func(*Identity) {}, 365 * 24 * time.Hour, "lifetime"},
	} {
		id := ok
		id.Roles = append([]Role(nil), ok.Roles...)
		tt.mut(&id)
		if _, err := d.Issue(id, tt.ttl); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Issue error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadOrCreateDevIssuer(filepath.Join(t.TempDir(), "k.pem"), ""); err == nil {
		t.Error("empty issuer name accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateDevIssuer(bad, "x"); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("garbage key file: %v", err)
	}
}

func TestDevIssuerJWKSHandler(t *testing.T) {
	d, err := LoadOrCreateDevIssuer(filepath.Join(t.TempDir(), "k.pem"), "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwksKeysOf(d.JWKS(), nil)
	if err != nil || len(k) != 1 || k[0].kid != d.KeyID() || k[0].alg != algEdDSA {
		t.Fatalf("JWKS parses to %+v, %v", k, err)
	}
}

// TestDevIssuerMaxTTLVerifies: the longest token Issue makes is one the dev
// issuer's own config accepts, and a longer one Issue refuses.
func TestDevIssuerMaxTTLVerifies(t *testing.T) {
	d, err := LoadOrCreateDevIssuer(filepath.Join(t.TempDir(), "k.pem"), "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	d.now = clock.Now
	a := newAuth(t, clock, []IssuerConfig{d.Config()})
	id := Identity{User: "u", Department: "tax", Roles: []Role{RoleAnalyst}}
	tok, err := d.Issue(id, MaxDevTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Errorf("token of MaxDevTTL %v: %v", MaxDevTTL, err)
	}
	if _, err := d.Issue(id, MaxDevTTL+time.Second); err == nil {
		t.Errorf("Issue accepted a lifetime over MaxDevTTL")
	}
}
