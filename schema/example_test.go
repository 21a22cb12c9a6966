package schema_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/crossledger/crossledger/schema"
)

// A department builds a change from field values, signs it, and the
// ledger decodes and verifies it; an analyst checks the disclosures it
// was given.
func Example() {
	catalog := schema.Demo()
	rt, _ := catalog.RecordType("public-security", "resident", 0)
	values := map[string]string{
		"citizen_id": "11010519491231002x", "name": "张伟", "gender": "male", "birth_date": "1949-12-31",
		"address": "海淀区中关村大街1号", "household_id": "110108-0042", "card_issued_on": "2015-01-01",
	}
	ref := schema.RecordRef(schema.DemoSecret("public-security"), rt.Name, []string{"11010519491231002X"})
	change, disclosures, err := schema.BuildChange(rt, schema.OpUpsert, ref, values, rand.Reader)
	if err != nil {
		panic(err)
	}
	env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: "public-security",
		Seq: 1, Time: "2024-03-01T08:30:00Z", Change: change}
	if err := schema.Sign(env, schema.DemoKey("public-security")); err != nil {
		panic(err)
	}
	entry, _ := env.Canonical()

	got, err := schema.DecodeEnvelope(entry)
	if err != nil {
		panic(err)
	}
	pub := schema.DemoKey("public-security").Public().(ed25519.PublicKey)
	fmt.Println("signature:", schema.Verify(got, pub))

	granted := schema.Redact(disclosures, []string{"citizen_id", "name"})
	fmt.Println("disclosures:", schema.CheckDisclosures(got.Change, granted))
	shown, _ := schema.Values(rt, granted)
	fmt.Println(shown["citizen_id"], len(granted), "of", len(got.Change.Digests), "fields")
	// Output:
	// signature: <nil>
	// disclosures: <nil>
	// 11010519491231002X 2 of 7 fields
}

func ExampleDecodeEnvelope() {
	_, err := schema.DecodeEnvelope([]byte(`{"v":1, "kind":"grant"}`))
	fmt.Println(errors.Is(err, schema.ErrNotCanonical), err)
	_, err = schema.DecodeEnvelope([]byte(`{"v":1,"v":1}`))
	fmt.Println(errors.Is(err, schema.ErrMalformed), err)
	// Output:
	// true entry not canonically encoded: differs from its canonical encoding at byte 1: member "department" expected before "v"
	// true malformed entry: v: duplicate key
}

func ExampleLoadDepartment() {
	_, err := schema.LoadDepartment("tax.yaml", []byte("id: tax\nname: Tax\ntypes:\n  - name: tax-credit\n    version: 1\n    key: [year]\n    fields:\n      - {name: year, type: int}\n"))
	fmt.Println(err)
	// Output:
	// schema violation: tax.yaml:8: tax-credit.year: key field must be required
}

func ExampleField_Canonical() {
	f := schema.Field{Name: "area_sqm", Type: schema.TypeDecimal}
	fmt.Println(f.Canonical("0089.50"))
	// Output: 89.5 <nil>
}

func ExampleVerifyBatch() {
	priv := schema.DemoKey("tax")
	pub := priv.Public().(ed25519.PublicKey)
	items := []schema.BatchItem{
		{PublicKey: pub, Message: []byte("a"), Signature: ed25519.Sign(priv, []byte("a"))},
		{PublicKey: pub, Message: []byte("b"), Signature: ed25519.Sign(priv, []byte("a"))},
	}
	errs := schema.VerifyBatch(items)
	fmt.Println(errs[0], errors.Is(errs[1], schema.ErrBadSignature))
	// Output: <nil> true
}

func ExampleCanonicalCitizenID() {
	fmt.Println(schema.CanonicalCitizenID("11010519491231002x"))
	// Output: 11010519491231002X <nil>
}

func ExampleSubjectTag() {
	fmt.Println(schema.SubjectTag([]byte("ledger secret"), "11010519491231002X"))
	// Output: lY9fER39_a0fsQ0PKbJKrs1v0jHdO7_sGflcazVYQ64
}
