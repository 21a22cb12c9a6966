package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/crossledger/crossledger/internal/atomicfile"
)

// DevIssuer is a local token issuer for `crossledger dev` and
// `crossledger token`: one Ed25519 key kept in a PEM file, EdDSA tokens
// with a kid, and the public key as static config or as a JWK Set. It is for
// development; production issuers are the departments' identity providers.
type DevIssuer struct {
	issuer string
	key    ed25519.PrivateKey
	kid    string
	now    func() time.Time
}

// MaxDevTTL bounds the lifetime of a dev token: the default max lifetime
// of the issuer [DevIssuer.Config] describes, so that Issue refuses a
// lifetime the dev gateway would refuse.
const MaxDevTTL = DefaultMaxLifetime

// LoadOrCreateDevIssuer loads the Ed25519 key at path (PKCS #8 PEM,
// "PRIVATE KEY"), creating it (mode 0600, directories 0700) if it does not
// exist, so that every process pointed at the same data directory issues
// and accepts the same tokens. Creation is atomic: two processes racing to
// create the key end up sharing one.
func LoadOrCreateDevIssuer(path string, issuer string) (*DevIssuer, error) {
	if issuer == "" {
		return nil, errors.New("auth: dev issuer needs an issuer name")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = createDevKey(path)
	}
	if err != nil {
		return nil, err
	}
	key, err := parseDevKey(data)
	if err != nil {
		return nil, fmt.Errorf("auth: couldn't load dev issuer key %s: %w", path, err)
	}
	return newDevIssuer(issuer, key), nil
}

func newDevIssuer(issuer string, key ed25519.PrivateKey) *DevIssuer {
	return &DevIssuer{issuer: issuer, key: key, kid: thumbprint(key.Public().(ed25519.PublicKey)), now: time.Now}
}

func createDevKey(path string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: couldn't generate dev issuer key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("auth: couldn't encode dev issuer key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: couldn't create dev issuer key directory: %w", err)
	}
	// A locked temporary file, synced, then linked into place and the
	// directory synced: the key file is never seen half-written, survives
	// a crash whole or not at all, and a concurrent creator's key wins or
	// loses as a whole. Temporary files of writers that died go first.
	atomicfile.RemoveTemps(path)
	err = atomicfile.WriteNew(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: couldn't create dev issuer key: %w", err)
	}
	return data, nil
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: couldn't read dev issuer key: %w", err)
	}
	return data, nil
}

func parseDevKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", k)
	}
	return priv, nil
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 key, used as kid.
func thumbprint(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 §3.2).
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Issuer is the iss of the tokens this issuer signs.
func (d *DevIssuer) Issuer() string { return d.issuer }

// KeyID is the kid of the tokens this issuer signs: the key's RFC 7638
// thumbprint.
func (d *DevIssuer) KeyID() string { return d.kid }

// Issue signs an EdDSA token for id, valid from now for ttl (at most
// [MaxDevTTL]). id.Issuer must be "" or the dev issuer's name and
// id.Expires is ignored. The identity is checked with the same rules as a
// verified token's claims, so Issue refuses what Verify would.
func (d *DevIssuer) Issue(id Identity, ttl time.Duration) (string, error) {
	if id.Issuer != "" && id.Issuer != d.issuer {
		return "", fmt.Errorf("auth: identity names issuer %q, this is %q", id.Issuer, d.issuer)
	}
	if ttl <= 0 || ttl > MaxDevTTL {
		return "", fmt.Errorf("auth: token lifetime %v is outside (0, %v]", ttl, MaxDevTTL)
	}
	id.Roles = append([]Role(nil), id.Roles...)
	if err := id.check(); err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	var jti [16]byte
	rand.Read(jti[:])
	now := d.now().Truncate(time.Second)
	roles := make([]string, len(id.Roles))
	for i, r := range id.Roles {
		roles[i] = string(r)
	}
	claims := jwt.MapClaims{
		"iss":        d.issuer,
		"sub":        id.User,
		"department": id.Department,
		"roles":      roles,
		"iat":        now.Unix(),
		"nbf":        now.Unix(),
		"exp":        now.Add(ttl).Unix(),
		"jti":        base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	if id.CitizenID != "" {
		claims["citizen_id"] = id.CitizenID
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = d.kid
	s, err := t.SignedString(d.key)
	if err != nil {
		return "", fmt.Errorf("auth: couldn't sign token: %w", err)
	}
	return s, nil
}

// Config is the issuer's configuration with its public key as a static key.
func (d *DevIssuer) Config() IssuerConfig {
	p, err := PublicKeyPEM(d.key.Public())
	if err != nil {
		panic(err) // an Ed25519 key always encodes
	}
	return IssuerConfig{Issuer: d.issuer, Keys: []string{p}}
}

// JWKS returns the issuer's public key as a JWK Set (RFC 7517).
func (d *DevIssuer) JWKS() []byte {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{[]jwk{{
		Kty: "OKP", Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(d.key.Public().(ed25519.PublicKey)),
		Kid: d.kid, Alg: algEdDSA, Use: "sig",
	}}}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// JWKSHandler serves [DevIssuer.JWKS], e.g. at /.well-known/jwks.json.
func (d *DevIssuer) JWKSHandler() http.Handler {
	body := d.JWKS()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(body)
	})
}
