// Package storetest is the conformance suite of [store.Store]: every
// implementation runs [Run] against a real backend.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// NewStore returns a new, empty store for one test, and a function that
// opens the same store again after the test closed it. It registers any
// cleanup (closing, dropping databases) with t.Cleanup.
type NewStore func(t *testing.T) (s store.Store, reopen func(t *testing.T) store.Store)

// Open opens the store of cfg with open (an implementation's Open) and
// closes it when the test ends. An error fails t.
func Open[C any, S store.Store](t testing.TB, open func(context.Context, C) (S, error), cfg C) S {
	t.Helper()
	s, err := open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore NewStore)
	}{
		{"RoundTripEveryType", testRoundTrip},
		{"IdempotentRewrite", testIdempotent},
		{"WatermarkAfterReopen", testReopen},
		{"BadBatchWritesNothing", testBadBatch},
		{"HistoryOrder", testHistoryOrder},
		{"UpsertsAndDeletes", testUpsertDelete},
		{"ListFilters", testListFilters},
		{"ListBySubject", testListSubject},
		{"PaginationUnderConcurrentInserts", testPaginationConcurrent},
		{"SubjectLookup", testSubject},
		{"GrantFold", testGrants},
		{"AccessEvents", testAccess},
		{"EntriesIndex", testEntries},
		{"Erase", testErase},
		{"Disclosures", testDisclosures},
		{"ConcurrentReadersDuringWrites", testConcurrentReaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

var t0 = time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)

// change builds a record.change entry.
func change(leaf uint64, dept string, seq uint64, typ string, key []string, op schema.Op, vals []store.Value, subjects ...string) store.Entry {
	return store.Entry{
		Leaf: leaf, Department: dept, Seq: seq, Kind: schema.KindRecordChange,
		Digest: fmt.Sprintf("digest-%d", leaf), Time: t0.Add(time.Duration(leaf) * time.Second),
		Change: &store.Change{Type: typ, SchemaVersion: 1, Record: "ref-" + typ + "-" + store.EncodeKey(key), Op: op,
			Key: key, Values: vals, Subjects: subjects},
	}
}

// disclose returns v with an encoded disclosure of its value, made the
// way the projector receives them (a fixed salt per name and text keeps
// the suite deterministic).
func disclose(v store.Value) store.Value {
	var value any = v.Text
	switch v.Type {
	case schema.TypeInt:
		n, err := strconv.ParseInt(v.Text, 10, 64)
		if err != nil {
			panic(err)
		}
		value = n
	case schema.TypeBool:
		value = v.Text == "true"
	}
	sum := sha256.Sum256([]byte(v.Name + "\x00" + v.Text))
	d, err := schema.NewDisclosure(base64.RawURLEncoding.EncodeToString(sum[:schema.SaltSize]), v.Name, value)
	if err != nil {
		panic(err)
	}
	v.Disclosure = d.Encoded
	return v
}

func sv(name, text string) store.Value {
	return store.Value{Name: name, Type: schema.TypeString, Text: text}
}
func iv(name string, n int) store.Value {
	return store.Value{Name: name, Type: schema.TypeInt, Text: fmt.Sprint(n)}
}

func write(t *testing.T, s store.Store, batch ...store.Entry) {
	t.Helper()
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func current(t *testing.T, s store.Store, dept, typ string, key ...string) store.Record {
	t.Helper()
	r, err := s.Current(context.Background(), dept, typ, key)
	if err != nil {
		t.Fatalf("Current(%s, %s, %v): %v", dept, typ, key, err)
	}
	return r
}

func mustNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: got %v, want ErrNotFound", what, err)
	}
}

func leaves(rs []store.Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Leaf
	}
	return out
}

func keys(rs []store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = store.EncodeKey(r.Key)
	}
	return out
}

func testRoundTrip(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	vals := []store.Value{
		{Name: "name", Type: schema.TypeString, Text: "张伟"},
		{Name: "note", Type: schema.TypeString, Text: "line1\nline2\t\"quoted\" \\ 'single' 🙂 ​"},
		{Name: "empty", Type: schema.TypeString, Text: ""},
		{Name: "age", Type: schema.TypeInt, Text: "-9007199254740991"},
		{Name: "big", Type: schema.TypeInt, Text: "9007199254740991"},
		{Name: "area", Type: schema.TypeDecimal, Text: "12345678901234567890.000000000000000001"},
		{Name: "tax", Type: schema.TypeDecimal, Text: "-0.05"},
		{Name: "birth", Type: schema.TypeDate, Text: "1985-02-28"},
		{Name: "at", Type: schema.TypeDateTime, Text: "2024-12-31T23:59:59Z"},
		{Name: "married", Type: schema.TypeBool, Text: "false"},
		{Name: "status", Type: schema.TypeEnum, Text: "已婚"},
		{Name: "citizen", Type: schema.TypeCitizenID, Text: "11010819850228003X"},
		{Name: "company", Type: schema.TypeCreditCode, Text: "91110108MA01ABCDEN"},
	}
	// Every value carries its disclosure but one, which must come back
	// without.
	for i := range vals {
		if vals[i].Name != "tax" {
			vals[i] = disclose(vals[i])
		}
	}
	key := []string{"11010819850228003X", "张伟"}
	write(t, s, change(0, "civil", 1, "citizen", key, schema.OpUpsert, vals, "tag-a"))
	got := current(t, s, "civil", "citizen", key...)
	if !reflect.DeepEqual(got.Values, vals) {
		t.Errorf("values:\n got %q\nwant %q", got.Values, vals)
	}
	want := store.Record{Department: "civil", Type: "citizen", Key: key, Ref: "ref-citizen-" + store.EncodeKey(key),
		Leaf: 0, Seq: 1, SchemaVersion: 1, Op: schema.OpUpsert, Time: t0, Digest: "digest-0", Values: vals, Subjects: []string{"tag-a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Current:\n got %+v\nwant %+v", got, want)
	}
	h, err := s.History(ctx, "civil", "citizen", key)
	if err != nil || len(h) != 1 || !reflect.DeepEqual(h[0], want) {
		t.Errorf("History = %+v, %v; want [%+v]", h, err, want)
	}
	k, err := s.ResolveRef(ctx, "civil", "citizen", want.Ref)
	if err != nil || !slices.Equal(k, key) {
		t.Errorf("ResolveRef = %q, %v; want %q", k, err, key)
	}
	p, err := s.List(ctx, "civil", "citizen", store.ListQuery{})
	if err != nil || len(p.Records) != 1 || !reflect.DeepEqual(p.Records[0], want) {
		t.Errorf("List = %+v, %v; want [%+v]", p.Records, err, want)
	}
	bs, err := s.BySubject(ctx, "civil", "tag-a")
	if err != nil || len(bs) != 1 || !reflect.DeepEqual(bs[0], want) {
		t.Errorf("BySubject = %+v, %v; want [%+v]", bs, err, want)
	}
	_, err = s.ResolveRef(ctx, "civil", "citizen", "no-such-ref")
	mustNotFound(t, err, "ResolveRef(unknown)")
	_, err = s.Current(ctx, "civil", "citizen", []string{"nobody"})
	mustNotFound(t, err, "Current(unknown key)")
	_, err = s.Current(ctx, "nodept", "citizen", key)
	mustNotFound(t, err, "Current(unknown department)")
	_, err = s.History(ctx, "nodept", "citizen", key)
	mustNotFound(t, err, "History(unknown department)")
	p, err = s.List(ctx, "nodept", "citizen", store.ListQuery{})
	if err != nil || len(p.Records) != 0 {
		t.Errorf("List(unknown department) = %v, %v; want empty", p, err)
	}
}

func testIdempotent(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	b1 := []store.Entry{
		change(0, "civil", 1, "citizen", []string{"a"}, schema.OpUpsert, []store.Value{sv("name", "v0")}, "t1"),
		change(1, "civil", 2, "citizen", []string{"a"}, schema.OpUpsert, []store.Value{sv("name", "v1")}, "t1"),
	}
	b2 := []store.Entry{
		change(2, "civil", 3, "citizen", []string{"b"}, schema.OpUpsert, []store.Value{sv("name", "w")}),
		grantEntry(3, "civil", 4, "tax", "audit", "citizen", []string{"name"}, ""),
	}
	write(t, s, b1...)
	write(t, s, b2...)
	before := snapshot(t, s)
	// The same batches again, and an overlapping one.
	write(t, s, b1...)
	write(t, s, append(slices.Clone(b2), b1[1])...)
	write(t, s, b2[0])
	after := snapshot(t, s)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("rewrite changed the store:\nbefore %+v\nafter  %+v", before, after)
	}
	h, err := s.History(ctx, "civil", "citizen", []string{"a"})
	if err != nil || !slices.Equal(leaves(h), []uint64{0, 1}) {
		t.Errorf("History after rewrites = %v, %v; want leaves [0 1]", leaves(h), err)
	}
	if wm, _ := s.Watermark(ctx); wm.Size != 4 {
		t.Errorf("Watermark.Size = %d, want 4", wm.Size)
	}
	if err := s.Write(ctx, nil); err != nil {
		t.Errorf("Write(empty) = %v", err)
	}
}

// snapshot reads what the idempotency test compares.
func snapshot(t *testing.T, s store.Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	m := map[string]any{}
	for _, k := range []string{"a", "b"} {
		h, err := s.History(ctx, "civil", "citizen", []string{k})
		if err != nil {
			t.Fatal(err)
		}
		m["history "+k] = h
		m["current "+k] = current(t, s, "civil", "citizen", k)
	}
	p, err := s.List(ctx, "civil", "citizen", store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	m["list"] = p
	subj, err := s.BySubject(ctx, "civil", "t1")
	if err != nil {
		t.Fatal(err)
	}
	m["subject"] = subj
	perms, err := s.Permissions(ctx, store.GrantQuery{Consumer: "tax", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	m["perms"] = perms
	wm, err := s.Watermark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m["watermark"] = wm
	return m
}

func testReopen(t *testing.T, newStore NewStore) {
	s, reopen := newStore(t)
	ctx := context.Background()
	if wm, err := s.Watermark(ctx); err != nil || wm.Size != 0 || len(wm.Departments) != 0 {
		t.Fatalf("empty store Watermark = %+v, %v", wm, err)
	}
	write(t, s,
		change(0, "civil", 7, "citizen", []string{"a"}, schema.OpUpsert, []store.Value{sv("name", "x")}),
		change(1, "estate", 3, "title", []string{"t"}, schema.OpUpsert, []store.Value{sv("owner", "x")}),
		change(2, "civil", 8, "citizen", []string{"b"}, schema.OpUpsert, []store.Value{sv("name", "y")}),
	)
	write(t, s, store.Entry{Leaf: 3, Department: "gateway", Seq: 1, Kind: schema.KindAccess, Digest: "d3", Time: t0,
		Access: &schema.Access{Consumer: "estate", User: "u", Purpose: "p"}})
	want := store.Watermark{Size: 4, Departments: map[string]store.DepartmentMark{
		"civil": {Size: 3, Seq: 8}, "estate": {Size: 2, Seq: 3}, "gateway": {Size: 4, Seq: 1}}}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Watermark(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watermark after Close = %v, want ErrClosed", err)
	}
	s2 := reopen(t)
	wm, err := s2.Watermark(ctx)
	if err != nil || !reflect.DeepEqual(wm, want) {
		t.Errorf("Watermark after reopen = %+v, %v; want %+v", wm, err, want)
	}
	if r := current(t, s2, "civil", "citizen", "b"); r.Leaf != 2 {
		t.Errorf("Current after reopen: leaf %d, want 2", r.Leaf)
	}
	write(t, s2, change(4, "civil", 9, "citizen", []string{"c"}, schema.OpUpsert, []store.Value{sv("name", "z")}))
	if wm, _ := s2.Watermark(ctx); wm.Size != 5 || wm.Departments["civil"] != (store.DepartmentMark{Size: 5, Seq: 9}) {
		t.Errorf("Watermark after more writes = %+v", wm)
	}
}

func testBadBatch(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	good := func(leaf uint64) store.Entry {
		return change(leaf, "civil", leaf+1, "citizen", []string{fmt.Sprint(leaf)}, schema.OpUpsert, []store.Value{sv("name", "x")})
	}
	tests := []struct {
		name  string
		bad   func(e *store.Entry)
		field string
	}{
		{"bad date", func(e *store.Entry) {
			e.Change.Values = append(e.Change.Values, store.Value{Name: "birth", Type: schema.TypeDate, Text: "1985-2-28"})
		}, `change.values[1] "birth"`},
		{"non-canonical int", func(e *store.Entry) {
			e.Change.Values[0] = store.Value{Name: "n", Type: schema.TypeInt, Text: "007"}
		}, `change.values[0] "n"`},
		{"decimal trailing zero", func(e *store.Entry) {
			e.Change.Values[0] = store.Value{Name: "d", Type: schema.TypeDecimal, Text: "1.50"}
		}, `change.values[0] "d"`},
		{"unknown type", func(e *store.Entry) { e.Change.Values[0].Type = "float" }, `change.values[0] "name"`},
		{"zero seq", func(e *store.Entry) { e.Seq = 0 }, "seq"},
		{"bad department", func(e *store.Entry) { e.Department = "Civil Affairs" }, "department"},
		{"empty key", func(e *store.Entry) { e.Change.Key = nil }, "change.key"},
		{"delete with values", func(e *store.Entry) { e.Change.Op = schema.OpDelete }, "change.values"},
		{"kind mismatch", func(e *store.Entry) { e.Kind = schema.KindGrant }, "kind"},
		{"duplicate leaf", func(e *store.Entry) { e.Leaf = 10 }, "leaf"},
		{"bad citizen id", func(e *store.Entry) {
			e.Change.Values[0] = store.Value{Name: "c", Type: schema.TypeCitizenID, Text: "1101"}
		}, `change.values[0] "c"`},
		{"padded disclosure", func(e *store.Entry) {
			e.Change.Values[0] = disclose(e.Change.Values[0])
			e.Change.Values[0].Disclosure += "=="
		}, `change.values[0] "name"`},
		{"disclosure not base64url", func(e *store.Entry) {
			e.Change.Values[0].Disclosure = "WyJ zYWx0Il0"
		}, `change.values[0] "name"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			batch := []store.Entry{good(10), good(11), good(12)}
			tc.bad(&batch[2])
			err := s.Write(ctx, batch)
			var be *store.BatchError
			if !errors.As(err, &be) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Write = %v, want a *BatchError", err)
			}
			if be.Row != 2 || be.Field != tc.field {
				t.Errorf("BatchError row %d field %q (%v), want row 2 field %q", be.Row, be.Field, err, tc.field)
			}
			for _, leaf := range []uint64{10, 11} {
				_, err := s.Entry(ctx, leaf)
				mustNotFound(t, err, fmt.Sprintf("Entry(%d) after refused batch", leaf))
			}
			_, err = s.Current(ctx, "civil", "citizen", []string{"10"})
			mustNotFound(t, err, "Current after refused batch")
			if wm, err := s.Watermark(ctx); err != nil || wm.Size != 0 {
				t.Errorf("Watermark after refused batch = %+v, %v", wm, err)
			}
		})
	}
}

func testHistoryOrder(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	key := []string{"k"}
	v := func(leaf uint64) store.Entry {
		return change(leaf, "civil", leaf+1, "citizen", key, schema.OpUpsert, []store.Value{iv("n", int(leaf))})
	}
	// Written out of log order: current is still the highest leaf.
	write(t, s, v(5), v(2))
	write(t, s, v(9))
	write(t, s, v(1), v(7))
	h, err := s.History(ctx, "civil", "citizen", key)
	if err != nil || !slices.Equal(leaves(h), []uint64{1, 2, 5, 7, 9}) {
		t.Fatalf("History = %v, %v; want leaves [1 2 5 7 9]", leaves(h), err)
	}
	for _, r := range h {
		if got, _ := r.Value("n"); got.Text != fmt.Sprint(r.Leaf) {
			t.Errorf("version at leaf %d has n=%q", r.Leaf, got.Text)
		}
	}
	if r := current(t, s, "civil", "citizen", key...); r.Leaf != 9 {
		t.Errorf("Current leaf = %d, want 9", r.Leaf)
	}
}

func testUpsertDelete(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	key := []string{"k"}
	write(t, s, change(0, "civil", 1, "citizen", key, schema.OpUpsert, []store.Value{sv("name", "a")}, "tag"))
	write(t, s, change(1, "civil", 2, "citizen", key, schema.OpUpsert, []store.Value{sv("name", "b")}, "tag"))
	if r := current(t, s, "civil", "citizen", key...); r.Leaf != 1 || r.Values[0].Text != "b" {
		t.Errorf("Current after 2 upserts = %+v", r)
	}
	write(t, s, change(2, "civil", 3, "citizen", key, schema.OpDelete, nil, "tag"))
	_, err := s.Current(ctx, "civil", "citizen", key)
	mustNotFound(t, err, "Current after delete")
	if p, _ := s.List(ctx, "civil", "citizen", store.ListQuery{}); len(p.Records) != 0 {
		t.Errorf("List after delete = %v", keys(p.Records))
	}
	if rs, _ := s.BySubject(ctx, "civil", "tag"); len(rs) != 0 {
		t.Errorf("BySubject after delete = %v", keys(rs))
	}
	h, err := s.History(ctx, "civil", "citizen", key)
	if err != nil || len(h) != 3 || h[2].Op != schema.OpDelete || len(h[2].Values) != 0 {
		t.Errorf("History after delete = %+v, %v", h, err)
	}
	if k, err := s.ResolveRef(ctx, "civil", "citizen", h[0].Ref); err != nil || !slices.Equal(k, key) {
		t.Errorf("ResolveRef of deleted record = %v, %v", k, err)
	}
	write(t, s, change(3, "civil", 4, "citizen", key, schema.OpUpsert, []store.Value{sv("name", "c")}))
	if r := current(t, s, "civil", "citizen", key...); r.Leaf != 3 {
		t.Errorf("Current after re-upsert: leaf %d", r.Leaf)
	}
}

func testListFilters(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	type row struct {
		key, district, born, area string
		n                         int
	}
	rows := []row{
		{"r01", "海淀", "1980-01-01", "-12.5", -100},
		{"r02", "海淀区", "1985-06-15", "0", 3},
		{"r03", "朝阳", "1990-12-31", "0.001", 20},
		{"r04", "海淀", "2000-02-29", "100", 100},
		{"r05", "西城", "1979-12-31", "99.999", -3},
		{"r06", "海淀", "1985-06-16", "1000000000000000000000.5", 0},
		{"r07", "Haidian", "1985-06-14", "-0.5", 9},
	}
	var batch []store.Entry
	for i, r := range rows {
		batch = append(batch, change(uint64(i), "estate", uint64(i+1), "title", []string{r.key}, schema.OpUpsert, []store.Value{
			sv("district", r.district),
			{Name: "born", Type: schema.TypeDate, Text: r.born},
			{Name: "area", Type: schema.TypeDecimal, Text: r.area},
			iv("n", r.n),
		}))
	}
	write(t, s, batch...)
	// r04 moves out of 海淀: its old version must not match any more.
	write(t, s, change(100, "estate", 100, "title", []string{"r04"}, schema.OpUpsert, []store.Value{
		sv("district", "朝阳"), {Name: "born", Type: schema.TypeDate, Text: "2000-02-29"},
		{Name: "area", Type: schema.TypeDecimal, Text: "100"}, iv("n", 100)}))
	tests := []struct {
		name    string
		filters []store.Filter
		want    []string
	}{
		{"none", nil, []string{"r01", "r02", "r03", "r04", "r05", "r06", "r07"}},
		{"equal", []store.Filter{{Field: "district", Op: store.Equal, Value: "海淀"}}, []string{"r01", "r06"}},
		{"prefix", []store.Filter{{Field: "district", Op: store.Prefix, Value: "海淀"}}, []string{"r01", "r02", "r06"}},
		{"date range", []store.Filter{{Field: "born", Op: store.Range, Type: schema.TypeDate, Min: "1985-06-14", Max: "1985-06-15"}}, []string{"r02", "r07"}},
		{"date open max", []store.Filter{{Field: "born", Op: store.Range, Type: schema.TypeDate, Min: "1990-01-01"}}, []string{"r03", "r04"}},
		{"int range with negatives", []store.Filter{{Field: "n", Op: store.Range, Type: schema.TypeInt, Min: "-100", Max: "3"}}, []string{"r01", "r02", "r05", "r06"}},
		{"int range above", []store.Filter{{Field: "n", Op: store.Range, Type: schema.TypeInt, Min: "10"}}, []string{"r03", "r04"}},
		{"decimal range", []store.Filter{{Field: "area", Op: store.Range, Type: schema.TypeDecimal, Min: "-1", Max: "99.999"}}, []string{"r02", "r03", "r05", "r07"}},
		{"decimal huge", []store.Filter{{Field: "area", Op: store.Range, Type: schema.TypeDecimal, Min: "100.0001"}}, []string{"r06"}},
		{"decimal negative max", []store.Filter{{Field: "area", Op: store.Range, Type: schema.TypeDecimal, Max: "-0.5"}}, []string{"r01", "r07"}},
		{"two filters", []store.Filter{
			{Field: "district", Op: store.Prefix, Value: "海淀"},
			{Field: "born", Op: store.Range, Type: schema.TypeDate, Max: "1985-06-15"}}, []string{"r01", "r02"}},
		{"missing field", []store.Filter{{Field: "nope", Op: store.Equal, Value: "x"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Walk in pages of 2 to exercise the cursor too.
			var got []string
			q := store.ListQuery{Filters: tc.filters, Limit: 2}
			for range 10 {
				p, err := s.List(ctx, "estate", "title", q)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				for _, r := range p.Records {
					got = append(got, r.Key[0])
				}
				if p.Next == "" {
					break
				}
				q.After = p.Next
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List = %v, want %v", got, tc.want)
			}
		})
	}
	for _, bad := range []store.ListQuery{
		{Limit: -1}, {Limit: store.MaxPageSize + 1}, {After: "%%%"},
		{Filters: []store.Filter{{Field: "n", Op: store.Range, Type: schema.TypeInt, Min: "x"}}},
		{Filters: []store.Filter{{Field: "n", Op: 99}}},
	} {
		if _, err := s.List(ctx, "estate", "title", bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// testListSubject: ListQuery.Subject restricts the rows before paging,
// follows the current version (a subject dropped by a later version no
// longer matches), and combines with filters.
func testListSubject(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	var batch []store.Entry
	for i := range 9 {
		subj := []string{"tag-b"}
		if i%3 == 0 {
			subj = []string{"tag-a", "tag-b"}
		}
		batch = append(batch, change(uint64(i), "estate", uint64(i+1), "title", []string{fmt.Sprintf("t%02d", i)}, schema.OpUpsert,
			[]store.Value{iv("n", i)}, subj...))
	}
	// Another type of the same department about tag-a: not listed.
	batch = append(batch, change(9, "estate", 10, "lease", []string{"t00"}, schema.OpUpsert, []store.Value{iv("n", 0)}, "tag-a"))
	write(t, s, batch...)
	// t03 passes to tag-b alone; t06 is deleted.
	write(t, s, change(10, "estate", 11, "title", []string{"t03"}, schema.OpUpsert, []store.Value{iv("n", 3)}, "tag-b"),
		change(11, "estate", 12, "title", []string{"t06"}, schema.OpDelete, nil))
	walk := func(q store.ListQuery) []string {
		t.Helper()
		var got []string
		for range 20 {
			p, err := s.List(ctx, "estate", "title", q)
			if err != nil {
				t.Fatalf("List(%+v): %v", q, err)
			}
			for _, r := range p.Records {
				if q.Subject != "" && !slices.Contains(r.Subjects, q.Subject) {
					t.Errorf("List(subject %s) returned %v with subjects %v", q.Subject, r.Key, r.Subjects)
				}
				got = append(got, r.Key[0])
			}
			if p.Next == "" {
				return got
			}
			q.After = p.Next
		}
		t.Fatalf("List(%+v) did not end", q)
		return nil
	}
	if got, want := walk(store.ListQuery{Subject: "tag-a", Limit: 1}), []string{"t00"}; !slices.Equal(got, want) {
		t.Errorf("List(tag-a) = %v, want %v", got, want)
	}
	if got, want := walk(store.ListQuery{Subject: "tag-b", Limit: 2}), []string{"t00", "t01", "t02", "t03", "t04", "t05", "t07", "t08"}; !slices.Equal(got, want) {
		t.Errorf("List(tag-b) = %v, want %v", got, want)
	}
	if got := walk(store.ListQuery{Subject: "tag-none"}); len(got) != 0 {
		t.Errorf("List(tag-none) = %v, want nothing", got)
	}
	f := []store.Filter{{Field: "n", Op: store.Range, Type: schema.TypeInt, Min: "4"}}
	if got, want := walk(store.ListQuery{Subject: "tag-b", Filters: f, Limit: 1}), []string{"t04", "t05", "t07", "t08"}; !slices.Equal(got, want) {
		t.Errorf("List(tag-b, n ≥ 4) = %v, want %v", got, want)
	}
}

func testPaginationConcurrent(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	const initial = 300
	var batch []store.Entry
	for i := range initial {
		batch = append(batch, change(uint64(i), "civil", uint64(i+1), "citizen", []string{fmt.Sprintf("k%05d", i*2)}, schema.OpUpsert,
			[]store.Value{iv("n", i)}))
	}
	write(t, s, batch...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		leaf := uint64(initial)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// New keys between and around the existing ones, and new versions
			// of existing ones.
			b := []store.Entry{
				change(leaf, "civil", leaf+1, "citizen", []string{fmt.Sprintf("k%05d", (i*7)%(initial*2)|1)}, schema.OpUpsert, []store.Value{iv("n", i)}),
				change(leaf+1, "civil", leaf+2, "citizen", []string{fmt.Sprintf("k%05d", (i*2)%(initial*2))}, schema.OpUpsert, []store.Value{iv("n", -i)}),
			}
			leaf += 2
			if err := s.Write(ctx, b); err != nil {
				t.Errorf("concurrent Write: %v", err)
				return
			}
		}
	}()
	seen := map[string]int{}
	var order []string
	q := store.ListQuery{Limit: 17}
	for {
		p, err := s.List(ctx, "civil", "citizen", q)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, r := range p.Records {
			k := r.Key[0]
			seen[k]++
			order = append(order, k)
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	close(stop)
	wg.Wait()
	if !slices.IsSorted(order) {
		t.Errorf("pages are not in key order")
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("key %s listed %d times", k, n)
		}
	}
	for i := range initial {
		if k := fmt.Sprintf("k%05d", i*2); seen[k] != 1 {
			t.Errorf("key %s, present throughout, listed %d times", k, seen[k])
		}
	}
}

func testSubject(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	write(t, s,
		change(0, "civil", 1, "citizen", []string{"110"}, schema.OpUpsert, []store.Value{sv("name", "张伟")}, "tag-zw"),
		change(1, "civil", 2, "marriage", []string{"m1"}, schema.OpUpsert, []store.Value{sv("status", "married")}, "tag-zw", "tag-lf"),
		change(2, "civil", 3, "household", []string{"h1"}, schema.OpUpsert, []store.Value{sv("addr", "x")}, "tag-lf"),
		change(3, "civil", 4, "death", []string{"d1"}, schema.OpUpsert, []store.Value{sv("x", "y")}),
		change(4, "estate", 1, "title", []string{"t1"}, schema.OpUpsert, []store.Value{sv("x", "y")}, "tag-zw"),
		change(5, "civil", 5, "household", []string{"h2"}, schema.OpUpsert, []store.Value{sv("addr", "y")}, "tag-zw"),
	)
	type tk struct{ typ, key string }
	lookup := func(dept, tag string) []tk {
		t.Helper()
		rs, err := s.BySubject(ctx, dept, tag)
		if err != nil {
			t.Fatalf("BySubject: %v", err)
		}
		var out []tk
		for _, r := range rs {
			if r.Department != dept || len(r.Values) == 0 {
				t.Errorf("BySubject returned %+v", r)
			}
			out = append(out, tk{r.Type, r.Key[0]})
		}
		return out
	}
	if got, want := lookup("civil", "tag-zw"), []tk{{"citizen", "110"}, {"household", "h2"}, {"marriage", "m1"}}; !slices.Equal(got, want) {
		t.Errorf("BySubject(civil, zw) = %v, want %v", got, want)
	}
	if got, want := lookup("estate", "tag-zw"), []tk{{"title", "t1"}}; !slices.Equal(got, want) {
		t.Errorf("BySubject(estate, zw) = %v, want %v", got, want)
	}
	// The marriage now names someone else; the household is deleted.
	write(t, s,
		change(6, "civil", 6, "marriage", []string{"m1"}, schema.OpUpsert, []store.Value{sv("status", "divorced")}, "tag-lf"),
		change(7, "civil", 7, "household", []string{"h2"}, schema.OpDelete, nil),
	)
	if got, want := lookup("civil", "tag-zw"), []tk{{"citizen", "110"}}; !slices.Equal(got, want) {
		t.Errorf("BySubject(civil, zw) after changes = %v, want %v", got, want)
	}
	if got, want := lookup("civil", "tag-lf"), []tk{{"household", "h1"}, {"marriage", "m1"}}; !slices.Equal(got, want) {
		t.Errorf("BySubject(civil, lf) = %v, want %v", got, want)
	}
	if got := lookup("civil", "tag-nobody"); len(got) != 0 {
		t.Errorf("BySubject(nobody) = %v", got)
	}
	if got := lookup("nodept", "tag-zw"); len(got) != 0 {
		t.Errorf("BySubject(unknown dept) = %v", got)
	}
}

func grantEntry(leaf uint64, owner string, seq uint64, consumer, purpose, typ string, fields []string, expires string) store.Entry {
	return store.Entry{Leaf: leaf, Department: owner, Seq: seq, Kind: schema.KindGrant, Digest: fmt.Sprint("g", leaf), Time: t0,
		Grant: &schema.Grant{Consumer: consumer, Purpose: purpose, Type: typ, Fields: fields, Expires: expires}}
}

func revokeEntry(leaf uint64, owner string, seq uint64, consumer, purpose, typ string, fields []string) store.Entry {
	return store.Entry{Leaf: leaf, Department: owner, Seq: seq, Kind: schema.KindRevoke, Digest: fmt.Sprint("r", leaf), Time: t0,
		Revoke: &schema.Revoke{Consumer: consumer, Purpose: purpose, Type: typ, Fields: fields}}
}

func testGrants(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	exp := "2024-06-01T00:00:00Z"
	write(t, s,
		grantEntry(0, "civil", 1, "estate", "transfer", "citizen", []string{"birth", "name"}, ""),
		grantEntry(1, "civil", 2, "estate", "transfer", "marriage", []string{"status"}, exp),
		grantEntry(2, "civil", 3, "tax", "transfer", "citizen", []string{"name"}, ""),
		revokeEntry(3, "civil", 4, "estate", "transfer", "citizen", []string{"birth"}),
		grantEntry(4, "police", 1, "estate", "transfer", "record", []string{"x"}, ""),
		revokeEntry(5, "police", 2, "estate", "transfer", "record", nil),
		grantEntry(6, "civil", 5, "estate", "loan", "citizen", []string{"name"}, ""),
	)
	perms := func(q store.GrantQuery) []string {
		t.Helper()
		ps, err := s.Permissions(ctx, q)
		if err != nil {
			t.Fatalf("Permissions: %v", err)
		}
		var out []string
		for _, p := range ps {
			e := "-"
			if !p.Expires.IsZero() {
				e = p.Expires.Format(time.RFC3339)
			}
			out = append(out, fmt.Sprintf("%s>%s/%s/%s%v@%d:%s", p.Owner, p.Consumer, p.Purpose, p.Type, p.Fields, p.Leaf, e))
		}
		return out
	}
	before := time.Date(2024, 5, 31, 23, 59, 59, 0, time.UTC)
	at := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		q    store.GrantQuery
		want []string
	}{
		{"before expiry", store.GrantQuery{Consumer: "estate", Purpose: "transfer", Now: before}, []string{
			"civil>estate/transfer/citizen[name]@0:-", "civil>estate/transfer/marriage[status]@1:2024-06-01T00:00:00Z"}},
		{"at expiry", store.GrantQuery{Consumer: "estate", Purpose: "transfer", Now: at}, []string{"civil>estate/transfer/citizen[name]@0:-"}},
		{"other purpose", store.GrantQuery{Consumer: "estate", Purpose: "loan", Now: at}, []string{"civil>estate/loan/citizen[name]@6:-"}},
		{"by consumer", store.GrantQuery{Consumer: "tax", Now: at}, []string{"civil>tax/transfer/citizen[name]@2:-"}},
		{"by owner and type", store.GrantQuery{Owner: "civil", Type: "citizen", Now: at}, []string{
			"civil>estate/loan/citizen[name]@6:-", "civil>estate/transfer/citizen[name]@0:-", "civil>tax/transfer/citizen[name]@2:-"}},
		{"revoked all", store.GrantQuery{Owner: "police", Now: at}, nil},
	}
	for _, tc := range tests {
		if got := perms(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Permissions = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Re-grant after revoke, and extend a grant past its expiry.
	write(t, s,
		grantEntry(7, "civil", 6, "estate", "transfer", "citizen", []string{"birth"}, ""),
		grantEntry(8, "police", 3, "estate", "transfer", "record", []string{"x", "y"}, ""),
		grantEntry(9, "civil", 7, "estate", "transfer", "marriage", []string{"status"}, "2025-01-01T00:00:00Z"),
	)
	want := []string{"civil>estate/transfer/citizen[name]@0:-", "civil>estate/transfer/citizen[birth]@7:-",
		"civil>estate/transfer/marriage[status]@9:2025-01-01T00:00:00Z", "police>estate/transfer/record[x y]@8:-"}
	if got := perms(store.GrantQuery{Consumer: "estate", Purpose: "transfer", Now: at}); !slices.Equal(got, want) {
		t.Errorf("after re-grant: Permissions = %v, want %v", got, want)
	}
	if _, err := s.Permissions(ctx, store.GrantQuery{Consumer: "estate"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Permissions without Now = %v, want ErrInvalid", err)
	}
}

func testAccess(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	acc := func(leaf uint64, consumer string, at time.Time, subjects ...string) store.Entry {
		return store.Entry{Leaf: leaf, Department: "gateway", Seq: leaf + 1, Kind: schema.KindAccess, Digest: fmt.Sprint("a", leaf), Time: at,
			Access: &schema.Access{Consumer: consumer, User: "李娜", Purpose: "transfer", CaseRef: "case-" + fmt.Sprint(leaf), Subjects: subjects,
				Disclosed: []schema.AccessItem{{Leaf: 3, Fields: []string{"name"}}},
				Denied:    []schema.AccessDenial{{Department: "tax", Type: "credit", Reason: "no-grant"}}, Query: "q"}}
	}
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	write(t, s,
		acc(0, "estate", h(0), "zw"),
		acc(1, "estate", h(1), "lf"),
		acc(2, "tax", h(2), "zw", "lf"),
		acc(3, "estate", h(3)),
		acc(4, "tax", h(4), "zw"),
	)
	tests := []struct {
		name string
		q    store.AccessQuery
		want []uint64
	}{
		{"all", store.AccessQuery{}, []uint64{0, 1, 2, 3, 4}},
		{"by subject", store.AccessQuery{Subject: "zw"}, []uint64{0, 2, 4}},
		{"by consumer", store.AccessQuery{Consumer: "estate"}, []uint64{0, 1, 3}},
		{"time range", store.AccessQuery{From: h(1), To: h(3)}, []uint64{1, 2}},
		{"combined", store.AccessQuery{Subject: "lf", Consumer: "tax", From: h(2)}, []uint64{2}},
		{"page", store.AccessQuery{FromLeaf: 2, Limit: 2}, []uint64{2, 3}},
		{"no match", store.AccessQuery{Subject: "nobody"}, nil},
	}
	for _, tc := range tests {
		evs, err := s.Accesses(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: Accesses: %v", tc.name, err)
		}
		var got []uint64
		for _, ev := range evs {
			got = append(got, ev.Leaf)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Accesses = %v, want %v", tc.name, got, tc.want)
		}
	}
	evs, err := s.Accesses(ctx, store.AccessQuery{FromLeaf: 2, Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("Accesses = %v, %v", evs, err)
	}
	want := acc(2, "tax", h(2), "zw", "lf")
	if got := evs[0]; got.Department != "gateway" || got.Seq != 3 || !got.Time.Equal(h(2)) || !reflect.DeepEqual(got.Access, *want.Access) {
		t.Errorf("access event = %+v, want %+v", got, *want.Access)
	}
}

func testEntries(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	write(t, s,
		change(0, "civil", 1, "citizen", []string{"a"}, schema.OpUpsert, []store.Value{sv("n", "x")}),
		store.Entry{Leaf: 1, Department: "civil", Seq: 2, Kind: schema.KindDepartmentKey, Digest: "dk", Time: t0},
		store.Entry{Leaf: 2, Department: "civil", Seq: 3, Kind: schema.KindSchema, Digest: "ds", Time: t0.Add(time.Minute)},
		grantEntry(3, "estate", 1, "civil", "p", "title", []string{"x"}, ""),
	)
	want := store.EntryRef{Leaf: 2, Department: "civil", Seq: 3, Kind: schema.KindSchema, Digest: "ds", Time: t0.Add(time.Minute)}
	if got, err := s.Entry(ctx, 2); err != nil || got != want {
		t.Errorf("Entry(2) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.EntryBySeq(ctx, "civil", 3); err != nil || got != want {
		t.Errorf("EntryBySeq(civil, 3) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.EntryBySeq(ctx, "estate", 1); err != nil || got.Leaf != 3 || got.Kind != schema.KindGrant {
		t.Errorf("EntryBySeq(estate, 1) = %+v, %v", got, err)
	}
	_, err := s.Entry(ctx, 99)
	mustNotFound(t, err, "Entry(99)")
	_, err = s.EntryBySeq(ctx, "civil", 99)
	mustNotFound(t, err, "EntryBySeq(civil, 99)")
}

func testErase(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	key := []string{"110"}
	b := []store.Entry{
		change(0, "civil", 1, "citizen", key, schema.OpUpsert, []store.Value{sv("name", "张伟")}, "zw"),
		change(1, "civil", 2, "citizen", key, schema.OpUpsert, []store.Value{sv("name", "张伟伟")}, "zw"),
		change(2, "civil", 3, "citizen", []string{"other"}, schema.OpUpsert, []store.Value{sv("name", "李娜")}, "lf"),
	}
	write(t, s, b...)
	n, err := s.Erase(ctx, "civil", "citizen", key)
	if err != nil || n != 2 {
		t.Fatalf("Erase = %d, %v; want 2", n, err)
	}
	check := func(when string) {
		t.Helper()
		r := current(t, s, "civil", "citizen", key...)
		if !r.Erased || len(r.Values) != 0 || len(r.Subjects) != 0 || r.Leaf != 1 || r.Digest != "digest-1" {
			t.Errorf("%s: Current = %+v, want erased leaf 1 without values", when, r)
		}
		h, err := s.History(ctx, "civil", "citizen", key)
		if err != nil || len(h) != 2 {
			t.Fatalf("%s: History = %v, %v", when, h, err)
		}
		for _, v := range h {
			if !v.Erased || len(v.Values) != 0 || v.Seq == 0 {
				t.Errorf("%s: history version %+v not erased", when, v)
			}
		}
		if rs, _ := s.BySubject(ctx, "civil", "zw"); len(rs) != 0 {
			t.Errorf("%s: BySubject finds erased record: %v", when, keys(rs))
		}
		p, _ := s.List(ctx, "civil", "citizen", store.ListQuery{Filters: []store.Filter{{Field: "name", Op: store.Prefix, Value: "张"}}})
		if len(p.Records) != 0 {
			t.Errorf("%s: List finds erased values: %v", when, keys(p.Records))
		}
		if e, err := s.Entry(ctx, 1); err != nil || e.Seq != 2 {
			t.Errorf("%s: Entry(1) = %+v, %v; index row must stay", when, e, err)
		}
		if r := current(t, s, "civil", "citizen", "other"); r.Erased || r.Values[0].Text != "李娜" {
			t.Errorf("%s: other record affected: %+v", when, r)
		}
	}
	check("after erase")
	// Re-projecting the same leaves must not bring the values back.
	write(t, s, b...)
	check("after re-projection")
	// A later version is a new disclosure and is kept.
	write(t, s, change(3, "civil", 4, "citizen", key, schema.OpUpsert, []store.Value{sv("name", "新")}, "zw"))
	if r := current(t, s, "civil", "citizen", key...); r.Erased || r.Leaf != 3 || r.Values[0].Text != "新" {
		t.Errorf("Current after new version = %+v", r)
	}
	if rs, _ := s.BySubject(ctx, "civil", "zw"); len(rs) != 1 {
		t.Errorf("BySubject after new version = %v", keys(rs))
	}
	_, err = s.Erase(ctx, "civil", "citizen", []string{"nobody"})
	mustNotFound(t, err, "Erase(unknown)")
}

// testDisclosures checks that every read returns each value's disclosure
// byte for byte (and "" for a value written without one), across versions,
// and that Erase removes them with the values.
func testDisclosures(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	key := []string{"11010819850228003X"}
	v0 := []store.Value{disclose(sv("name", "张伟")), disclose(iv("n", 1)), sv("note", "no disclosure")}
	v1 := []store.Value{disclose(sv("name", "张伟伟")), disclose(iv("n", 2)), disclose(sv("note", "now disclosed"))}
	other := []store.Value{disclose(sv("name", "李娜")), iv("n", 3)}
	// A disclosure need not decode for the store; it is kept as given.
	other = append(other, store.Value{Name: "raw", Type: schema.TypeString, Text: "x", Disclosure: "-_AZaz09"})
	write(t, s,
		change(0, "civil", 1, "citizen", key, schema.OpUpsert, v0, "zw"),
		change(1, "civil", 2, "citizen", []string{"other"}, schema.OpUpsert, other, "lf"),
	)
	write(t, s, change(2, "civil", 3, "citizen", key, schema.OpUpsert, v1, "zw"))
	same := func(what string, got, want []store.Value) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: values\n got %q\nwant %q", what, got, want)
		}
	}
	same("Current", current(t, s, "civil", "citizen", key...).Values, v1)
	same("Current(other)", current(t, s, "civil", "citizen", "other").Values, other)
	h, err := s.History(ctx, "civil", "citizen", key)
	if err != nil || len(h) != 2 {
		t.Fatalf("History = %+v, %v", h, err)
	}
	same("History[0]", h[0].Values, v0)
	same("History[1]", h[1].Values, v1)
	p, err := s.List(ctx, "civil", "citizen", store.ListQuery{Filters: []store.Filter{{Field: "n", Op: store.Range, Type: schema.TypeInt, Min: "2"}}})
	if err != nil || len(p.Records) != 2 {
		t.Fatalf("List = %+v, %v", p, err)
	}
	same("List[0]", p.Records[0].Values, v1)
	same("List[1]", p.Records[1].Values, other)
	rs, err := s.BySubject(ctx, "civil", "zw")
	if err != nil || len(rs) != 1 {
		t.Fatalf("BySubject = %+v, %v", rs, err)
	}
	same("BySubject", rs[0].Values, v1)

	if n, err := s.Erase(ctx, "civil", "citizen", key); err != nil || n != 2 {
		t.Fatalf("Erase = %d, %v; want 2", n, err)
	}
	noDisclosures := func(when string, rs ...store.Record) {
		t.Helper()
		for _, r := range rs {
			if len(r.Values) != 0 {
				t.Errorf("%s: erased version at leaf %d still has values (with disclosures) %q", when, r.Leaf, r.Values)
			}
		}
	}
	check := func(when string) {
		t.Helper()
		noDisclosures(when, current(t, s, "civil", "citizen", key...))
		h, err := s.History(ctx, "civil", "citizen", key)
		if err != nil || len(h) != 2 {
			t.Fatalf("%s: History = %+v, %v", when, h, err)
		}
		noDisclosures(when, h...)
		p, err := s.List(ctx, "civil", "citizen", store.ListQuery{})
		if err != nil {
			t.Fatalf("%s: List: %v", when, err)
		}
		for _, r := range p.Records {
			if r.Key[0] == key[0] {
				noDisclosures(when, r)
			} else {
				same(when+": List(other)", r.Values, other)
			}
		}
	}
	check("after erase")
	write(t, s, change(0, "civil", 1, "citizen", key, schema.OpUpsert, v0, "zw"),
		change(2, "civil", 3, "citizen", key, schema.OpUpsert, v1, "zw"))
	check("after re-projection")
	v3 := []store.Value{disclose(sv("name", "新")), disclose(iv("n", 4))}
	write(t, s, change(3, "civil", 4, "citizen", key, schema.OpUpsert, v3, "zw"))
	same("Current after new version", current(t, s, "civil", "citizen", key...).Values, v3)
}

func testConcurrentReaders(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := context.Background()
	const records, rounds = 50, 20
	// Every version of record k written at round r holds n=r and m=-r, so a
	// reader can check that it never sees a torn version.
	batchAt := func(r int) []store.Entry {
		var b []store.Entry
		for k := range records {
			leaf := uint64(r*records + k)
			b = append(b, change(leaf, "civil", leaf+1, "citizen", []string{fmt.Sprintf("k%03d", k)}, schema.OpUpsert,
				[]store.Value{iv("n", r), iv("m", -r)}, fmt.Sprintf("tag%d", k%5)))
		}
		return b
	}
	write(t, s, batchAt(0)...)
	var done atomic.Bool
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !done.Load(); i++ {
				var rs []store.Record
				switch i % 3 {
				case 0:
					r, err := s.Current(ctx, "civil", "citizen", []string{fmt.Sprintf("k%03d", (i+g)%records)})
					if err != nil {
						t.Errorf("Current during writes: %v", err)
						return
					}
					rs = []store.Record{r}
				case 1:
					p, err := s.List(ctx, "civil", "citizen", store.ListQuery{Limit: 20})
					if err != nil {
						t.Errorf("List during writes: %v", err)
						return
					}
					rs = p.Records
				case 2:
					var err error
					if rs, err = s.BySubject(ctx, "civil", fmt.Sprintf("tag%d", g)); err != nil {
						t.Errorf("BySubject during writes: %v", err)
						return
					}
				}
				for _, r := range rs {
					n, _ := r.Value("n")
					m, _ := r.Value("m")
					if "-"+n.Text != m.Text && !(n.Text == "0" && m.Text == "0") {
						t.Errorf("torn version: %+v", r)
						return
					}
				}
			}
		}()
	}
	for r := 1; r < rounds; r++ {
		write(t, s, batchAt(r)...)
	}
	done.Store(true)
	wg.Wait()
	for k := range records {
		if r := current(t, s, "civil", "citizen", fmt.Sprintf("k%03d", k)); r.Leaf != uint64((rounds-1)*records+k) {
			t.Errorf("k%03d: leaf %d", k, r.Leaf)
		}
	}
}
