package schema

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

func TestDemoGenesis(t *testing.T) {
	want := demoGenesisText(demoIDs)
	if *update {
		if err := os.WriteFile("demo/genesis.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(DemoGenesisYAML(), want) {
		t.Fatal("demo/genesis.yaml is stale; run go test ./schema -run TestDemoGenesis -update")
	}
	g, err := DemoGenesis()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewKeyRing(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(demoIDs, GovernanceID) {
		pub := DemoKey(id).Public().(ed25519.PublicKey)
		got, err := ring.ResolveKey(id, KeyID(pub), 1)
		if err != nil || !bytes.Equal(got, pub) {
			t.Errorf("ResolveKey(%s) = %x, %v", id, got, err)
		}
	}
}

func TestDemoCatalog(t *testing.T) {
	c, err := DemoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"civil-affairs", "electricity", "market-regulation", "public-security", "real-estate", "tax"}
	got := c.Departments()
	if len(got) != len(want) {
		t.Fatalf("departments = %v, want %v", got, want)
	}
	var all []*Department
	for i, id := range want {
		if got[i] != id {
			t.Fatalf("departments = %v, want %v", got, want)
		}
		d, _ := c.Department(id)
		all = append(all, d)
	}
	for _, q := range []struct{ dept, typ string }{
		{"civil-affairs", "marriage"}, {"public-security", "resident"}, {"real-estate", "property-title"},
		{"tax", "tax-credit"}, {"market-regulation", "business-licence"}, {"electricity", "account"},
	} {
		if _, err := c.RecordType(q.dept, q.typ, 0); err != nil {
			t.Errorf("RecordType(%s, %s): %v", q.dept, q.typ, err)
		}
	}
	if _, err := c.RecordType("tax", "nope", 0); !errors.Is(err, ErrSchema) {
		t.Errorf("unknown type: %v", err)
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "demo-catalog.json", append(b, '\n'))
}

func TestCatalogVersions(t *testing.T) {
	c := Demo()
	rt, _ := c.RecordType("tax", "tax-credit", 0)
	v2 := *rt
	v2.Version = 2
	v2.Fields = append(append([]Field(nil), rt.Fields...), Field{Name: "note", Type: TypeString})
	if err := c.AddVersion("tax", v2); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.RecordType("tax", "tax-credit", 0); got.Version != 2 {
		t.Errorf("latest = %d, want 2", got.Version)
	}
	if got, _ := c.RecordType("tax", "tax-credit", 1); got.Version != 1 || len(got.Fields) != len(rt.Fields) {
		t.Errorf("version 1 changed")
	}
	v2.Version = 4
	if err := c.AddVersion("tax", v2); !errors.Is(err, ErrSchema) {
		t.Errorf("skipping a version: %v", err)
	}
	v3 := v2
	v3.Version = 3
	v3.Key = []string{"taxpayer_id"}
	if err := c.AddVersion("tax", v3); !errors.Is(err, ErrSchema) {
		t.Errorf("changing the key: %v", err)
	}
}
