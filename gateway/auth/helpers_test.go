package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testCitizenA = "11010519491231002X"
	testCitizenB = "110105198001010016"
	testIssuer   = "https://idp.test"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return k
	})
	otherEdKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return k
	})
	ecKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return k
	})
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	otherRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func pemOf(t testing.TB, k crypto.PublicKey) string {
	t.Helper()
	p, err := PublicKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pemWithKID is k's PEM with a kid header.
func pemWithKID(t testing.TB, k crypto.PublicKey, kid string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(pemOf(t, k)))
	b.Headers = map[string]string{"kid": kid}
	return string(pem.EncodeToMemory(b))
}

// claimsAt are valid analyst claims for testIssuer issued at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":        testIssuer,
		"sub":        "zhang.wei",
		"department": "public-security",
		"roles":      []string{"analyst"},
		"iat":        now.Unix(),
		"nbf":        now.Unix(),
		"exp":        now.Add(time.Hour).Unix(),
	}
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

// staticConfig trusts edKey, ecKey and rsaKey for testIssuer.
func staticConfig(t testing.TB) IssuerConfig {
	return IssuerConfig{
		Issuer: testIssuer,
		Keys: []string{
			pemOf(t, edKey().Public()),
			pemOf(t, ecKey().Public()) + pemOf(t, rsaKey().Public()), // two blocks in one entry
		},
	}
}

// newAuth is an Authenticator of cfgs on clock (nil: the real clock),
// closed when the test ends.
func newAuth(t testing.TB, clock *fakeClock, cfgs []IssuerConfig, opts ...Option) *Authenticator {
	t.Helper()
	if clock != nil {
		opts = append([]Option{WithClock(clock.Now)}, opts...)
	}
	a, err := New(context.Background(), cfgs, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
