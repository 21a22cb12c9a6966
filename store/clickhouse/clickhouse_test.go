package clickhouse_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"github.com/crossledger/crossledger/ops/testenv"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/clickhouse"
	"github.com/crossledger/crossledger/store/storetest"
)

// server returns the test server's address, or skips the test when none is
// configured and services are not required.
func server(t testing.TB) string {
	t.Helper()
	return testenv.ClickHouse(t)
}

// testConfig returns a config with a fresh database prefix, and drops every
// database with that prefix when the test ends.
func testConfig(t testing.TB) clickhouse.Config {
	t.Helper()
	addr := server(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "cltest_" + hex.EncodeToString(b)
	cfg := clickhouse.Config{Server: clickhouse.Server{Addr: []string{addr}}, Database: name}
	t.Cleanup(func() {
		if err := clickhouse.DropDatabases(context.Background(), cfg.Server, name); err != nil {
			t.Errorf("couldn't drop test databases: %v", err)
		}
	})
	return cfg
}

func open(t testing.TB, cfg clickhouse.Config) *clickhouse.Store {
	t.Helper()
	return storetest.Open(t, clickhouse.Open, cfg)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
		cfg := testConfig(t)
		return open(t, cfg), func(t *testing.T) store.Store { return open(t, cfg) }
	})
}

func change(leaf uint64, dept, typ, key, name string) store.Entry {
	return store.Entry{Leaf: leaf, Department: dept, Seq: leaf + 1, Kind: schema.KindRecordChange, Digest: "d", Time: time.Unix(1700000000, 0),
		Change: &store.Change{Type: typ, Record: "r" + key, Op: schema.OpUpsert, Key: []string{key},
			Values: []store.Value{{Name: "name", Type: schema.TypeString, Text: name}}, Subjects: []string{"tag"}}}
}

// TestDepartmentsOnOwnDatabases places two departments on databases of
// their own, one of them through a separate server entry (another address
// of the same test server), and checks that each department's rows are in
// its database only.
func TestDepartmentsOnOwnDatabases(t *testing.T) {
	cfg := testConfig(t)
	addr := cfg.Server.Addr[0]
	other := addr
	if host, port, ok := strings.Cut(addr, ":"); ok && host == "127.0.0.1" {
		other = "localhost:" + port
	}
	cfg.Departments = map[string]clickhouse.Department{
		"civil":  {Database: cfg.Database + "_civil_affairs"},
		"estate": {Server: clickhouse.Server{Addr: []string{other}}, Database: cfg.Database + "_real_estate"},
	}
	ctx := context.Background()
	s := open(t, cfg)
	if err := s.Write(ctx, []store.Entry{
		change(0, "civil", "citizen", "110", "张伟"),
		change(1, "estate", "title", "t1", "房产"),
		change(2, "tax", "credit", "c1", "税"),
	}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, tc := range []struct{ dept, db, typ, key string }{
		{"civil", cfg.Database + "_civil_affairs", "citizen", "110"},
		{"estate", cfg.Database + "_real_estate", "title", "t1"},
		{"tax", cfg.Database + "_tax", "credit", "c1"},
	} {
		if _, err := s.Current(ctx, tc.dept, tc.typ, []string{tc.key}); err != nil {
			t.Errorf("Current(%s): %v", tc.dept, err)
		}
		n, err := clickhouse.CountRows(ctx, cfg.Server, tc.db, "versions")
		if err != nil || n != 1 {
			t.Errorf("%s.versions has %d rows (%v), want 1", tc.db, n, err)
		}
	}
	// Reopened, the store finds the departments again.
	s.Close()
	s = open(t, cfg)
	wm, err := s.Watermark(ctx)
	if err != nil || wm.Size != 3 || len(wm.Departments) != 3 || wm.Departments["estate"].Size != 2 {
		t.Errorf("Watermark = %+v, %v", wm, err)
	}
	rs, err := s.BySubject(ctx, "estate", "tag")
	if err != nil || len(rs) != 1 || rs[0].Values[0].Text != "房产" {
		t.Errorf("BySubject(estate) = %+v, %v", rs, err)
	}
}

// TestRetryAfterFailureMidway makes a write fail after the department
// tables were written (the ledger's access table is renamed away), and
// checks that the watermark did not move and that retrying the batch
// leaves exactly the rows of one write.
func TestRetryAfterFailureMidway(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	s := open(t, cfg)
	batch := []store.Entry{
		change(0, "civil", "citizen", "110", "张伟"),
		{Leaf: 1, Department: "gateway", Seq: 1, Kind: schema.KindAccess, Digest: "a", Time: time.Unix(1700000000, 0),
			Access: &schema.Access{Consumer: "estate", User: "u", Purpose: "p"}},
	}
	if err := s.Write(ctx, batch[:1]); err != nil { // creates the department database
		t.Fatal(err)
	}
	batch[0] = change(2, "civil", "citizen", "110", "张伟伟")
	batch = append(batch, change(3, "civil", "citizen", "111", "李娜"))
	access := "`" + cfg.Database + "`.access"
	if err := clickhouse.Exec(ctx, cfg.Server, "RENAME TABLE "+access+" TO `"+cfg.Database+"`.access_away"); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, batch)
	if err == nil {
		t.Fatal("Write succeeded without the access table")
	}
	if wm, _ := s.Watermark(ctx); wm.Size != 1 {
		t.Errorf("Watermark after failed write: %d, want 1", wm.Size)
	}
	if err := clickhouse.Exec(ctx, cfg.Server, "RENAME TABLE `"+cfg.Database+"`.access_away TO "+access); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, batch); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if wm, _ := s.Watermark(ctx); wm.Size != 4 {
		t.Errorf("Watermark after retry: %d, want 4", wm.Size)
	}
	h, err := s.History(ctx, "civil", "citizen", []string{"110"})
	if err != nil || len(h) != 2 || h[1].Leaf != 2 {
		t.Errorf("History after retry = %+v, %v", h, err)
	}
	evs, err := s.Accesses(ctx, store.AccessQuery{})
	if err != nil || len(evs) != 1 {
		t.Errorf("Accesses after retry = %+v, %v", evs, err)
	}
}

func TestOpenValidates(t *testing.T) {
	for _, cfg := range []clickhouse.Config{
		{},
		{Server: clickhouse.Server{Addr: []string{"x:1"}}, Database: "bad`name"},
		{Server: clickhouse.Server{Addr: []string{"x:1"}}, Departments: map[string]clickhouse.Department{"Bad Dept": {}}},
	} {
		if _, err := clickhouse.Open(context.Background(), cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	var _ = errors.New
	var _ = reflect.DeepEqual
}
