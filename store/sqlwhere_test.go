package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/crossledger/crossledger/schema"
)

func TestWhereBuilders(t *testing.T) {
	if w := GrantWhere(GrantQuery{}); w.String() != "" || len(w.Args) != 0 {
		t.Errorf("empty grant query: %q %v", w, w.Args)
	}
	w := GrantWhere(GrantQuery{Owner: "tax", Type: "credit"})
	if w.String() != " AND owner = ? AND type = ?" || !reflect.DeepEqual(w.Args, []any{"tax", "credit"}) {
		t.Errorf("grant query: %q %v", w, w.Args)
	}
	from, to := time.Unix(100, 0), time.Unix(200, 0)
	w = AccessWhere(AccessQuery{FromLeaf: 7, Consumer: "c", From: from, To: to, Subject: "tag"},
		func(t time.Time) any { return t.Unix() }, "has(subjects, ?)")
	if w.String() != " AND consumer = ? AND time >= ? AND time < ? AND has(subjects, ?)" ||
		!reflect.DeepEqual(w.Args, []any{uint64(7), "c", int64(100), int64(200), "tag"}) {
		t.Errorf("access query: %q %#v", w, w.Args)
	}
	if w := AccessWhere(AccessQuery{FromLeaf: 3}, nil, "unused"); w.String() != "" || !reflect.DeepEqual(w.Args, []any{uint64(3)}) {
		t.Errorf("bare access query: %q %#v", w, w.Args)
	}
}

func TestRangeBounds(t *testing.T) {
	for _, tc := range []struct {
		f    Filter
		want []string // ops
	}{
		{Filter{Field: "n", Type: schema.TypeString, Op: Range}, nil},
		{Filter{Field: "n", Type: schema.TypeString, Op: Range, Min: "a"}, []string{">="}},
		{Filter{Field: "n", Type: schema.TypeString, Op: Range, Max: "z"}, []string{"<="}},
		{Filter{Field: "n", Type: schema.TypeString, Op: Range, Min: "a", Max: "z"}, []string{">=", "<="}},
	} {
		bs, err := RangeBounds(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, b := range bs {
			ops = append(ops, b.Op)
			if want, _ := OrderKey(tc.f.Type, map[string]string{">=": tc.f.Min, "<=": tc.f.Max}[b.Op]); b.Ord != want {
				t.Errorf("%+v: bound %s ord %q, want %q", tc.f, b.Op, b.Ord, want)
			}
		}
		if !reflect.DeepEqual(ops, tc.want) {
			t.Errorf("%+v: ops %v, want %v", tc.f, ops, tc.want)
		}
	}
}

func TestRangeBoundsBadValue(t *testing.T) {
	for _, ft := range []schema.FieldType{schema.TypeInt, schema.TypeDecimal} {
		if _, err := RangeBounds(Filter{Field: "n", Type: ft, Op: Range, Min: "not a value"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", ft, err)
		}
	}
}
