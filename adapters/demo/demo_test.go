package demo_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/crossledger/crossledger/adapters/demo"
	"github.com/crossledger/crossledger/schema"
)

// check validates c against the demo catalog the way the SDK does before
// signing: the record type exists, the values validate, and a change
// body builds.
func check(t *testing.T, cat *schema.Catalog, what string, c demo.Change) {
	t.Helper()
	rt, err := cat.RecordType(c.Department, c.Type, 0)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := rt.Validate(c.Values); err != nil {
		t.Fatalf("%s %s/%s %v: %v", what, c.Department, c.Type, c.Values, err)
	}
	if _, _, err := schema.BuildChange(rt, c.Op, "ref", c.Values, rand.Reader); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestEveryChangeValidates(t *testing.T) {
	cat := schema.Demo()
	g := demo.New(1, 200)
	init := g.Initial()
	perDept := map[string]int{}
	residents := map[string]bool{}
	for i, c := range init {
		check(t, cat, fmt.Sprintf("initial %d", i), c)
		perDept[c.Department]++
		if c.Type == "resident" {
			id := c.Values["citizen_id"]
			if id[:6] != demo.Haidian {
				t.Errorf("citizen id %s is not from Haidian", id)
			}
			if residents[id] {
				t.Errorf("citizen id %s twice", id)
			}
			residents[id] = true
		}
	}
	for _, d := range cat.Departments() {
		if perDept[d] == 0 {
			t.Errorf("no initial records for %s", d)
		}
	}
	if len(residents) != 200 {
		t.Errorf("%d residents, want 200", len(residents))
	}
	// Every citizen named anywhere is a resident.
	subjects := []string{"spouse_a_id", "spouse_b_id", "owner_id", "co_owner_id", "legal_rep_id", "holder_id", "household_head_id"}
	for i := range 1000 {
		c := g.Next()
		check(t, cat, fmt.Sprintf("stream %d", i), c)
		if c.Type == "resident" {
			residents[c.Values["citizen_id"]] = true
		}
		init = append(init, c)
	}
	for _, c := range init {
		for _, f := range subjects {
			if id, ok := c.Values[f]; ok && !residents[id] {
				t.Errorf("%s/%s %s %s is not a resident", c.Department, c.Type, f, id)
			}
		}
	}
}

func TestMarriagesAreBetweenAdultsOfOppositeGender(t *testing.T) {
	g := demo.New(7, 300)
	gender, birth := map[string]string{}, map[string]string{}
	changes := g.Initial()
	for range 2000 {
		changes = append(changes, g.Next())
	}
	for _, c := range changes {
		if c.Type == "resident" {
			gender[c.Values["citizen_id"]], birth[c.Values["citizen_id"]] = c.Values["gender"], c.Values["birth_date"]
		}
	}
	n := 0
	for _, c := range changes {
		if c.Type != "marriage" {
			continue
		}
		n++
		a, b := c.Values["spouse_a_id"], c.Values["spouse_b_id"]
		if gender[a] == gender[b] {
			t.Errorf("marriage %s: spouses of one gender", c.Values["marriage_id"])
		}
		reg := c.Values["registered_on"]
		for _, id := range []string{a, b} {
			if reg[:4] < fmt.Sprint(atoi(birth[id][:4])+22) {
				t.Errorf("marriage %s registered %s, spouse born %s", c.Values["marriage_id"], reg, birth[id])
			}
		}
		if d := c.Values["dissolved_on"]; d != "" && d <= reg {
			t.Errorf("marriage %s dissolved %s before registered %s", c.Values["marriage_id"], d, reg)
		}
	}
	if n < 50 {
		t.Errorf("only %d marriage changes", n)
	}
}

func atoi(s string) (n int) {
	fmt.Sscan(s, &n)
	return n
}

func dump(g *demo.Generator, stream int) []byte {
	var b bytes.Buffer
	for _, c := range g.Initial() {
		fmt.Fprintln(&b, c)
	}
	for range stream {
		fmt.Fprintln(&b, g.Next())
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	a, b := dump(demo.New(42, 100), 500), dump(demo.New(42, 100), 500)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different output")
	}
	if bytes.Equal(a, dump(demo.New(43, 100), 500)) {
		t.Fatal("different seeds, same output")
	}
	// Initial does not depend on how far the stream has run.
	g := demo.New(42, 100)
	first := g.Initial()
	for range 100 {
		g.Next()
	}
	if !reflect.DeepEqual(first, g.Initial()) {
		t.Fatal("Initial changed after Next")
	}
}

// TestGrantsValid: every demo grant names real fields of its owner's
// types, sorted and unique, and would pass strict envelope validation.
func TestGrantsValid(t *testing.T) {
	cat := schema.Demo()
	for owner, gs := range demo.Grants() {
		for _, g := range gs {
			rt, err := cat.RecordType(owner, g.Type, 0)
			if err != nil {
				t.Fatalf("%s grants unknown type %s", owner, g.Type)
			}
			for _, f := range g.Fields {
				if _, ok := rt.Field(f); !ok {
					t.Errorf("%s/%s has no field %s", owner, g.Type, f)
				}
			}
			if !slices.IsSorted(g.Fields) || len(slices.Compact(slices.Clone(g.Fields))) != len(g.Fields) {
				t.Errorf("%s/%s: fields not sorted and unique: %v", owner, g.Type, g.Fields)
			}
			if !slices.Contains(demo.Purposes(), g.Purpose) {
				t.Errorf("%s: unknown purpose %s", owner, g.Purpose)
			}
			g := g
			env := &schema.Envelope{V: 1, Kind: schema.KindGrant, Department: owner, Seq: 1, Time: "2025-01-06T00:00:00Z",
				KeyID: schema.KeyID(schema.DemoKey(owner).Public().(ed25519.PublicKey)), Grant: &g}
			if err := schema.Sign(env, schema.DemoKey(owner)); err != nil {
				t.Fatal(err)
			}
			if err := env.Validate(); err != nil {
				t.Errorf("%s grant: %v", owner, err)
			}
		}
	}
}
