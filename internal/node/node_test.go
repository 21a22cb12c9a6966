package node

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/store/clickhouse"
	"github.com/crossledger/crossledger/store/sqlite"
)

func TestOpenStoreNeedsExactlyOne(t *testing.T) {
	ctx := context.Background()
	for name, sc := range map[string]StoreConfig{
		"none": {},
		"both": {SQLite: &sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")}, ClickHouse: &clickhouse.Config{}},
	} {
		if st, err := OpenStore(ctx, sc); err == nil {
			st.Close()
			t.Errorf("%s: OpenStore succeeded", name)
		}
	}
	st, err := OpenStore(ctx, StoreConfig{SQLite: &sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestLocalOpensRunsAndCloses opens a local ledger on the embedded broker,
// runs and stops it, and checks that Close released the log's writer lock
// (a second node opens it) and that a failing part is reported by name.
func TestLocalOpensRunsAndCloses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	skey, _, err := merkle.GenerateKey("test.example/node")
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	cfg := LocalConfig{Dir: dir, LogKey: skey, LedgerSecret: secret, BrokerListen: "127.0.0.1:0",
		Store: StoreConfig{SQLite: &sqlite.Config{Path: filepath.Join(dir, "projection.db")}}}
	l, err := OpenLocal(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if l.Ingester == nil || l.Projector.Payloads != l.Payloads || l.Ingester.Payloads() != l.Payloads {
		t.Error("ingest and the projector do not share the node's payload store")
	}
	if _, err := Open(ctx, Config{LogDir: filepath.Join(dir, "log"), LogKey: skey}); !errors.Is(err, merkle.ErrLocked) {
		t.Errorf("a second writer while the first is open: %v, want ErrLocked", err)
	}
	failed, stop := l.Start(ctx, 0)
	stop()
	select {
	case err := <-failed:
		t.Errorf("a clean stop reported %v", err)
	default:
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	n, err := Open(ctx, Config{LogDir: filepath.Join(dir, "log"), LogKey: skey, NoIngest: true,
		Ingest: l.Ingest, Catalog: l.Catalog, LedgerSecret: secret, Store: cfg.Store})
	if err != nil {
		t.Fatalf("reopening after Close: %v", err)
	}
	defer n.Close()
	if err := n.Run(ctx); err == nil {
		t.Error("Run on a node opened without ingest succeeded")
	}
}
