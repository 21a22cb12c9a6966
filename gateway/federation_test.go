package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/gateway/auth"
	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/clickhouse"
)

// proxy is a TCP proxy to a real server that the test can cut: the
// department behind it becomes unreachable (connections refused and
// in-flight ones reset), as when its server or network goes away.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// cut closes the listener and every proxied connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestFederationDepartmentDown: with the projection in real ClickHouse and
// the tax department's database reached through its own server address,
// person returns the other departments' records and an error for tax at
// tax's path once tax's server is unreachable.
func TestFederationDepartmentDown(t *testing.T) {
	chAddr := testenv.ClickHouse(t)
	db := fmt.Sprintf("gwfed%d", time.Now().UnixNano()%1_000_000_000)
	var taxProxy *proxy
	s := startStack(t, stackOptions{
		projection: func(t *testing.T) store.Store {
			st, err := clickhouse.Open(context.Background(), clickhouse.Config{Server: clickhouse.Server{Addr: []string{chAddr}}, Database: db})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dropDatabases(chAddr, db) })
			return st
		},
		stores: func(store.Store) map[string]store.Reader {
			taxProxy = newProxy(t, chAddr)
			st, err := clickhouse.Open(context.Background(), clickhouse.Config{
				Server:   clickhouse.Server{Addr: []string{chAddr}},
				Database: db,
				Departments: map[string]clickhouse.Department{
					"tax": {Server: clickhouse.Server{Addr: []string{taxProxy.addr()}, DialTimeout: time.Second}},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return map[string]store.Reader{"tax": st}
		},
	})
	sc := seed(t, s)
	tok := s.token("real-estate", auth.RoleAnalyst)
	vars := map[string]any{"id": sc.a, "purpose": "real-estate-transfer"}

	r := s.query(tok, personQuery, vars)
	if r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("before the outage: %s", truncate(r.Body))
	}
	if n := countRecords(r, "tax"); n != 1 {
		t.Fatalf("tax has %d records before the outage", n)
	}

	taxProxy.cut()
	start := time.Now()
	r = s.query(tok, personQuery, vars)
	took := time.Since(start)
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, truncate(r.Body))
	}
	if len(r.Errors) != 1 {
		t.Fatalf("want one error (tax), got %s", truncate(r.Body))
	}
	e := r.Errors[0]
	if e.Extensions["department"] != "tax" || e.Extensions["code"] != "UNAVAILABLE" {
		t.Fatalf("error does not name tax: %+v", e)
	}
	deps := r.Data["person"].(map[string]any)["departments"].([]any)
	taxIndex := -1
	for i, d := range deps {
		if d.(map[string]any)["department"] == "tax" {
			taxIndex = i
		}
	}
	want := []any{"person", "departments", float64(taxIndex), "records"}
	if fmt.Sprint(e.Path) != fmt.Sprint(want) {
		t.Fatalf("error path %v, want %v", e.Path, want)
	}
	for _, d := range []string{"civil-affairs", "public-security", "real-estate", "electricity"} {
		if n := countRecords(r, d); n != 1 {
			t.Errorf("%s: %d records during tax's outage, want 1", d, n)
		}
	}
	// Not a performance assertion (those are benchmarks): a hang detector.
	if took > 30*time.Second {
		t.Errorf("person took %v with tax down (federation deadline 3s)", took)
	}
	t.Logf("person with tax unreachable answered in %v: %s", took, e.Message)
}

func countRecords(r *response, dept string) int {
	p, _ := r.Data["person"].(map[string]any)
	if p == nil {
		return -1
	}
	for _, d := range p["departments"].([]any) {
		d := d.(map[string]any)
		if d["department"] == dept {
			recs, _ := d["records"].([]any)
			return len(recs)
		}
	}
	return 0
}

// dropDatabases removes the test's ClickHouse databases.
func dropDatabases(addr, prefix string) {
	clickhouse.DropDatabases(context.Background(), clickhouse.Server{Addr: []string{addr}}, prefix)
}
