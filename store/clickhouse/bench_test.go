package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/crossledger/crossledger/store"
	"github.com/crossledger/crossledger/store/storetest"
)

func benchServer(b *testing.B) Server {
	addr := os.Getenv("CROSSLEDGER_TEST_CLICKHOUSE")
	if addr == "" {
		b.Skip("CROSSLEDGER_TEST_CLICKHOUSE is unset")
	}
	return Server{Addr: []string{addr}}
}

func benchDatabase(b *testing.B, sv Server) string {
	r := make([]byte, 6)
	rand.Read(r)
	name := "clbench_" + hex.EncodeToString(r)
	b.Cleanup(func() { DropDatabases(context.Background(), sv, name) })
	return name
}

// BenchmarkWrite compares Write with batches of 10 000 record changes to
// the baseline: the same rows (versions' columns, built from the same
// entries) sent with one bare PrepareBatch into a plain MergeTree table.
func BenchmarkWrite(b *testing.B) {
	const batchSize = 10000
	sv := benchServer(b)
	ctx := context.Background()
	b.Run("Store", func(b *testing.B) {
		s, err := Open(ctx, Config{Server: sv, Database: benchDatabase(b, sv)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		storetest.BenchWrite(b, s, batchSize)
	})
	b.Run("BarePrepareBatch", func(b *testing.B) {
		name := benchDatabase(b, sv)
		conn, err := dial(ctx, sv)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		d := &db{conn: conn, name: name}
		for _, stmt := range []string{
			"CREATE DATABASE `" + name + "`",
			"CREATE TABLE " + d.t("bare") + recordTable + " ENGINE = MergeTree() PARTITION BY tuple() ORDER BY (type, key, leaf)",
		} {
			if err := conn.Exec(ctx, stmt); err != nil {
				b.Fatal(err)
			}
		}
		batches := make([][]store.Entry, b.N)
		for i := range batches {
			batches[i] = storetest.BenchEntries("bench", uint64(i*batchSize), batchSize)
		}
		b.ResetTimer()
		start := time.Now()
		for _, batch := range batches {
			var rows recordRows
			for i := range batch {
				rows.add(recordOf(&batch[i]), 2*batch[i].Leaf)
			}
			if err := insert(ctx, conn, d.t("bare"), rows.columns()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batchSize)/time.Since(start).Seconds(), "records/s")
	})
}

// BenchmarkLookups measures point and subject lookups at
// $CROSSLEDGER_BENCH_RECORDS records, in the database named by
// $CROSSLEDGER_BENCH_DATABASE (default "crossledger_bench"), which it keeps
// so later runs skip loading.
func BenchmarkLookups(b *testing.B) {
	sv := benchServer(b)
	name := os.Getenv("CROSSLEDGER_BENCH_DATABASE")
	if name == "" {
		name = "crossledger_bench"
	}
	s, err := Open(context.Background(), Config{Server: sv, Database: name})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLookups(b, s)
}
