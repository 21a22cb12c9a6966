package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/crossledger/crossledger/store/sqlite"
	"github.com/crossledger/crossledger/store/storetest"
)

func BenchmarkWrite(b *testing.B) {
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWrite(b, s, 10000)
}

// BenchmarkLookups measures point and subject lookups at
// $CROSSLEDGER_BENCH_RECORDS records in the file named by
// $CROSSLEDGER_BENCH_SQLITE (default a temporary file).
func BenchmarkLookups(b *testing.B) {
	path := os.Getenv("CROSSLEDGER_BENCH_SQLITE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLookups(b, s)
}
