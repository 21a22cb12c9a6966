package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// IssuerConfig is one trusted token issuer. It is embedded in the gateway's
// YAML configuration, e.g.
//
//	issuers:
//	  - issuer: https://idp.haidian.example
//	    jwks_url: https://idp.haidian.example/.well-known/jwks.json
//	    audience: crossledger-gateway
//	    departments: [civil-affairs, public-security]
//	    max_lifetime: 8h
//	  - issuer: crossledger-dev
//	    keys:
//	      - |
//	        -----BEGIN PUBLIC KEY-----
//	        MCowBQYDK2VwAyEA…
//	        -----END PUBLIC KEY-----
//
// An issuer has static keys, a JWKS URL, or both; a token of the issuer is
// accepted if it verifies under any of them.
type IssuerConfig struct {
	// Issuer is the exact iss claim of the issuer's tokens. Required, and
	// unique among the configured issuers.
	Issuer string `yaml:"issuer"`
	// Keys are the issuer's public keys as PEM text, or "@" and the path
	// of a PEM file (for keys made at deployment time, like the dev
	// issuer's: `crossledger token --public-key`). Each entry holds one or more "PUBLIC KEY" (PKIX)
	// blocks: Ed25519 (verifies EdDSA), ECDSA P-256 (verifies ES256) or
	// RSA of at least 2048 bits (verifies RS256). Each key verifies only
	// its own algorithm.
	//
	// A block may carry a key id as a PEM header, the one header allowed:
	//
	//	-----BEGIN PUBLIC KEY-----
	//	kid: 2024-signing
	//
	//	MCowBQYDK2VwAyEA…
	//	-----END PUBLIC KEY-----
	//
	// A token whose header names a kid is then checked only against the
	// keys with that kid and the keys without one; a token without a kid,
	// against all of them.
	Keys []string `yaml:"keys,omitempty"`
	// JWKSURL is where the issuer publishes its keys as a JWK Set (RFC
	// 7517). It must be https, or http to a loopback address. The set is
	// fetched at start, refreshed periodically and whenever a token names
	// an unknown kid (rate-limited); if it cannot be fetched, tokens of
	// this issuer are refused (reason keys-unavailable).
	JWKSURL string `yaml:"jwks_url,omitempty"`
	// Audience, if set, must be one of the token's aud values. If empty,
	// aud is not checked.
	Audience string `yaml:"audience,omitempty"`
	// Departments, if set, is the allow-list of departments this issuer may
	// vouch for; a token naming another department is refused (reason
	// department-not-allowed). If empty, any department is accepted.
	Departments []string `yaml:"departments,omitempty"`
	// Leeway is the clock skew tolerated on exp, nbf and iat, as a Go
	// duration ("30s"). Zero means the default, [DefaultLeeway]; at most
	// [MaxLeeway].
	Leeway time.Duration `yaml:"leeway,omitempty"`
	// MaxLifetime bounds how long a token of this issuer may be valid, as
	// a Go duration ("8h"): a token is refused (reason bad-claims) if its
	// exp is more than MaxLifetime after its iat, or — iat being optional
	// — more than MaxLifetime after now, each beyond the leeway. Zero
	// means the default, [DefaultMaxLifetime]; at most [MaxLifetimeLimit]
	// (30 days).
	MaxLifetime time.Duration `yaml:"max_lifetime,omitempty"`
}

const (
	// DefaultLeeway is the clock skew tolerated when an issuer sets none.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway bounds the configured leeway.
	MaxLeeway = 5 * time.Minute
	// DefaultMaxLifetime is the longest token lifetime accepted when an
	// issuer sets none.
	DefaultMaxLifetime = 24 * time.Hour
	// MaxLifetimeLimit bounds the configured max lifetime: a bearer token
	// is a credential nobody can revoke, so none lives for months.
	MaxLifetimeLimit = 30 * 24 * time.Hour
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
)

// Validate checks the configuration, including that every key parses and
// is of an accepted type and size.
func (c IssuerConfig) Validate() error {
	_, err := c.parse()
	return err
}

// leeway is the effective leeway.
func (c IssuerConfig) leeway() time.Duration {
	if c.Leeway == 0 {
		return DefaultLeeway
	}
	return c.Leeway
}

// maxLifetime is the effective max lifetime.
func (c IssuerConfig) maxLifetime() time.Duration {
	if c.MaxLifetime == 0 {
		return DefaultMaxLifetime
	}
	return c.MaxLifetime
}

// parse validates c and returns its static keys.
func (c IssuerConfig) parse() ([]verKey, error) {
	if c.Issuer == "" {
		return nil, errors.New("issuer: missing")
	}
	if len(c.Keys) == 0 && c.JWKSURL == "" {
		return nil, fmt.Errorf("issuer %q: needs keys or jwks_url", c.Issuer)
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		return nil, fmt.Errorf("issuer %q: leeway %v is outside 0–%v", c.Issuer, c.Leeway, MaxLeeway)
	}
	if c.MaxLifetime < 0 || c.MaxLifetime > MaxLifetimeLimit {
		return nil, fmt.Errorf("issuer %q: max_lifetime %v is outside 0–%v (0 means %v)", c.Issuer, c.MaxLifetime, MaxLifetimeLimit, DefaultMaxLifetime)
	}
	for _, d := range c.Departments {
		if !validDepartment(d) {
			return nil, fmt.Errorf("issuer %q: departments: %q is not a department id ([a-z0-9-]{1,64})", c.Issuer, d)
		}
	}
	if c.JWKSURL != "" {
		if err := checkJWKSURL(c.JWKSURL); err != nil {
			return nil, fmt.Errorf("issuer %q: jwks_url: %w", c.Issuer, err)
		}
	}
	var keys []verKey
	for i, text := range c.Keys {
		if name, ok := strings.CutPrefix(strings.TrimSpace(text), "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("issuer %q: keys[%d]: %w", c.Issuer, i, err)
			}
			text = string(b)
		}
		ks, err := parsePublicKeys(text)
		if err != nil {
			return nil, fmt.Errorf("issuer %q: keys[%d]: %w", c.Issuer, i, err)
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}

// checkJWKSURL refuses key material fetched in the clear from anywhere but
// this machine.
func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must be an https URL (or http to a loopback address)", s)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// verKey is a public key together with the one JWS algorithm it verifies.
type verKey struct {
	kid string // "" if the key has none (a static key without a kid header)
	alg string // EdDSA, ES256 or RS256
	key crypto.PublicKey
}

// Accepted JWS algorithms. Never none, never HS*.
const (
	algEdDSA = "EdDSA"
	algES256 = "ES256"
	algRS256 = "RS256"
)

var acceptedAlgs = []string{algEdDSA, algES256, algRS256}

// algFor returns the algorithm a public key verifies, or an error for a key
// of a type or size that is not accepted.
func algFor(k crypto.PublicKey) (string, error) {
	switch k := k.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("Ed25519 key of wrong size")
		}
		return algEdDSA, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on curve %s, want P-256", k.Curve.Params().Name)
		}
		return algES256, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return algRS256, nil
	}
	return "", fmt.Errorf("unsupported key type %T (want Ed25519, ECDSA P-256 or RSA)", k)
}

func parsePublicKeys(text string) ([]verKey, error) {
	rest := []byte(strings.TrimSpace(text))
	var keys []verKey
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("not PEM text (want -----BEGIN PUBLIC KEY-----)")
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q, want PUBLIC KEY", b.Type)
		}
		kid, err := pemKID(b.Headers)
		if err != nil {
			return nil, err
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse public key: %w", err)
		}
		alg, err := algFor(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, verKey{kid: kid, alg: alg, key: k})
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(keys) == 0 {
		return nil, errors.New("empty")
	}
	return keys, nil
}

// pemKID returns the kid header of a PEM block, "" if it has none. Any
// other header is refused, so that a misspelt "kid" is not silently a key
// without one.
func pemKID(headers map[string]string) (string, error) {
	for h := range headers {
		if h != "kid" {
			return "", fmt.Errorf("PEM header %q, only kid is allowed", truncate(h, 40))
		}
	}
	kid, ok := headers["kid"]
	if ok && kid == "" {
		return "", errors.New("PEM header kid is empty")
	}
	return kid, nil
}

// PublicKeyPEM encodes an Ed25519, ECDSA or RSA public key in the PEM form
// [IssuerConfig.Keys] takes.
func PublicKeyPEM(k crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("couldn't encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
