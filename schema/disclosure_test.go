package schema

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestDisclosures(t *testing.T) {
	envs, ds := sampleEnvelopes(t)
	ch := envs["change"].Change
	if err := CheckDisclosures(ch, ds); err != nil {
		t.Fatal(err)
	}
	// Selective disclosure: a subset still checks.
	sub := Redact(ds, []string{"status", "spouse_a_id"})
	if len(sub) != 2 || CheckDisclosures(ch, sub) != nil {
		t.Fatalf("Redact = %v", sub)
	}
	rt, _ := Demo().RecordType("civil-affairs", "marriage", 1)
	vals, err := Values(rt, sub)
	if err != nil || vals["status"] != "married" || vals["spouse_a_id"] != testCitizenA {
		t.Fatalf("Values = %v, %v", vals, err)
	}
	// Round trip through the encoded strings.
	var enc []string
	for _, d := range ds {
		enc = append(enc, d.Encoded)
	}
	if _, err := CheckEncodedDisclosures(ch, enc); err != nil {
		t.Fatal(err)
	}
	// A changed value, a swapped name, a duplicate: ErrDisclosureMismatch naming the field.
	for i, d := range ds {
		forged, err := NewDisclosure(d.Salt, d.Name, "forged")
		if err != nil {
			t.Fatal(err)
		}
		bad := append([]Disclosure{}, ds...)
		bad[i] = forged
		err = CheckDisclosures(ch, bad)
		var de *DisclosureError
		if !errors.Is(err, ErrDisclosureMismatch) || !errors.As(err, &de) || de.Field != d.Name {
			t.Errorf("forged %s: %v", d.Name, err)
		}
	}
	renamed, _ := NewDisclosure(ds[0].Salt, ds[1].Name, ds[0].Value)
	if err := CheckDisclosures(ch, []Disclosure{renamed}); !errors.Is(err, ErrDisclosureMismatch) {
		t.Errorf("renamed: %v", err)
	}
	if err := CheckDisclosures(ch, []Disclosure{ds[0], ds[0]}); !errors.Is(err, ErrDisclosureMismatch) {
		t.Errorf("duplicate: %v", err)
	}
	unknown, _ := NewDisclosure(ds[0].Salt, "colour", "red")
	if err := CheckDisclosures(ch, []Disclosure{unknown}); !errors.Is(err, ErrDisclosureMismatch) {
		t.Errorf("unknown field: %v", err)
	}
}

func TestParseDisclosure(t *testing.T) {
	salt := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	good := []string{
		`["` + salt + `","status","married"]`,
		`["` + salt + `","year",2024]`,
		`["` + salt + `","encumbered",false]`,
		`["` + salt + `","name","张\"伟\n"]`,
	}
	for _, g := range good {
		d, err := ParseDisclosure(enc(g))
		if err != nil || d.Encoded != enc(g) {
			t.Errorf("ParseDisclosure(%s) = %v, %v", g, d, err)
		}
	}
	bad := []struct {
		in   string
		want error
	}{
		{enc(`["`+salt+`","status","married"]`) + "=", ErrMalformed},
		{base64.StdEncoding.EncodeToString([]byte(`["` + salt + `","status","married?"]`)), ErrMalformed},
		{enc(`["` + salt + `","status"]`), ErrMalformed},
		{enc(`["c2FsdA","status","married"]`), ErrMalformed}, // short salt
		{enc(`["` + salt + `","Status","married"]`), ErrMalformed},
		{enc(`["` + salt + `","year",1.5]`), ErrMalformed},
		{enc(`["` + salt + `","year",null]`), ErrMalformed},
		{enc(`["` + salt + `","status",{}]`), ErrMalformed},
		{enc(`["` + salt + `", "status","married"]`), ErrNotCanonical},
		{enc(`["` + salt + `","status","m\u0061rried"]`), ErrNotCanonical},
		{enc(`["` + salt + `","status","married"] x`), ErrMalformed},
	}
	for _, b := range bad {
		if _, err := ParseDisclosure(b.in); !errors.Is(err, b.want) {
			t.Errorf("ParseDisclosure(%s) = %v, want %v", b.in, err, b.want)
		}
	}
}

func TestRecordRefAndSubjectTag(t *testing.T) {
	s := []byte("secret")
	a := RecordRef(s, "marriage", []string{"a", "b"})
	if a == RecordRef(s, "marriage", []string{"ab"}) || a == RecordRef(s, "marriagea", []string{"b"}) || !validDigest(a) {
		t.Error("record refs collide or are malformed")
	}
	if SubjectTag(s, strings.ToLower(testCitizenA)) != SubjectTag(s, testCitizenA) {
		t.Error("subject tag depends on the case of x")
	}
	golden(t, "refs.txt", []byte(a+"\n"+SubjectTag(s, testCitizenA)+"\n"))
}

func FuzzParseDisclosure(f *testing.F) {
	_, ds := sampleEnvelopes(f)
	for _, d := range ds {
		f.Add(d.Encoded)
	}
	f.Add("")
	f.Add("W10")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDisclosure(s)
		if err != nil {
			return
		}
		again, err := NewDisclosure(d.Salt, d.Name, d.Value)
		if err != nil || again.Encoded != s {
			t.Fatalf("accepted %q, which does not re-encode to itself", s)
		}
	})
}

func BenchmarkBuildChange(b *testing.B) {
	rt, _ := Demo().RecordType("real-estate", "property-title", 1)
	values := map[string]string{
		"title_no": "京(2019)海淀区不动产权第0012345号", "owner_id": testCitizenA, "owner_name": "张伟",
		"address": "海淀区中关村大街1号", "area_sqm": "89.5", "usage": "residential",
		"registered_on": "2019-06-01", "encumbered": "false",
	}
	r := newDetRand("bench")
	for b.Loop() {
		if _, _, err := BuildChange(rt, OpUpsert, "ref", values, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckDisclosures(b *testing.B) {
	envs, ds := sampleEnvelopes(b)
	var enc []string
	for _, d := range ds {
		enc = append(enc, d.Encoded)
	}
	for b.Loop() {
		if _, err := CheckEncodedDisclosures(envs["change"].Change, enc); err != nil {
			b.Fatal(err)
		}
	}
}
