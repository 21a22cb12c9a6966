package storetest

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
	"github.com/crossledger/crossledger/store"
)

// BenchTypes are the six record types of the benchmark data set; record i
// has type BenchTypes[i%6] and names citizen i/6, so every citizen has one
// record of each type.
var BenchTypes = []string{"citizen", "marriage", "household", "title", "tax_credit", "power_account"}

var surnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
var givens = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英")

// BenchEntries returns n deterministic record.change entries for
// department dept, from leaf `from` on (seq = leaf+1): eight fields of
// mixed types, each with its encoded disclosure, Chinese names, one
// subject tag per record.
func BenchEntries(dept string, from, n uint64) []store.Entry {
	out := make([]store.Entry, 0, n)
	for i := from; i < from+n; i++ {
		r := rand.New(rand.NewPCG(i, 42))
		typ := BenchTypes[i%uint64(len(BenchTypes))]
		citizen := i / uint64(len(BenchTypes))
		birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(20000))
		cid17 := fmt.Sprintf("110108%s%03d", birth.Format("20060102"), citizen%1000)
		check, _ := schema.CitizenIDCheck(cid17)
		cid := cid17 + string(check)
		name := string([]rune{surnames[r.IntN(len(surnames))], givens[r.IntN(len(givens))], givens[r.IntN(len(givens))]})
		vals := []store.Value{
			{Name: "id", Type: schema.TypeString, Text: fmt.Sprintf("%s-%09d", typ, citizen)},
			{Name: "citizen_id", Type: schema.TypeCitizenID, Text: cid},
			{Name: "name", Type: schema.TypeString, Text: name},
			{Name: "district", Type: schema.TypeEnum, Text: []string{"海淀", "朝阳", "西城", "东城"}[r.IntN(4)]},
			{Name: "since", Type: schema.TypeDate, Text: time.Date(1980+r.IntN(44), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)},
			{Name: "amount", Type: schema.TypeDecimal, Text: fmt.Sprintf("%d.%d", r.IntN(1000000), 1+r.IntN(9))},
			{Name: "count", Type: schema.TypeInt, Text: fmt.Sprint(r.IntN(100))},
			{Name: "active", Type: schema.TypeBool, Text: fmt.Sprint(r.IntN(2) == 0)},
		}
		// Each value carries its disclosure, as the projector writes them
		// (about 60–110 bytes each).
		for j := range vals {
			vals[j].Disclosure = benchDisclosure(r, vals[j])
		}
		out = append(out, store.Entry{
			Leaf: i, Department: dept, Seq: i + 1, Kind: schema.KindRecordChange,
			Digest: fmt.Sprintf("%064x", i), Time: t0.Add(time.Duration(i) * time.Second),
			Change: &store.Change{Type: typ, SchemaVersion: 1, Record: fmt.Sprintf("ref%012d", i), Op: schema.OpUpsert,
				Key: []string{vals[0].Text}, Values: vals, Subjects: []string{BenchTag(citizen)}},
		})
	}
	return out
}

// benchDisclosure encodes v's disclosure with a salt drawn from r.
func benchDisclosure(r *rand.Rand, v store.Value) string {
	var value any = v.Text
	switch v.Type {
	case schema.TypeInt:
		n, _ := strconv.ParseInt(v.Text, 10, 64)
		value = n
	case schema.TypeBool:
		value = v.Text == "true"
	}
	salt := make([]byte, schema.SaltSize)
	for i := range salt {
		salt[i] = byte(r.Uint32())
	}
	d, err := schema.NewDisclosure(base64.RawURLEncoding.EncodeToString(salt), v.Name, value)
	if err != nil {
		panic(err)
	}
	return d.Encoded
}

// BenchTag is the subject tag of benchmark citizen c.
func BenchTag(c uint64) string { return fmt.Sprintf("tag%016x", c*0x9E3779B97F4A7C15) }

// BenchWrite measures Write throughput of batches of batchSize records
// into s, reporting records/s.
func BenchWrite(b *testing.B, s store.Store, batchSize int) {
	ctx := context.Background()
	wm, err := s.Watermark(ctx)
	if err != nil {
		b.Fatal(err)
	}
	next := wm.Size
	batches := make([][]store.Entry, b.N)
	for i := range batches {
		batches[i] = BenchEntries("bench", next, uint64(batchSize))
		next += uint64(batchSize)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := s.Write(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/time.Since(start).Seconds(), "records/s")
}

// BenchLookupsEnv gates the large lookup benchmark: it runs only when this
// environment variable holds the number of records (e.g. 1000000).
const BenchLookupsEnv = "CROSSLEDGER_BENCH_RECORDS"

// BenchLookups fills s with the number of records named by
// $CROSSLEDGER_BENCH_RECORDS (skipping the benchmark when unset; it keeps
// what an earlier run loaded), then measures point lookups of current
// records and subject lookups across the six types, reporting p50 and p99
// latencies in microseconds.
func BenchLookups(b *testing.B, s store.Store) {
	var n uint64
	if _, err := fmt.Sscan(os.Getenv(BenchLookupsEnv), &n); err != nil || n == 0 {
		b.Skipf("set %s to the number of records to run this benchmark", BenchLookupsEnv)
	}
	ctx := context.Background()
	wm, err := s.Watermark(ctx)
	if err != nil {
		b.Fatal(err)
	}
	load := time.Now()
	for from := wm.Size; from < n; from += 10000 {
		if err := s.Write(ctx, BenchEntries("bench", from, min(10000, n-from))); err != nil {
			b.Fatal(err)
		}
	}
	if wm.Size < n {
		b.Logf("loaded %d records in %v", n-wm.Size, time.Since(load))
	}
	citizens := n / uint64(len(BenchTypes))
	r := rand.New(rand.NewPCG(7, 7))
	measure := func(name string, fn func() error) {
		b.Run(name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				t := time.Now()
				if err := fn(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
	measure("Current", func() error {
		i := r.Uint64N(n)
		typ := BenchTypes[i%uint64(len(BenchTypes))]
		_, err := s.Current(ctx, "bench", typ, []string{fmt.Sprintf("%s-%09d", typ, i/uint64(len(BenchTypes)))})
		return err
	})
	measure("BySubject", func() error {
		c := r.Uint64N(citizens)
		rs, err := s.BySubject(ctx, "bench", BenchTag(c))
		if err == nil && len(rs) != len(BenchTypes) {
			err = fmt.Errorf("subject %d: %d records, want %d", c, len(rs), len(BenchTypes))
		}
		return err
	})
}
