package limits

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newFakeLimiter(r Rate, maxKeys int) (*RateLimiter, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	l := NewRateLimiter(r, maxKeys)
	l.SetClock(clk.now)
	return l, clk
}

func TestRateLimiterBucket(t *testing.T) {
	l, clk := newFakeLimiter(Rate{PerSecond: 2, Burst: 3}, 100)
	for i := range 3 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, retry := l.Allow("alice")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v retryAfter=%v, want refused with 500ms", ok, retry)
	}
	// A refused request takes no token: waiting retryAfter is enough.
	ok, retry = l.Allow("alice")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("5th request: ok=%v retryAfter=%v, want refused with 500ms", ok, retry)
	}
	// Other keys have their own bucket.
	if ok, _ := l.Allow("bob"); !ok {
		t.Fatal("bob refused because of alice")
	}
	clk.advance(500 * time.Millisecond)
	if ok, _ := l.Allow("alice"); !ok {
		t.Fatal("refused after waiting retryAfter")
	}
	if ok, _ := l.Allow("alice"); ok {
		t.Fatal("allowed a second request after one token's wait")
	}
}

func TestRateLimiterBoundedKeys(t *testing.T) {
	l, clk := newFakeLimiter(Rate{PerSecond: 1, Burst: 1}, 3)
	for i := range 1000 {
		l.Allow(fmt.Sprint("ip", i))
		if l.Len() > 3 {
			t.Fatalf("%d keys tracked, cap 3", l.Len())
		}
	}
	// The most recent keys are the ones kept: ip999 is still empty.
	if ok, _ := l.Allow("ip999"); ok {
		t.Error("ip999 was forgotten although most recently seen")
	}
	// Forgetting the least recently seen resets its bucket: that is the
	// price of the cap.
	if ok, _ := l.Allow("ip0"); !ok {
		t.Error("ip0 should have been forgotten and start full")
	}
	// Idle keys go once their bucket would be full again (1s here).
	clk.advance(2 * time.Second)
	l.Allow("x")
	if l.Len() != 1 {
		t.Errorf("%d keys tracked after everything else idled, want 1", l.Len())
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	l := NewRateLimiter(Rate{PerSecond: 1e-3, Burst: 50}, 10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				key := "shared"
				if i%2 == 1 {
					key = fmt.Sprint("k", g, i)
				}
				if ok, _ := l.Allow(key); ok && key == "shared" {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// The shared key may have been evicted under churn (cap 10), refilling
	// it; without eviction it allows exactly the burst.
	if allowed < 50 {
		t.Errorf("shared key allowed %d, want at least the burst of 50", allowed)
	}
	if l.Len() > 10 {
		t.Errorf("%d keys, cap 10", l.Len())
	}
}

func TestRateLimiters(t *testing.T) {
	rl, err := NewRateLimiters(DefaultRates())
	if err != nil {
		t.Fatal(err)
	}
	if rl.Authenticated.r != DefaultRates().Authenticated || rl.Anonymous.r != DefaultRates().Anonymous {
		t.Error("limiters not built from the config")
	}
	bad := DefaultRates()
	bad.Anonymous.Burst = 0
	bad.Authenticated.PerSecond = -1
	if _, err := NewRateLimiters(bad); err == nil {
		t.Error("accepted Burst 0 and a negative rate")
	}
}

func TestRemoteKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:51234", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"not-an-address", "not-an-address"},
	} {
		r := &http.Request{RemoteAddr: tc.addr}
		if got := RemoteKey(r); got != tc.want {
			t.Errorf("RemoteKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func BenchmarkRateLimiterAllow(b *testing.B) {
	l := NewRateLimiter(Rate{PerSecond: 1e9, Burst: 1 << 30}, 100_000)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("user-", i)
	}
	i := 0
	for b.Loop() {
		l.Allow(keys[i%len(keys)])
		i++
	}
}
