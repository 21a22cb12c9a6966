package schema

import (
	"errors"
	"strings"
	"testing"
)

func TestCitizenID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{testCitizenA, testCitizenA, true},
		{strings.ToLower(testCitizenA), testCitizenA, true},
		{testCitizenB, testCitizenB, true},
		{"11010519491231002Y", "", false}, // bad check char
		{"110105194912310021", "", false}, // wrong check digit
		{"99010519491231002X", "", false}, // no such province
		{"11010518991231002X", "", false}, // before 1900
		{"11010519490231002X", "", false}, // February 31
		{"1101051949123100", "", false},   // short
		{"11010519491231002XX", "", false},
		{"1101051949123100aX", "", false},
	}
	for _, tt := range tests {
		got, err := CanonicalCitizenID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CanonicalCitizenID(%q) = %q, %v; want ok=%v %q", tt.in, got, err, tt.ok, tt.want)
		}
	}
	c, _ := CitizenIDCheck(testCitizenB[:17])
	if c != testCitizenB[17] {
		t.Errorf("CitizenIDCheck = %c", c)
	}
}

func TestCreditCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{testCredit, testCredit, true},
		{strings.ToLower(testCredit), testCredit, true},
		{"91350100M000100Y44", "", false}, // wrong check
		{"91350100M000100I43", "", false}, // I not in the alphabet
		{"913501A0M000100Y43", "", false}, // region not digits
		{"91350100M000100Y4", "", false},
	}
	for _, tt := range tests {
		got, err := CanonicalCreditCode(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CanonicalCreditCode(%q) = %q, %v; want ok=%v %q", tt.in, got, err, tt.ok, tt.want)
		}
	}
}

func TestFieldCanonical(t *testing.T) {
	tests := []struct {
		typ      FieldType
		in, want string
	}{
		{TypeString, "海淀区", "海淀区"},
		{TypeString, "a\x00b", ""},
		{TypeInt, "42", "42"},
		{TypeInt, "+42", "42"},
		{TypeInt, "-0", "0"},
		{TypeInt, "042", ""},
		{TypeInt, "9007199254740992", ""},
		{TypeInt, "1.0", ""},
		{TypeDecimal, "0012.500", "12.5"},
		{TypeDecimal, "-0.0", "0"},
		{TypeDecimal, "3.", ""},
		{TypeDecimal, ".5", ""},
		{TypeDecimal, "1e5", ""},
		{TypeDate, "2024-02-29", "2024-02-29"},
		{TypeDate, "2023-02-29", ""},
		{TypeDateTime, "2024-03-01T16:30:00+08:00", "2024-03-01T08:30:00Z"},
		{TypeDateTime, "2024-03-01T08:30:00.1Z", ""},
		{TypeBool, "true", "true"},
		{TypeBool, "TRUE", ""},
		{TypeEnum, "married", "married"},
		{TypeEnum, "Married", ""},
		{TypeCitizenID, strings.ToLower(testCitizenA), testCitizenA},
		{TypeCreditCode, testCredit, testCredit},
	}
	for _, tt := range tests {
		f := Field{Name: "f", Type: tt.typ, Values: []string{"married", "divorced"}}
		got, err := f.Canonical(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrValue) || !errors.Is(err, ErrSchema) {
				t.Errorf("%s %q: err = %v, want ErrValue", tt.typ, tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %q = %q, %v; want %q", tt.typ, tt.in, got, err, tt.want)
			continue
		}
		// JSON round trip.
		jv, err := f.JSONValue(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := f.ParseJSON(jv)
		if err != nil || back != got {
			t.Errorf("%s: ParseJSON(JSONValue(%q)) = %q, %v", tt.typ, got, back, err)
		}
	}
}

func TestRecordTypeValidate(t *testing.T) {
	rt, _ := Demo().RecordType("real-estate", "property-title", 1)
	good := map[string]string{
		"title_no": "京(2019)海淀区不动产权第0012345号", "owner_id": testCitizenA, "owner_name": "张伟",
		"address": "海淀区中关村大街1号", "area_sqm": "89.50", "usage": "residential",
		"registered_on": "2019-06-01", "encumbered": "false",
	}
	if err := rt.Validate(good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(map[string]string)
		field string
		value bool
	}{
		{"missing", func(m map[string]string) { delete(m, "owner_id") }, "owner_id", false},
		{"unknown", func(m map[string]string) { m["colour"] = "red" }, "colour", false},
		{"bad enum", func(m map[string]string) { m["usage"] = "farm" }, "usage", true},
		{"bad decimal", func(m map[string]string) { m["area_sqm"] = "89,5" }, "area_sqm", true},
		{"bad citizen", func(m map[string]string) { m["co_owner_id"] = "110105194912310021" }, "co_owner_id", true},
	}
	for _, tt := range tests {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		tt.edit(m)
		err := rt.Validate(m)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrSchema) || errors.Is(err, ErrValue) != tt.value {
			t.Errorf("%s: err = %v, want field %s (value error %v)", tt.name, err, tt.field, tt.value)
		}
	}
}

func FuzzCitizenID(f *testing.F) {
	f.Add(testCitizenA)
	f.Add(testCitizenB)
	f.Add("11010519491231002x")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalCitizenID(s)
		if err != nil {
			return
		}
		if c2, err := CanonicalCitizenID(c); err != nil || c2 != c {
			t.Fatalf("canonical form %q not stable: %q %v", c, c2, err)
		}
		if ch, _ := CitizenIDCheck(c[:17]); ch != c[17] {
			t.Fatalf("accepted %q with wrong check", s)
		}
	})
}

func FuzzCreditCode(f *testing.F) {
	f.Add(testCredit)
	f.Add("91110108MA01ABCDE0")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalCreditCode(s)
		if err != nil {
			return
		}
		if c2, err := CanonicalCreditCode(c); err != nil || c2 != c {
			t.Fatalf("canonical form %q not stable: %q %v", c, c2, err)
		}
		if ch, _ := CreditCodeCheck(c[:17]); ch != c[17] {
			t.Fatalf("accepted %q with wrong check", s)
		}
	})
}
