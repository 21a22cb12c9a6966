package schema

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sampleEnvelopes returns one signed envelope of each kind, built
// deterministically from the demo catalog and demo keys.
func sampleEnvelopes(t testing.TB) (map[string]*Envelope, []Disclosure) {
	t.Helper()
	c := Demo()
	rt, err := c.RecordType("civil-affairs", "marriage", 1)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"marriage_id": "J110108-2015-004211", "spouse_a_id": strings.ToLower(testCitizenA), "spouse_a_name": "张伟",
		"spouse_b_id": testCitizenB, "spouse_b_name": "王芳", "status": "married",
		"registered_on": "2015-05-20", "registry_office": "海淀区民政局婚姻登记处",
	}
	ref := RecordRef(DemoSecret("civil-affairs"), rt.Name, []string{values["marriage_id"]})
	ch, ds, err := BuildChange(rt, OpUpsert, ref, values, newDetRand("sample"))
	if err != nil {
		t.Fatal(err)
	}
	gw := DemoKey("gateway").Public().(ed25519.PublicKey)
	newKey := DemoKey("civil-affairs-2").Public().(ed25519.PublicKey)
	tag := SubjectTag(DemoSecret("ledger"), testCitizenA)
	envs := map[string]*Envelope{
		"change": {Kind: KindRecordChange, Department: "civil-affairs", Seq: 1, Change: ch},
		"delete": {Kind: KindRecordChange, Department: "civil-affairs", Seq: 2,
			Change: &RecordChange{Type: rt.Name, SchemaVersion: 1, Record: ref, Op: OpDelete}},
		"grant": {Kind: KindGrant, Department: "civil-affairs", Seq: 3, Grant: &Grant{
			Consumer: "real-estate", Purpose: "real-estate-transfer", Type: "marriage",
			Fields: []string{"spouse_a_id", "spouse_b_id", "status"}, Expires: "2030-01-01T00:00:00Z", Condition: "subject"}},
		"revoke": {Kind: KindRevoke, Department: "civil-affairs", Seq: 4, Revoke: &Revoke{
			Consumer: "real-estate", Purpose: "real-estate-transfer", Type: "marriage", Fields: []string{"status"}}},
		"access": {Kind: KindAccess, Department: "gateway", Seq: 1, Access: &Access{
			Consumer: "real-estate", User: "analyst-17", Purpose: "real-estate-transfer", CaseRef: "HD-2024-0042",
			Subjects:  []string{tag},
			Disclosed: []AccessItem{{Leaf: 7, Fields: []string{"spouse_a_id", "status"}}},
			Denied:    []AccessDenial{{Department: "tax", Type: "tax-credit", Reason: "no-grant"}},
			Query:     "citizenOverview"}},
		"key": {Kind: KindDepartmentKey, Department: GovernanceID, Seq: 1, Key: &DepartmentKey{
			Department: "civil-affairs", Action: KeyRotate, KeyID: KeyID(newKey),
			PublicKey: base64.RawURLEncoding.EncodeToString(newKey)}},
		"schema": {Kind: KindSchema, Department: "civil-affairs", Seq: 5, Schema: &SchemaChange{RecordType: *rt}},
	}
	_ = gw
	for name, env := range envs {
		env.V = 1
		env.Time = "2024-03-01T08:30:00Z"
		signer := env.Department
		if err := Sign(env, DemoKey(signer)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return envs, ds
}

func TestEnvelopeGolden(t *testing.T) {
	envs, ds := sampleEnvelopes(t)
	for name, env := range envs {
		b, err := env.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "envelope-"+name+".json", b)
		got, err := DecodeEnvelope(b)
		if err != nil {
			t.Fatalf("%s: DecodeEnvelope: %v", name, err)
		}
		if err := Verify(got, DemoKey(env.Department).Public().(ed25519.PublicKey)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var lines []string
	for _, d := range ds {
		lines = append(lines, fmt.Sprintf("%s %s %s", d.Name, d.Digest(), d.Encoded))
	}
	golden(t, "disclosures.txt", []byte(strings.Join(lines, "\n")+"\n"))
}

// TestCanonicalMatchesOracle holds the hand-written encoder to the
// general RFC 8785 implementation applied to encoding/json's output.
func TestCanonicalMatchesOracle(t *testing.T) {
	envs, _ := sampleEnvelopes(t)
	for name, env := range envs {
		want, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		want, err = CanonicalJSON(want)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := env.Canonical()
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got  %s\n want %s", name, got, want)
		}
	}
}

// TestFlipEveryByte flips each bit-pattern of each byte of each signed
// envelope: every variant must fail decoding or verification, each with a
// specific error.
func TestFlipEveryByte(t *testing.T) {
	envs, _ := sampleEnvelopes(t)
	g, _ := DemoGenesis()
	ring, _ := NewKeyRing(g)
	for name, env := range envs {
		b, _ := env.Canonical()
		for i := range b {
			for _, mask := range []byte{0x01, 0x20, 0x80} {
				m := bytes.Clone(b)
				m[i] ^= mask
				got, err := DecodeEnvelope(m)
				if err == nil {
					err = VerifyEnvelope(got, ring, 10)
				}
				if err == nil {
					t.Fatalf("%s: flipping byte %d with %#x went undetected: %s", name, i, mask, m)
				}
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotCanonical) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("%s: byte %d: unspecific error %v", name, i, err)
				}
			}
		}
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	envs, _ := sampleEnvelopes(t)
	good, _ := envs["grant"].Canonical()
	s := string(good)
	resign := func(f func(*Envelope)) string {
		e := *envs["grant"]
		g := *e.Grant
		e.Grant = &g
		f(&e)
		if err := Sign(&e, DemoKey(e.Department)); err != nil {
			t.Fatal(err)
		}
		b, _ := e.Canonical()
		return string(b)
	}
	tests := []struct {
		name, in string
		want     error
		part     string
	}{
		{"too large", strings.Repeat(" ", MaxEntrySize+1), ErrTooLarge, ""},
		{"not json", "{", ErrMalformed, ""},
		{"trailing", s + "{}", ErrMalformed, ""},
		{"unknown field", strings.Replace(s, `{"department"`, `{"bogus":1,"department"`, 1), ErrMalformed, "bogus"},
		{"duplicate key", strings.Replace(s, `"kind":"grant"`, `"kind":"grant","kind":"grant"`, 1), ErrMalformed, "kind"},
		{"whitespace", strings.Replace(s, `,"kind"`, `, "kind"`, 1), ErrNotCanonical, ""},
		{"escaped", strings.Replace(s, `"kind":"grant"`, `"kind":"gr\u0061nt"`, 1), ErrNotCanonical, ""},
		{"explicit null", strings.Replace(s, `"department"`, `"change":null,"department"`, 1), ErrNotCanonical, ""},
		{"wrong type", strings.Replace(s, `"seq":3`, `"seq":"3"`, 1), ErrMalformed, "seq"},
		{"float seq", strings.Replace(s, `"seq":3`, `"seq":3.0`, 1), ErrMalformed, "seq"},
		{"bad version", resign(func(e *Envelope) { e.V = 2 }), ErrMalformed, "v"},
		{"zero seq", resign(func(e *Envelope) { e.Seq = 0 }), ErrMalformed, "seq"},
		{"huge seq", resign(func(e *Envelope) { e.Seq = 1 << 53 }), ErrMalformed, "seq"},
		{"time offset", resign(func(e *Envelope) { e.Time = "2024-03-01T08:30:00+08:00" }), ErrMalformed, "time"},
		{"time fraction", resign(func(e *Envelope) { e.Time = "2024-03-01T08:30:00.5Z" }), ErrMalformed, "time"},
		{"unknown kind", resign(func(e *Envelope) { e.Kind = "other" }), ErrMalformed, "kind"},
		{"wrong body", resign(func(e *Envelope) { e.Kind = KindRevoke }), ErrMalformed, "grant"},
		{"two bodies", resign(func(e *Envelope) { e.Revoke = &Revoke{Consumer: "x", Purpose: "y", Type: "z"} }), ErrMalformed, "revoke"},
		{"unsorted fields", resign(func(e *Envelope) { e.Grant.Fields = []string{"status", "spouse_a_id"} }), ErrMalformed, "grant.fields"},
		{"bad consumer", resign(func(e *Envelope) { e.Grant.Consumer = "Real Estate" }), ErrMalformed, "grant.consumer"},
		{"no sig", resign(func(e *Envelope) {}) /* replaced below */, nil, ""},
	}
	tests[len(tests)-1].in = strings.Replace(s, `,"sig":"`+envs["grant"].Sig+`"`, "", 1)
	tests[len(tests)-1].want, tests[len(tests)-1].part = ErrMalformed, "sig"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEnvelope([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Part != tt.part {
				t.Errorf("part of %v = %q, want %q", err, ee.Part, tt.part)
			}
		})
	}
}

func TestValidateBodies(t *testing.T) {
	envs, _ := sampleEnvelopes(t)
	mut := func(name string, f func(e *Envelope)) *Envelope {
		b, _ := envs[name].Canonical()
		e, err := DecodeEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		f(e)
		return e
	}
	tests := []struct {
		name string
		env  *Envelope
		part string
	}{
		{"upsert without digests", mut("change", func(e *Envelope) { e.Change.Digests = nil }), "change.digests"},
		{"delete with digests", mut("delete", func(e *Envelope) { e.Change.Digests = map[string]string{"a": envs["change"].Change.Record} }), "change.digests"},
		{"short digest", mut("change", func(e *Envelope) { e.Change.Digests["status"] = "abc" }), "change.digests.status"},
		{"bad field name", mut("change", func(e *Envelope) { e.Change.Digests["Status"] = e.Change.Record }), "change.digests"},
		{"bad op", mut("change", func(e *Envelope) { e.Change.Op = "merge" }), "change.op"},
		{"bad record", mut("change", func(e *Envelope) { e.Change.Record = "x" }), "change.record"},
		{"key id mismatch", mut("key", func(e *Envelope) { e.Key.KeyID = "0000000000000000" }), "key.key_id"},
		{"revoke with key", mut("key", func(e *Envelope) { e.Key.Action = KeyRevoke }), "key.public_key"},
		{"bad subject", mut("access", func(e *Envelope) { e.Access.Subjects = []string{"x"} }), "access.subjects[0]"},
		{"empty user", mut("access", func(e *Envelope) { e.Access.User = "" }), "access.user"},
		{"bad schema", mut("schema", func(e *Envelope) { e.Schema.RecordType.Key = []string{"nope"} }), "schema.record_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.env.Validate()
			var ee *EntryError
			if !errors.As(err, &ee) || !errors.Is(err, ErrMalformed) || ee.Part != tt.part {
				t.Fatalf("err = %v, want part %q", err, tt.part)
			}
		})
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	envs, _ := sampleEnvelopes(f)
	for _, env := range envs {
		b, _ := env.Canonical()
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever decodes is canonical and valid.
		env, err := DecodeEnvelope(b)
		if roundTrip(t, b, env, err, (*Envelope).Canonical) {
			if err := env.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	envs, _ := sampleEnvelopes(b)
	env := envs["change"]
	for b.Loop() {
		if _, err := env.Canonical(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCanonicalOracle is the baseline: encoding/json followed by the
// general RFC 8785 canonicalizer.
func BenchmarkCanonicalOracle(b *testing.B) {
	envs, _ := sampleEnvelopes(b)
	env := envs["change"]
	for b.Loop() {
		j, _ := json.Marshal(env)
		if _, err := CanonicalJSON(j); err != nil {
			b.Fatal(err)
		}
	}
}
