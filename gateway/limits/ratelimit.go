package limits

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: PerSecond tokens are added each second, up to
// Burst; each request takes one.
type Rate struct {
	// PerSecond is the sustained request rate.
	PerSecond float64
	// Burst is the most requests allowed at once after a quiet spell.
	Burst int
}

// RateConfig configures the gateway's two rate limiters.
type RateConfig struct {
	// Authenticated limits each authenticated identity (the token's
	// subject).
	Authenticated Rate
	// Anonymous limits each remote address of unauthenticated callers (see
	// [RemoteKey]); it should be much tighter than Authenticated.
	Anonymous Rate
	// MaxKeys caps the number of identities (or addresses) each limiter
	// tracks; past it, the least recently seen is forgotten. Each key costs
	// about 200 bytes.
	MaxKeys int
}

// DefaultRates returns the rate limits the gateway runs with unless
// configured otherwise: an analyst's tool may send 20 queries a second
// (bursts of 40); an unauthenticated address 2 a second (bursts of 10),
// enough for a login page and a checkpoint poll.
func DefaultRates() RateConfig {
	return RateConfig{
		Authenticated: Rate{PerSecond: 20, Burst: 40},
		Anonymous:     Rate{PerSecond: 2, Burst: 10},
		MaxKeys:       100_000,
	}
}

// Validate reports whether the configuration is usable.
func (c RateConfig) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		r    Rate
	}{{"Authenticated", c.Authenticated}, {"Anonymous", c.Anonymous}} {
		if !(r.r.PerSecond > 0) || math.IsInf(r.r.PerSecond, 0) {
			errs = append(errs, fmt.Errorf("limits: %s.PerSecond must be positive and finite, got %v", r.name, r.r.PerSecond))
		}
		if r.r.Burst < 1 {
			errs = append(errs, fmt.Errorf("limits: %s.Burst must be at least 1, got %d", r.name, r.r.Burst))
		}
	}
	if c.MaxKeys < 1 {
		errs = append(errs, fmt.Errorf("limits: MaxKeys must be at least 1, got %d", c.MaxKeys))
	}
	return errors.Join(errs...)
}

// RateLimiters holds the limiter for authenticated identities and the one
// for unauthenticated remote addresses.
type RateLimiters struct {
	Authenticated *RateLimiter
	Anonymous     *RateLimiter
}

// NewRateLimiters returns the two limiters c describes.
func NewRateLimiters(c RateConfig) (*RateLimiters, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &RateLimiters{
		Authenticated: NewRateLimiter(c.Authenticated, c.MaxKeys),
		Anonymous:     NewRateLimiter(c.Anonymous, c.MaxKeys),
	}, nil
}

// RateLimiter is a token bucket per key with bounded memory: it tracks at
// most maxKeys keys, forgetting the least recently seen first, and forgets
// a key once it has been idle long enough for its bucket to refill (so
// forgetting it changes nothing). Under a flood of more than maxKeys
// distinct keys, a forgotten key starts again with a full bucket; the
// bound on memory is worth that. It is safe for concurrent use.
type RateLimiter struct {
	r       Rate
	maxKeys int
	idle    time.Duration
	now     func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element
	order list.List // of *bucket, most recently seen first
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter returns a limiter giving each key the rate r, tracking at
// most maxKeys keys (at least 1).
func NewRateLimiter(r Rate, maxKeys int) *RateLimiter {
	idle := time.Duration(float64(r.Burst) / r.PerSecond * float64(time.Second))
	return &RateLimiter{
		r:       r,
		maxKeys: max(maxKeys, 1),
		idle:    max(idle, time.Second),
		now:     time.Now,
		keys:    make(map[string]*list.Element),
	}
}

// SetClock replaces the clock (time.Now by default), for tests.
func (l *RateLimiter) SetClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// Allow takes a token from key's bucket. If there is none, it returns false
// and how long until there will be one (for a Retry-After header).
func (l *RateLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()

	// Forget idle keys from the cold end: amortised O(1) per call.
	for e := l.order.Back(); e != nil; e = l.order.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.seen) < l.idle {
			break
		}
		l.order.Remove(e)
		delete(l.keys, b.key)
	}

	var b *bucket
	if e, found := l.keys[key]; found {
		b = e.Value.(*bucket)
		l.order.MoveToFront(e)
	} else {
		for len(l.keys) >= l.maxKeys {
			e := l.order.Back()
			l.order.Remove(e)
			delete(l.keys, e.Value.(*bucket).key)
		}
		b = &bucket{key: key, lim: rate.NewLimiter(rate.Limit(l.r.PerSecond), l.r.Burst)}
		l.keys[key] = l.order.PushFront(b)
	}
	b.seen = now

	res := b.lim.ReserveN(now, 1)
	if !res.OK() { // cannot happen with Burst ≥ 1
		return false, time.Duration(math.MaxInt64)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len returns the number of keys tracked.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// RemoteKey returns the rate-limit key for an unauthenticated request: its
// remote address, with IPv6 addresses cut to their /64 (one host
// commonly owns a whole /64, so a finer key would let it multiply its
// budget). It uses r.RemoteAddr only; behind a reverse proxy, the gateway
// must set RemoteAddr from the proxy's header itself.
func RemoteKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
