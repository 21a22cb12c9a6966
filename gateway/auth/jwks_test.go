package auth

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a JWK Set that tests can replace, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	delay   time.Duration
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, status, delay := s.body, s.status, s.delay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// jwk is a test key's JWK with metadata.
func jwk(t *testing.T, key crypto.PublicKey, kid string, alg jwkset.ALG, use jwkset.USE) jwkset.JWKMarshal {
	t.Helper()
	j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: use}})
	if err != nil {
		t.Fatal(err)
	}
	return j.Marshal()
}

func jwksOf(t *testing.T, keys ...jwkset.JWKMarshal) []byte {
	t.Helper()
	b, err := json.Marshal(jwkset.JWKSMarshal{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jwksConfig(url string) IssuerConfig { return IssuerConfig{Issuer: testIssuer, JWKSURL: url} }

func TestJWKSEachAlgorithm(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.set(jwksOf(t,
		jwk(t, edKey().Public(), "ed", jwkset.AlgEdDSA, jwkset.UseSig),
		jwk(t, ecKey().Public(), "ec", jwkset.AlgES256, jwkset.UseSig),
		jwk(t, rsaKey().Public(), "rsa", "", ""), // no alg, no use: allowed
	), http.StatusOK)
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{jwksConfig(srv.URL)})
	for _, tt := range []struct {
		m        jwt.SigningMethod
		key      any
		kid      string
		wantFail bool
	}{
		{jwt.SigningMethodEdDSA, edKey(), "ed", false},
		{jwt.SigningMethodES256, ecKey(), "ec", false},
		{jwt.SigningMethodRS256, rsaKey(), "rsa", false},
		{jwt.SigningMethodEdDSA, edKey(), "", false}, // no kid: every EdDSA key is tried
		{jwt.SigningMethodRS256, rsaKey(), "ec", true},
		{jwt.SigningMethodEdDSA, otherEdKey(), "ed", true},
	} {
		_, err := a.Verify(context.Background(), sign(t, tt.m, tt.key, tt.kid, claimsAt(clock.Now())))
		if (err != nil) != tt.wantFail || err != nil && Reason(err) != "bad-signature" {
			t.Errorf("%s kid %q: err = %v, want failure %v", tt.m.Alg(), tt.kid, err, tt.wantFail)
		}
	}
	if n := srv.fetches.Load(); n > 2 {
		// One at start, at most one for the wrong kid.
		t.Errorf("%d fetches, want ≤ 2", n)
	}
}

func TestJWKSDevIssuer(t *testing.T) {
	d, err := LoadOrCreateDevIssuer(t.TempDir()+"/dev.pem", "crossledger-dev")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.JWKSHandler())
	defer srv.Close()
	a, err := New(context.Background(), []IssuerConfig{{Issuer: d.Issuer(), JWKSURL: srv.URL + "/.well-known/jwks.json"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tok, err := d.Issue(Identity{User: "li.na", Department: "tax", Roles: []Role{RoleAuditor}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Verify(context.Background(), tok)
	if err != nil || id.User != "li.na" || !id.Has(RoleAuditor) {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
}

// TestJWKSRotation: a token naming a kid the cached set lacks makes the
// authenticator fetch the set again, at most once per min interval.
func TestJWKSRotation(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.set(jwksOf(t, jwk(t, edKey().Public(), "k1", jwkset.AlgEdDSA, jwkset.UseSig)), http.StatusOK)
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{jwksConfig(srv.URL)}, WithJWKSRefresh(time.Hour, 10*time.Second))
	verify := func(key any, kid string) error {
		_, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, key, kid, claimsAt(clock.Now())))
		return err
	}
	if err := verify(edKey(), "k1"); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after start, want 1", n)
	}

	// Rotate: k1 retired, k2 published.
	srv.set(jwksOf(t, jwk(t, otherEdKey().Public(), "k2", jwkset.AlgEdDSA, jwkset.UseSig)), http.StatusOK)
	// Within the min interval the new kid is not fetched for.
	if err := verify(otherEdKey(), "k2"); Reason(err) != "bad-signature" {
		t.Fatalf("k2 right after start: %v, want bad-signature (rate-limited)", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (rate-limited)", n)
	}
	clock.Advance(11 * time.Second)
	if err := verify(otherEdKey(), "k2"); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// k1 is gone from the set: refused even though it once verified.
	clock.Advance(11 * time.Second)
	if err := verify(edKey(), "k1"); Reason(err) != "bad-signature" {
		t.Fatalf("retired k1: %v, want bad-signature", err)
	}

	// A flood of forged kids costs at most one fetch per interval.
	before := srv.fetches.Load()
	clock.Advance(11 * time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := verify(otherEdKey(), fmt.Sprintf("forged-%d", i)); Reason(err) != "bad-signature" {
				t.Errorf("forged kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load() - before; n > 1 {
		t.Errorf("%d fetches for 20 forged kids, want ≤ 1", n)
	}
}

func TestJWKSFailsClosed(t *testing.T) {
	good := jwksOf(t, jwk(t, edKey().Public(), "k1", jwkset.AlgEdDSA, jwkset.UseSig))
	for _, tt := range []struct {
		name   string
		setup  func(s *jwksServer)
		expect string
	}{
		{"unreachable", func(s *jwksServer) { s.Close() }, "keys-unavailable"},
		{"500", func(s *jwksServer) { s.set([]byte("oops"), http.StatusInternalServerError) }, "keys-unavailable"},
		{"not JSON", func(s *jwksServer) { s.set([]byte("<html>"), http.StatusOK) }, "keys-unavailable"},
		{"too large", func(s *jwksServer) {
			s.set(append(append([]byte(`{"keys":[],"pad":"`), make([]byte, maxJWKSSize)...), `"}`...), http.StatusOK)
		}, "keys-unavailable"},
		{"slow", func(s *jwksServer) { s.mu.Lock(); s.delay = 5 * time.Second; s.mu.Unlock() }, "keys-unavailable"},
		{"empty set", func(s *jwksServer) { s.set([]byte(`{"keys":[]}`), http.StatusOK) }, "bad-signature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, good)
			tt.setup(srv)
			clock := newClock()
			start := time.Now()
			a := newAuth(t, clock, []IssuerConfig{jwksConfig(srv.URL)}, WithJWKSTimeout(200*time.Millisecond), WithJWKSRefresh(time.Hour, 0))
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("New took %v despite a 200ms JWKS timeout", d)
			}
			_, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "k1", claimsAt(clock.Now())))
			if Reason(err) != tt.expect {
				t.Fatalf("Verify: %v, want %s", err, tt.expect)
			}
			// Once the set can be fetched, the issuer works again.
			if tt.name != "unreachable" {
				srv.mu.Lock()
				srv.body, srv.status, srv.delay = good, http.StatusOK, 0
				srv.mu.Unlock()
				if _, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "k1", claimsAt(clock.Now()))); err != nil {
					t.Fatalf("after recovery: %v", err)
				}
			}
		})
	}
}

// TestJWKSMaxAge: the last good set outlives failed fetches, up to max age.
func TestJWKSMaxAge(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, jwk(t, edKey().Public(), "k1", jwkset.AlgEdDSA, jwkset.UseSig)))
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{jwksConfig(srv.URL)}, WithJWKSMaxAge(time.Hour), WithJWKSRefresh(time.Hour, time.Second))
	srv.set(nil, http.StatusServiceUnavailable)
	verify := func() error {
		_, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "k1", claimsAt(clock.Now())))
		return err
	}
	clock.Advance(30 * time.Minute)
	if err := verify(); err != nil {
		t.Fatalf("within max age: %v", err)
	}
	clock.Advance(31 * time.Minute)
	if err := verify(); Reason(err) != "keys-unavailable" {
		t.Fatalf("past max age: %v, want keys-unavailable", err)
	}
}

// TestJWKSKeyFiltering: keys that are not for signing, whose alg does not
// fit, or that are symmetric never verify anything.
func TestJWKSKeyFiltering(t *testing.T) {
	secret := []byte("a shared secret that must never be accepted")
	enc := jwk(t, edKey().Public(), "enc", jwkset.AlgEdDSA, jwkset.UseEnc)
	mismatch := jwk(t, rsaKey().Public(), "mismatch", jwkset.AlgES256, jwkset.UseSig)
	oct := jwkset.JWKMarshal{KTY: jwkset.KtyOct, KID: "oct", ALG: jwkset.AlgHS256, K: base64.RawURLEncoding.EncodeToString(secret)}
	good := jwk(t, ecKey().Public(), "good", jwkset.AlgES256, jwkset.UseSig)
	srv := newJWKSServer(t, jwksOf(t, enc, mismatch, oct, good))
	clock := newClock()
	a := newAuth(t, clock, []IssuerConfig{jwksConfig(srv.URL)})
	for _, tt := range []struct {
		name string
		m    jwt.SigningMethod
		key  any
		kid  string
		want string
	}{
		{"use enc", jwt.SigningMethodEdDSA, edKey(), "enc", "bad-signature"},
		{"alg mismatch RS256", jwt.SigningMethodRS256, rsaKey(), "mismatch", "bad-signature"},
		{"alg mismatch ES256", jwt.SigningMethodES256, ecKey(), "mismatch", "bad-signature"},
		{"symmetric", jwt.SigningMethodHS256, secret, "oct", "bad-signature"},
		{"good", jwt.SigningMethodES256, ecKey(), "good", ""},
	} {
		_, err := a.Verify(context.Background(), sign(t, tt.m, tt.key, tt.kid, claimsAt(clock.Now())))
		if Reason(err) != tt.want {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestJWKSBackgroundRefresh: the refresh goroutine fetches periodically and
// stops on Close.
func TestJWKSBackgroundRefresh(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, jwk(t, edKey().Public(), "k1", jwkset.AlgEdDSA, jwkset.UseSig)))
	a, err := New(context.Background(), []IssuerConfig{jwksConfig(srv.URL)}, WithJWKSRefresh(5*time.Millisecond, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.fetches.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.fetches.Load(); n < 3 {
		t.Fatalf("%d fetches, want periodic refreshes", n)
	}
	a.Close()
	// A fetch in flight when Close cancelled it may still reach the
	// server after Close returned (the client gave up, the request was
	// already sent): let those land, then no new one may start. At one
	// refresh per 5 ms, a goroutine still running would fetch ~20 times.
	time.Sleep(100 * time.Millisecond)
	n := srv.fetches.Load()
	time.Sleep(100 * time.Millisecond)
	if m := srv.fetches.Load(); m != n {
		t.Errorf("%d fetches after Close, want none", m-n)
	}
}

func TestJWKSStaticAndURL(t *testing.T) {
	srv := newJWKSServer(t, jwksOf(t, jwk(t, otherEdKey().Public(), "k2", jwkset.AlgEdDSA, jwkset.UseSig)))
	clock := newClock()
	cfg := jwksConfig(srv.URL)
	cfg.Keys = []string{pemOf(t, edKey().Public())}
	a := newAuth(t, clock, []IssuerConfig{cfg})
	for _, key := range []any{edKey(), otherEdKey()} {
		if _, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, key, "k2", claimsAt(clock.Now()))); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	// Static keys still work when the JWKS is down.
	srv.Close()
	clock.Advance(48 * time.Hour)
	if _, err := a.Verify(context.Background(), sign(t, jwt.SigningMethodEdDSA, edKey(), "x", claimsAt(clock.Now()))); err != nil {
		t.Errorf("static key with JWKS down: %v", err)
	}
}
