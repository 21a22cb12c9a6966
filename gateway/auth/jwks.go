package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// maxJWKSSize bounds a fetched JWK Set.
const maxJWKSSize = 1 << 20

// jwksSource is one issuer's JWK Set: the keys of the last good fetch, and
// how to fetch again. Fetches are serialised (sem) and bounded (timeout);
// a failed fetch keeps the previous keys until they are maxAge old.
type jwksSource struct {
	issuer  string
	url     string
	client  *http.Client
	timeout time.Duration
	// minInterval is the least time between two fetches triggered by
	// tokens (unknown kid, no keys); the periodic refresh is not limited.
	minInterval time.Duration
	maxAge      time.Duration
	now         func() time.Time
	logger      *slog.Logger

	sem chan struct{} // held while fetching

	mu          sync.Mutex
	keys        []verKey
	fetched     time.Time // last successful fetch; zero if none
	lastAttempt time.Time
	lastErr     error // of the last fetch; nil if it succeeded
	gen         uint64
}

// snapshot returns the current keys; fresh is false (and keys nil) if there
// are none younger than maxAge.
func (s *jwksSource) snapshot() (keys []verKey, fresh bool, gen uint64, lastErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetched.IsZero() || s.now().Sub(s.fetched) > s.maxAge {
		return nil, false, s.gen, s.lastErr
	}
	return s.keys, true, s.gen, s.lastErr
}

// refresh fetches the set. If limited, it fetches only when minInterval has
// passed since the last attempt. It waits for a fetch already under way
// (bounded by ctx) and does not fetch again if that one changed gen.
func (s *jwksSource) refresh(ctx context.Context, limited bool, seen uint64) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	skip := s.gen != seen || limited && !s.lastAttempt.IsZero() && s.now().Sub(s.lastAttempt) < s.minInterval
	if !skip {
		s.lastAttempt = s.now()
	}
	s.mu.Unlock()
	if skip {
		return
	}
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	if err != nil {
		s.logger.WarnContext(ctx, "couldn't refresh JWKS", "issuer", s.issuer, "url", s.url, "error", err)
		return
	}
	s.keys = keys
	s.fetched = s.now()
	s.gen++
}

// fetch GETs and parses the JWK Set, keeping the keys usable for an
// accepted algorithm.
func (s *jwksSource) fetch(ctx context.Context) ([]verKey, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("couldn't make JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("couldn't fetch JWKS: %s answered %s", s.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't read JWKS: %w", err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("JWKS at %s is larger than %d bytes", s.url, maxJWKSSize)
	}
	return jwksKeysOf(body, func(i int, kid string, err error) {
		// One bad or foreign key (an encryption key, an Ed448 key) must
		// not take the issuer's other keys down with it.
		s.logger.DebugContext(ctx, "skipping JWKS key", "issuer", s.issuer, "index", i, "kid", kid, "error", err)
	})
}

// jwksKey turns one JWK into a verification key, refusing keys that are not
// for signatures or whose declared alg does not fit their type.
func jwksKey(m jwkset.JWKMarshal) (verKey, error) {
	if m.USE != "" && m.USE != jwkset.UseSig {
		return verKey{}, fmt.Errorf("key use %q, want sig", m.USE)
	}
	// Private: false: never take private or symmetric key material from
	// a key set, even if a misconfigured server publishes it.
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return verKey{}, err
	}
	key := jwk.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public()
	}
	alg, err := algFor(key)
	if err != nil {
		return verKey{}, err
	}
	if m.ALG != "" && string(m.ALG) != alg {
		return verKey{}, fmt.Errorf("key declares alg %q but is a key for %s", m.ALG, alg)
	}
	return verKey{kid: m.KID, alg: alg, key: key}, nil
}

// errUnknownKID: the issuer has no key (static or in its JWKS) with the
// token's kid.
var errUnknownKID = errors.New("no key with this kid")

// jwksKeysOf parses a JWK Set document into its usable keys, reporting the
// ones it skips to skipped (if not nil).
func jwksKeysOf(doc []byte, skipped func(i int, kid string, err error)) ([]verKey, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("couldn't decode JWKS: %w", err)
	}
	var keys []verKey
	for i, m := range set.Keys {
		k, err := jwksKey(m)
		if err != nil {
			if skipped != nil {
				skipped(i, m.KID, err)
			}
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}
