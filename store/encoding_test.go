package store

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/crossledger/crossledger/schema"
)

func TestDecimalOrderKey(t *testing.T) {
	vals := []string{"0", "1", "-1", "0.5", "-0.5", "10", "9.999", "-10", "-9.999", "0.001", "-0.001", "0.0011",
		"-0.0011", "100", "1.5", "-1.5", "123456789012345678901234567890.1", "-123456789012345678901234567890.1", "0.1", "0.01", "-0.01"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := big.NewRat(r.Int64N(2_000_001)-1_000_000, int64(1)<<r.IntN(12))
		vals = append(vals, canonicalRat(n))
	}
	type kv struct {
		rat *big.Rat
		key string
	}
	var kvs []kv
	for _, v := range vals {
		if !isCanonicalDecimal(v) {
			t.Fatalf("test value %q is not canonical", v)
		}
		rat, ok := new(big.Rat).SetString(v)
		if !ok {
			t.Fatalf("bad test value %q", v)
		}
		k, err := OrderKey(schema.TypeDecimal, v)
		if err != nil {
			t.Fatalf("OrderKey(%q): %v", v, err)
		}
		kvs = append(kvs, kv{rat, k})
	}
	for i := range kvs {
		for j := range kvs {
			if got, want := strings.Compare(kvs[i].key, kvs[j].key), kvs[i].rat.Cmp(kvs[j].rat); got != want {
				t.Fatalf("order of %s vs %s: keys compare %d, values %d (%q vs %q)",
					kvs[i].rat.FloatString(30), kvs[j].rat.FloatString(30), got, want, kvs[i].key, kvs[j].key)
			}
		}
	}
}

// canonicalRat formats a rational with a terminating decimal expansion
// canonically.
func canonicalRat(r *big.Rat) string {
	s := r.FloatString(20)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func TestIntOrderKey(t *testing.T) {
	ints := []string{"-9007199254740991", "-100", "-3", "-1", "0", "1", "2", "10", "100", "9007199254740991"}
	var keys []string
	for _, v := range ints {
		k, err := OrderKey(schema.TypeInt, v)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("int order keys not sorted: %q", keys)
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		typ  schema.FieldType
		text string
		ok   bool
	}{
		{schema.TypeString, "张伟", true},
		{schema.TypeString, "", true},
		{schema.TypeInt, "0", true},
		{schema.TypeInt, "-0", false},
		{schema.TypeInt, "+1", false},
		{schema.TypeInt, "9007199254740992", false},
		{schema.TypeDecimal, "0", true},
		{schema.TypeDecimal, "-0.5", true},
		{schema.TypeDecimal, "-0", false},
		{schema.TypeDecimal, "1.", false},
		{schema.TypeDecimal, ".5", false},
		{schema.TypeDecimal, "01", false},
		{schema.TypeDecimal, "1e5", false},
		{schema.TypeDate, "2024-02-29", true},
		{schema.TypeDate, "2023-02-29", false},
		{schema.TypeDateTime, "2024-01-01T00:00:00Z", true},
		{schema.TypeDateTime, "2024-01-01T00:00:00+08:00", false},
		{schema.TypeDateTime, "2024-01-01T00:00:00.5Z", false},
		{schema.TypeBool, "true", true},
		{schema.TypeBool, "True", false},
		{schema.TypeEnum, "", false},
		{schema.TypeCitizenID, "11010819850228003X", true},
		{schema.TypeCitizenID, "11010819850228001x", false},
		{schema.TypeCreditCode, "91110108MA01ABCDEN", true},
		{schema.TypeCreditCode, "91110108MA01ABCDEI", false},
		{"float", "1", false},
	}
	for _, tc := range tests {
		if err := checkText(tc.typ, tc.text); (err == nil) != tc.ok {
			t.Errorf("checkText(%s, %q) = %v, want ok=%v", tc.typ, tc.text, err, tc.ok)
		}
	}
}

func TestEncodeKeyRoundTrip(t *testing.T) {
	for _, k := range [][]string{{"a"}, {"张伟", "a\"b", "<&>"}, {"x\x00y"}} {
		got, err := DecodeKey(EncodeKey(k))
		if err != nil || !slices.Equal(got, k) {
			t.Errorf("DecodeKey(EncodeKey(%q)) = %q, %v", k, got, err)
		}
	}
}
