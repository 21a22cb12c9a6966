package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/sqlite"
	"github.com/crossledger/crossledger/store/storetest"
)

func open(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
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
