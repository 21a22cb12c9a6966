package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"
	"github.com/crossledger/crossledger/store/storetest"
)

func open(t *testing.T, path string) store.Store {
	t.Helper()
	return storetest.Open(t, sqlite.Open, sqlite.Config{Path: path})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func(t *testing.T) store.Store) {
		path := filepath.Join(t.TempDir(), "projection.db")
		return open(t, path), func(t *testing.T) store.Store { return open(t, path) }
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	for range 3 {
		s := open(t, path)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFieldsWithoutDisclosures reads a database whose fields column holds
// [name, type, text] triples, as written before disclosures were kept:
// the values come back with an empty disclosure, beside new versions that
// have them.
func TestFieldsWithoutDisclosures(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	s := open(t, path)
	at := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	change := func(leaf uint64, vs ...store.Value) store.Entry {
		return store.Entry{Leaf: leaf, Department: "civil", Seq: leaf + 1, Kind: schema.KindRecordChange, Digest: "d", Time: at,
			Change: &store.Change{Type: "citizen", SchemaVersion: 1, Record: "ref-a", Op: schema.OpUpsert, Key: []string{"a"}, Values: vs}}
	}
	if err := s.Write(ctx, []store.Entry{change(0, store.Value{Name: "name", Type: schema.TypeString, Text: "x", Disclosure: "ignored"})}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"versions", "current"} {
		if _, err := raw.Exec(`UPDATE ` + table + ` SET fields = '[["name","string","张伟"],["n","int","7"]]'`); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	s = open(t, path)
	newer := store.Value{Name: "name", Type: schema.TypeString, Text: "李娜", Disclosure: "WyJzYWx0IiwibmFtZSIsIuadjuWonCJd"}
	if err := s.Write(ctx, []store.Entry{change(1, newer)}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "civil", "citizen", []string{"a"})
	if err != nil || len(h) != 2 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	want := []store.Value{{Name: "name", Type: schema.TypeString, Text: "张伟"}, {Name: "n", Type: schema.TypeInt, Text: "7"}}
	if !reflect.DeepEqual(h[0].Values, want) {
		t.Errorf("old version: %q, want %q", h[0].Values, want)
	}
	if !reflect.DeepEqual(h[1].Values, []store.Value{newer}) {
		t.Errorf("new version: %q, want %q", h[1].Values, []store.Value{newer})
	}
}
