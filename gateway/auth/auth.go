package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize bounds a bearer token (and the Authorization header's value).
const MaxTokenSize = 8 << 10

// JWKS defaults; see the options to change them.
const (
	DefaultJWKSTimeout         = 10 * time.Second
	DefaultJWKSRefreshInterval = 15 * time.Minute
	DefaultJWKSMinInterval     = 10 * time.Second
	DefaultJWKSMaxAge          = 24 * time.Hour
)

// Authenticator verifies bearer tokens against the configured issuers. It
// is safe for concurrent use. If any issuer has a JWKS URL it owns a
// refresh goroutine, stopped by [Authenticator.Close] or by the end of the
// context given to [New].
type Authenticator struct {
	issuers map[string]*issuer
	now     func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type issuer struct {
	cfg    IssuerConfig
	static []verKey
	jwks   *jwksSource // nil without a JWKS URL
	parser *jwt.Parser
}

// Option changes a default of [New].
type Option func(*options)

type options struct {
	now             func() time.Time
	logger          *slog.Logger
	client          *http.Client
	timeout         time.Duration
	refreshInterval time.Duration
	minInterval     time.Duration
	maxAge          time.Duration
}

// WithClock sets the clock tokens are checked against (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets where JWKS fetch failures are logged (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHTTPClient sets the client JWKS are fetched with. Its redirects are
// limited to https (or loopback http) either way.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithJWKSTimeout bounds one JWKS fetch (default [DefaultJWKSTimeout]).
func WithJWKSTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithJWKSRefresh sets how often every JWKS is fetched in the background
// (default [DefaultJWKSRefreshInterval]), and the least time between two
// fetches that tokens trigger by naming an unknown kid (default
// [DefaultJWKSMinInterval]), which keeps a flood of forged kids from
// becoming a flood of fetches.
func WithJWKSRefresh(interval, minInterval time.Duration) Option {
	return func(o *options) { o.refreshInterval, o.minInterval = interval, minInterval }
}

// WithJWKSMaxAge sets how long the keys of the last good fetch stay usable
// while fetches fail (default [DefaultJWKSMaxAge]); after that the issuer's
// tokens are refused with [ErrKeysUnavailable].
func WithJWKSMaxAge(d time.Duration) Option { return func(o *options) { o.maxAge = d } }

// New builds an Authenticator for the issuers. It validates every config
// and fetches every JWKS once, in parallel, bounded by the JWKS timeout. A
// JWKS that cannot be fetched does not fail New — the other issuers keep
// working — but its issuer's tokens are refused with [ErrKeysUnavailable]
// until a fetch succeeds. The refresh goroutine runs until ctx ends or
// Close is called.
func New(ctx context.Context, cfgs []IssuerConfig, opts ...Option) (*Authenticator, error) {
	o := options{
		now:             time.Now,
		logger:          slog.New(slog.DiscardHandler),
		timeout:         DefaultJWKSTimeout,
		refreshInterval: DefaultJWKSRefreshInterval,
		minInterval:     DefaultJWKSMinInterval,
		maxAge:          DefaultJWKSMaxAge,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 || o.refreshInterval <= 0 || o.minInterval < 0 || o.maxAge <= 0 {
		return nil, errors.New("auth: JWKS timeout, refresh interval and max age must be positive")
	}
	if len(cfgs) == 0 {
		return nil, errors.New("auth: no issuers configured")
	}
	client := jwksClient(o.client, o.timeout)
	a := &Authenticator{issuers: make(map[string]*issuer), now: o.now}
	var sources []*jwksSource
	for _, c := range cfgs {
		static, err := c.parse()
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		if _, dup := a.issuers[c.Issuer]; dup {
			return nil, fmt.Errorf("auth: issuer %q configured twice", c.Issuer)
		}
		popts := []jwt.ParserOption{
			jwt.WithValidMethods(acceptedAlgs),
			jwt.WithIssuer(c.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(c.leeway()),
			jwt.WithTimeFunc(o.now),
			jwt.WithStrictDecoding(),
		}
		if c.Audience != "" {
			popts = append(popts, jwt.WithAudience(c.Audience))
		}
		is := &issuer{cfg: c, static: static, parser: jwt.NewParser(popts...)}
		if c.JWKSURL != "" {
			is.jwks = &jwksSource{
				issuer: c.Issuer, url: c.JWKSURL, client: client, timeout: o.timeout,
				minInterval: o.minInterval, maxAge: o.maxAge, now: o.now, logger: o.logger,
				sem: make(chan struct{}, 1),
			}
			sources = append(sources, is.jwks)
		}
		a.issuers[c.Issuer] = is
	}
	ctx, a.cancel = context.WithCancel(ctx)
	if len(sources) > 0 {
		var first sync.WaitGroup
		for _, s := range sources {
			first.Go(func() { s.refresh(ctx, false, 0) })
		}
		first.Wait()
		a.wg.Go(func() { refreshLoop(ctx, sources, o.refreshInterval) })
	}
	return a, nil
}

func refreshLoop(ctx context.Context, sources []*jwksSource, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, s := range sources {
				_, _, gen, _ := s.snapshot()
				s.refresh(ctx, false, gen)
			}
		}
	}
}

// Close stops the JWKS refresh goroutine and waits for it. Verification
// keeps working on the keys already fetched.
func (a *Authenticator) Close() error {
	a.cancel()
	a.wg.Wait()
	return nil
}

// jwksClient bounds the fetch time and refuses redirects that would fetch
// keys in the clear.
func jwksClient(base *http.Client, timeout time.Duration) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	if c.Timeout == 0 || c.Timeout > timeout {
		c.Timeout = timeout
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("too many redirects")
		}
		return checkJWKSURL(req.URL.String())
	}
	return c
}

// Authenticate verifies the request's "Authorization: Bearer <jwt>" header.
// JWKS fetches it triggers are bounded by the request's context.
func (a *Authenticator) Authenticate(r *http.Request) (Identity, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0 || len(hs) == 1 && strings.TrimSpace(hs[0]) == "":
		return Identity{}, fail(ErrNoToken, "", "the request has no Authorization header", nil)
	case len(hs) > 1:
		return Identity{}, fail(ErrMalformedToken, "", "the request has more than one Authorization header", nil)
	case len(hs[0]) > MaxTokenSize+len("Bearer "):
		return Identity{}, fail(ErrMalformedToken, "", fmt.Sprintf("the Authorization header is %d bytes, limit %d", len(hs[0]), MaxTokenSize+len("Bearer ")), nil)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Identity{}, fail(ErrNoToken, "", fmt.Sprintf("the Authorization header uses scheme %q, want Bearer", truncate(scheme, 20)), nil)
	}
	return a.Verify(r.Context(), strings.TrimSpace(token))
}

// Verify verifies a compact JWT and returns the identity it vouches for. The
// issuer is chosen by the token's (unverified) iss claim; the signature is
// then checked with that issuer's keys only, each key accepting only its own
// algorithm (EdDSA, ES256 or RS256; never none or HS*). The error is an
// [*Error]; see [Reason].
func (a *Authenticator) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, fail(ErrNoToken, "", "the bearer token is empty", nil)
	}
	if len(token) > MaxTokenSize {
		return Identity{}, fail(ErrMalformedToken, "", fmt.Sprintf("the token is %d bytes, limit %d", len(token), MaxTokenSize), nil)
	}
	if strings.Count(token, ".") != 2 {
		return Identity{}, fail(ErrMalformedToken, "", "not a compact JWT (want three dot-separated parts)", nil)
	}
	// Unverified: only to choose the issuer whose keys decide.
	var claims jwt.MapClaims
	tok, _, err := jwt.NewParser(jwt.WithStrictDecoding()).ParseUnverified(token, &claims)
	if errors.Is(err, jwt.ErrTokenUnverifiable) {
		// A well-formed token whose alg the JWT library does not know.
		return Identity{}, fail(ErrBadSignature, "", fmt.Sprintf("unsupported algorithm %q (want EdDSA, ES256 or RS256)", truncate(fmt.Sprint(tok.Header["alg"]), 20)), nil)
	}
	if err != nil {
		return Identity{}, fail(ErrMalformedToken, "", "couldn't decode token", err)
	}
	if _, ok := tok.Header["crit"]; ok {
		return Identity{}, fail(ErrMalformedToken, "", `header names critical extensions ("crit"), none are supported`, nil)
	}
	iss, ok := claims["iss"].(string)
	if !ok || iss == "" {
		return Identity{}, fail(ErrUnknownIssuer, "", "the token has no iss claim", nil)
	}
	is, ok := a.issuers[iss]
	if !ok {
		return Identity{}, fail(ErrUnknownIssuer, truncate(iss, 200), "issuer is not configured", nil)
	}

	claims = nil
	_, err = is.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		return is.keysFor(ctx, t)
	})
	if err != nil {
		return Identity{}, is.classify(err, claims)
	}
	if err := is.checkLifetime(claims, a.now()); err != nil {
		return Identity{}, err
	}
	id, err := identityFromClaims(iss, claims)
	if err != nil {
		return Identity{}, fail(ErrBadClaims, iss, "", err)
	}
	exp, _ := claims.GetExpirationTime() // required and checked by the parser
	id.Expires = exp.Time
	if len(is.cfg.Departments) > 0 && !slices.Contains(is.cfg.Departments, id.Department) {
		return Identity{}, fail(ErrDepartmentNotAllowed, iss, fmt.Sprintf("the issuer may not vouch for department %q", id.Department), nil)
	}
	return id, nil
}

// checkLifetime refuses a token valid for longer than the issuer's max
// lifetime: exp − iat if the token has an iat, and exp − now in any case, so
// that leaving iat out does not make a long-lived token.
func (is *issuer) checkLifetime(claims jwt.MapClaims, now time.Time) *Error {
	limit, leeway := is.cfg.maxLifetime(), is.cfg.leeway()
	exp, _ := claims.GetExpirationTime() // required and checked by the parser
	if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		if d := exp.Sub(iat.Time); d > limit+leeway {
			return fail(ErrBadClaims, is.cfg.Issuer, fmt.Sprintf("exp is %v after iat, the issuer's max_lifetime is %v", d, limit), nil)
		}
	}
	if d := exp.Sub(now); d > limit+leeway {
		return fail(ErrBadClaims, is.cfg.Issuer, fmt.Sprintf("exp is %v from now, the issuer's max_lifetime is %v", d, limit), nil)
	}
	return nil
}

// keysFor returns the issuer's keys that may verify t: those for t's
// algorithm and, if t names a kid, only those with that kid or (static keys)
// without one.
func (is *issuer) keysFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	if _, hasKID := t.Header["kid"]; hasKID && kid == "" {
		return nil, errors.New(`header "kid" is not a non-empty string`)
	}
	var set jwt.VerificationKeySet
	for _, k := range is.static {
		if k.alg == alg && (kid == "" || k.kid == "" || k.kid == kid) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	var jwksErr error
	if is.jwks != nil {
		var keys []verKey
		keys, jwksErr = is.jwks.lookup(ctx, kid, alg)
		for _, k := range keys {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		if jwksErr != nil {
			return nil, jwksErr
		}
		if kid != "" {
			return nil, fmt.Errorf("%w %q for %s among the issuer's keys", errUnknownKID, truncate(kid, 100), alg)
		}
		return nil, fmt.Errorf("the issuer has no %s key", alg)
	}
	return set, nil
}

// lookup returns the keys for alg (and kid, if not ""), fetching the set
// again (rate-limited) if it has none.
func (s *jwksSource) lookup(ctx context.Context, kid, alg string) ([]verKey, error) {
	match := func(keys []verKey) []verKey {
		var out []verKey
		for _, k := range keys {
			if k.alg == alg && (kid == "" || k.kid == kid) {
				out = append(out, k)
			}
		}
		return out
	}
	keys, _, gen, _ := s.snapshot()
	if m := match(keys); len(m) > 0 {
		return m, nil
	}
	s.refresh(ctx, true, gen)
	keys, fresh, _, lastErr := s.snapshot()
	if m := match(keys); len(m) > 0 {
		return m, nil
	}
	if !fresh && lastErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, lastErr)
	}
	if !fresh {
		return nil, fmt.Errorf("%w: the JWKS has not been fetched successfully in the last %v", ErrKeysUnavailable, s.maxAge)
	}
	if kid != "" {
		return nil, fmt.Errorf("%w %q for %s in the issuer's JWKS", errUnknownKID, truncate(kid, 100), alg)
	}
	return nil, fmt.Errorf("the issuer's JWKS has no %s key", alg)
}

// classify turns a jwt parse error into an *Error.
func (is *issuer) classify(err error, claims jwt.MapClaims) *Error {
	iss := is.cfg.Issuer
	switch {
	case errors.Is(err, ErrKeysUnavailable):
		return fail(ErrKeysUnavailable, iss, "couldn't get the issuer's keys", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(ErrMalformedToken, iss, "", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(ErrBadSignature, iss, "", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		detail := "exp is in the past"
		if exp, e := claims.GetExpirationTime(); e == nil && exp != nil {
			detail = "expired at " + exp.UTC().Format(time.RFC3339)
		}
		return fail(ErrExpired, iss, detail, nil)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		detail := "nbf or iat is in the future"
		if nbf, e := claims.GetNotBefore(); e == nil && nbf != nil {
			detail = "not valid before " + nbf.UTC().Format(time.RFC3339)
		}
		return fail(ErrNotYetValid, iss, detail, nil)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fail(ErrWrongAudience, iss, fmt.Sprintf("aud does not contain %q", is.cfg.Audience), nil)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && is.cfg.Audience != "" && claims["aud"] == nil:
		return fail(ErrWrongAudience, iss, fmt.Sprintf("the token has no aud, want %q", is.cfg.Audience), nil)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fail(ErrUnknownIssuer, iss, "", err)
	}
	// Missing exp, claims of the wrong type, anything else about claims.
	return fail(ErrBadClaims, iss, "", err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
