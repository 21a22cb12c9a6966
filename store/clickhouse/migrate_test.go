package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crossledger/crossledger/ops/testenv"
	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// TestMigrateDisclosures takes a department database in the layout of
// migration 1 (no discs), with rows written the way a binary of that time
// wrote them, and checks that opening it migrates it in place: old values
// read back without disclosures, new ones with, inserts of the old shape
// (a writer not yet upgraded) still reach current, and running the
// migration again, or twice at once, is harmless.
func TestMigrateDisclosures(t *testing.T) {
	sv := Server{Addr: []string{testenv.ClickHouse(t)}}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "clmig_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := DropDatabases(context.Background(), sv, name); err != nil {
			t.Errorf("couldn't drop test databases: %v", err)
		}
	})
	conn, err := dial(ctx, sv)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// The ledger as today's Open makes it (its migrations did not change),
	// and civil's database at schema version 1, registered.
	ledger := &db{conn: conn, name: name}
	if err := migrate(ctx, ledger, ledgerMigrations); err != nil {
		t.Fatal(err)
	}
	old := &db{conn: conn, name: name + "_civil"}
	if err := migrate(ctx, old, deptMigrations[:2]); err != nil {
		t.Fatal(err)
	}
	if err := insert(ctx, conn, ledger.t("departments"), columns{"department, database", []any{[]string{"civil"}, []string{old.name}}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	v1Insert := func(leaf uint64, key, value string) {
		t.Helper()
		str := func(s ...string) [][]string { return [][]string{s} }
		if err := insert(ctx, conn, old.t("versions"), columns{recordColsV1, []any{
			[]string{"citizen"}, []string{store.EncodeKey([]string{key})}, []uint64{leaf}, []uint64{2 * leaf}, []uint64{leaf + 1},
			[]string{"ref-" + key}, []uint64{1}, []string{string(schema.OpUpsert)}, []time.Time{at}, []string{"d"}, []uint8{0},
			str("name"), str(string(schema.TypeString)), str(value), str(""), str("tag"),
		}}); err != nil {
			t.Fatalf("insert of the old shape: %v", err)
		}
	}
	v1Insert(0, "a", "张伟")

	// Today's store migrates civil on first use.
	s, err := Open(ctx, Config{Server: sv, Database: name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Current(ctx, "civil", "citizen", []string{"a"})
	if err != nil {
		t.Fatalf("Current after migration: %v", err)
	}
	if want := []store.Value{{Name: "name", Type: schema.TypeString, Text: "张伟"}}; !reflect.DeepEqual(r.Values, want) {
		t.Errorf("old version after migration: %q, want %q", r.Values, want)
	}
	var version uint64
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM `+old.t("schema_migrations")).Scan(&version); err != nil || version != 2 {
		t.Errorf("schema version %d (%v), want 2", version, err)
	}
	views := func() []string {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT name FROM system.tables WHERE database = ? AND engine = 'MaterializedView' ORDER BY name`, old.name)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	if got := views(); !slices.Equal(got, []string{"current_mv2", "subjects_mv"}) {
		t.Errorf("views after migration: %v", got)
	}

	// New versions carry disclosures through versions and current_mv2.
	d, err := schema.NewDisclosure("c2FsdHNhbHRzYWx0c2FsdA", "name", "张伟伟")
	if err != nil {
		t.Fatal(err)
	}
	v := store.Value{Name: "name", Type: schema.TypeString, Text: "张伟伟", Disclosure: d.Encoded}
	if err := s.Write(ctx, []store.Entry{{Leaf: 1, Department: "civil", Seq: 2, Kind: schema.KindRecordChange, Digest: "d1", Time: at,
		Change: &store.Change{Type: "citizen", SchemaVersion: 1, Record: "ref-a", Op: schema.OpUpsert, Key: []string{"a"},
			Values: []store.Value{v}, Subjects: []string{"tag"}}}}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "civil", "citizen", []string{"a"})
	if err != nil || len(h) != 2 || h[0].Values[0].Disclosure != "" || !reflect.DeepEqual(h[1].Values, []store.Value{v}) {
		t.Errorf("History after migration = %+v, %v", h, err)
	}
	if r, err := s.Current(ctx, "civil", "citizen", []string{"a"}); err != nil || !reflect.DeepEqual(r.Values, []store.Value{v}) {
		t.Errorf("Current = %+v, %v; want values %q", r, err, []store.Value{v})
	}

	// A writer still on the old binary inserts without discs: the row
	// reaches current, without disclosures.
	v1Insert(2, "b", "李娜")
	if r, err := s.Current(ctx, "civil", "citizen", []string{"b"}); err != nil || len(r.Values) != 1 || r.Values[0] != (store.Value{Name: "name", Type: schema.TypeString, Text: "李娜"}) {
		t.Errorf("Current of an old-shape insert after migration = %+v, %v", r, err)
	}
	rs, err := s.BySubject(ctx, "civil", "tag")
	if err != nil || len(rs) != 2 {
		t.Errorf("BySubject = %+v, %v", rs, err)
	}

	// Erase writes empty discs.
	if n, err := s.Erase(ctx, "civil", "citizen", []string{"a"}); err != nil || n != 2 {
		t.Fatalf("Erase = %d, %v", n, err)
	}
	var discs [][]string
	rows, err := conn.Query(ctx, `SELECT discs FROM `+old.t("current")+` WHERE key = ? ORDER BY ver DESC LIMIT 1`, store.EncodeKey([]string{"a"}))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d []string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		discs = append(discs, d)
	}
	rows.Close()
	if len(discs) != 1 || len(discs[0]) != 0 {
		t.Errorf("current discs after Erase: %q", discs)
	}

	// Migration 2 again, step by step, and twice at once on a fresh v1
	// database: nothing fails.
	for _, st := range deptMigrations[2] {
		if err := old.step(ctx, st); err != nil {
			t.Errorf("re-running %q: %v", st.stmt, err)
		}
	}
	twice := &db{conn: conn, name: name + "_twice"}
	if err := migrate(ctx, twice, deptMigrations[:2]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := migrate(ctx, twice, deptMigrations); err != nil {
				t.Errorf("concurrent migration: %v", err)
			}
		}()
	}
	wg.Wait()
}
