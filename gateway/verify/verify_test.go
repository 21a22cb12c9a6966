package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/crossledger/crossledger/ingest/ingesttest"
	"github.com/crossledger/crossledger/merkle"
	"github.com/crossledger/crossledger/schema"
)

// The response shape of gateway/schema.graphql's person query, with
// every Record and Field member selected under its own name.
type gqlResponse struct {
	Data       *gqlData       `json:"data"`
	Errors     []any          `json:"errors,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlData struct {
	Checkpoint *gqlCheckpoint `json:"checkpoint,omitempty"`
	Person     gqlPerson      `json:"person"`
}

type gqlCheckpoint struct {
	Origin   string `json:"origin"`
	Size     uint64 `json:"size"`
	RootHash string `json:"rootHash"`
	Signed   string `json:"signed"`
}

type gqlPerson struct {
	Subject     string    `json:"subject"`
	Departments []gqlDept `json:"departments"`
}

type gqlDept struct {
	Department string       `json:"department"`
	Records    []*gqlRecord `json:"records"`
}

type gqlRecord struct {
	Department    string      `json:"department"`
	Type          string      `json:"type"`
	Key           []string    `json:"key"`
	Op            string      `json:"op"`
	SchemaVersion uint32      `json:"schemaVersion"`
	Time          string      `json:"time"`
	Leaf          uint64      `json:"leaf"`
	Fields        []*gqlField `json:"fields"`
	Envelope      string      `json:"envelope"`
	KeyID         string      `json:"keyId"`
	Signature     string      `json:"signature"`
	Proof         string      `json:"proof"`
}

type gqlField struct {
	Name       string  `json:"name"`
	Value      *string `json:"value"`
	Disclosure *string `json:"disclosure"`
	Digest     string  `json:"digest"`
	Redacted   bool    `json:"redacted"`
}

func (r *gqlRecord) field(name string) (int, *gqlField) {
	for i, f := range r.Fields {
		if f.Name == name {
			return i, f
		}
	}
	panic("no field " + name)
}

// signed is one record change appended to the test log.
type signed struct {
	env   *schema.Envelope
	entry []byte
	ds    []schema.Disclosure
	key   []string
	leaf  uint64
}

// fixture is a real log holding real signed record changes, and a
// response built from it the way the SDL describes.
type fixture struct {
	verifier note.Verifier
	keys     *schema.KeyRing
	catalog  *schema.Catalog
	marriage signed // civil-affairs, leaf 2
	title    signed // real-estate, leaf 4
	credit   signed // tax, leaf 5
	rogue    signed // civil-affairs signed by an unregistered key, leaf 6
	// proofs of every record against the final checkpoint (size 8)
	proofs map[uint64]string
	// marriageEarly proves the marriage against the checkpoint of size 3.
	marriageEarly string
	// forkedCredit proves the credit record against a checkpoint of size 8
	// with another root, signed by the same log key.
	forkedCredit string
	checkpoint   []byte
}

const (
	citizenA = "11010519491231002X"
	citizenB = "110105198001010016"
	credit   = "91350100M000100Y43"
)

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	skey, vkey, err := merkle.GenerateKey("test.example/log")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{verifier: v, keys: ingesttest.DemoKeys(tb), catalog: schema.Demo(), proofs: map[uint64]string{}}
	mk := func(dept, typ string, seq uint64, values map[string]string, priv ed25519.PrivateKey) signed {
		rt, err := f.catalog.RecordType(dept, typ, 0)
		if err != nil {
			tb.Fatal(err)
		}
		var key []string
		canon, err := rt.CanonicalValues(values)
		if err != nil {
			tb.Fatal(err)
		}
		for _, k := range rt.Key {
			key = append(key, canon[k])
		}
		ch, ds, err := schema.BuildChange(rt, schema.OpUpsert, schema.RecordRef(schema.DemoSecret(dept), typ, key), values, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		env := &schema.Envelope{V: 1, Kind: schema.KindRecordChange, Department: dept, Seq: seq, Time: "2026-03-04T05:06:07Z", Change: ch}
		if err := schema.Sign(env, priv); err != nil {
			tb.Fatal(err)
		}
		entry, err := env.Canonical()
		if err != nil {
			tb.Fatal(err)
		}
		return signed{env: env, entry: entry, ds: ds, key: key}
	}
	f.marriage = mk("civil-affairs", "marriage", 1, map[string]string{
		"marriage_id": "M-2019-0042", "spouse_a_id": citizenA, "spouse_a_name": "王芳", "spouse_b_id": citizenB,
		"spouse_b_name": "李强", "status": "married", "registered_on": "2019-05-20", "registry_office": "Haidian",
	}, schema.DemoKey("civil-affairs"))
	f.title = mk("real-estate", "property-title", 1, map[string]string{
		"title_no": "T-1", "owner_id": citizenA, "owner_name": "王芳", "address": "1 Zhongguancun St",
		"area_sqm": "89.50", "usage": "residential", "registered_on": "2020-01-02", "encumbered": "false",
	}, schema.DemoKey("real-estate"))
	f.credit = mk("tax", "tax-credit", 1, map[string]string{
		"taxpayer_id": credit, "year": "+2025", "rating": "A", "arrears": "0", "legal_rep_id": citizenA,
	}, schema.DemoKey("tax"))
	_, rogueKey, _ := ed25519.GenerateKey(rand.Reader)
	f.rogue = mk("civil-affairs", "marriage", 2, map[string]string{
		"marriage_id": "M-FAKE", "spouse_a_id": citizenA, "spouse_a_name": "王芳", "spouse_b_id": citizenB,
		"spouse_b_name": "李强", "status": "divorced", "registered_on": "2019-05-20", "registry_office": "Haidian",
	}, rogueKey)

	open := func() *merkle.Log {
		l, err := merkle.Open(ctx, tb.TempDir(), merkle.Options{SignerKey: skey})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { l.Close() })
		return l
	}
	bundle := func(l *merkle.Log, i uint64) string {
		p, err := l.ProofBundle(ctx, i)
		if err != nil {
			tb.Fatal(err)
		}
		return string(p.Encode())
	}
	appendAll := func(l *merkle.Log, entries ...[]byte) {
		if _, err := l.Append(ctx, entries, nil); err != nil {
			tb.Fatal(err)
		}
	}
	a, b := open(), open()
	for _, l := range []*merkle.Log{a, b} {
		appendAll(l, []byte("filler 0"), []byte("filler 1"), f.marriage.entry)
	}
	f.marriageEarly = bundle(a, 2)
	for _, l := range []*merkle.Log{a, b} {
		appendAll(l, []byte("filler 2"), f.title.entry, f.credit.entry, f.rogue.entry)
	}
	appendAll(a, []byte("filler 3"))
	appendAll(b, []byte("another filler 3"))
	f.marriage.leaf, f.title.leaf, f.credit.leaf, f.rogue.leaf = 2, 4, 5, 6
	for _, i := range []uint64{2, 4, 5, 6} {
		f.proofs[i] = bundle(a, i)
	}
	f.forkedCredit = bundle(b, 5)
	f.checkpoint = a.Checkpoint()
	return f
}

// record renders s as the gateway would for a caller granted disclose.
func (f *fixture) record(s signed, disclose ...string) *gqlRecord {
	r := &gqlRecord{
		Department: s.env.Department, Type: s.env.Change.Type, Key: s.key, Op: string(s.env.Change.Op),
		SchemaVersion: s.env.Change.SchemaVersion, Time: s.env.Time, Leaf: s.leaf,
		Envelope: string(s.entry), KeyID: s.env.KeyID, Signature: s.env.Sig, Proof: f.proofs[s.leaf],
	}
	for _, d := range s.ds {
		fd := &gqlField{Name: d.Name, Digest: d.Digest(), Redacted: true}
		if slices.Contains(disclose, d.Name) {
			text, enc := textOf(d.Value), d.Encoded
			fd.Value, fd.Disclosure, fd.Redacted = &text, &enc, false
		}
		r.Fields = append(r.Fields, fd)
	}
	return r
}

// response is a person query answer: civil-affairs' marriage, real
// estate's title and tax's credit rating, each partly disclosed.
func (f *fixture) response() *gqlResponse {
	return &gqlResponse{
		Data: &gqlData{Person: gqlPerson{Subject: "c3ViamVjdA", Departments: []gqlDept{
			{Department: "civil-affairs", Records: []*gqlRecord{f.record(f.marriage, "marriage_id", "registered_on", "status")}},
			{Department: "real-estate", Records: []*gqlRecord{f.record(f.title, "area_sqm", "encumbered", "title_no")}},
			{Department: "tax", Records: []*gqlRecord{f.record(f.credit, "rating", "year")}},
		}}},
		Extensions: map[string]any{"access": map[string]any{"id": "gateway:17"}},
	}
}

func (f *fixture) verify(t *testing.T, resp any, opts ...Option) *Report {
	t.Helper()
	data, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Response(data, f.verifier, f.keys, opts...)
	if err != nil {
		t.Fatalf("Response: %v", err)
	}
	return rep
}

const (
	marriagePath = "data.person.departments[0].records[0]"
	titlePath    = "data.person.departments[1].records[0]"
	creditPath   = "data.person.departments[2].records[0]"
)

func TestCleanResponseVerifies(t *testing.T) {
	f := newFixture(t)
	rep := f.verify(t, f.response(), WithCatalog(f.catalog))
	if !rep.OK() {
		t.Fatalf("failures: %v", rep.Failures)
	}
	if rep.Records != 3 || rep.DisclosedFields != 8 || rep.RedactedFields != 13 {
		t.Errorf("records %d, disclosed %d, redacted %d; want 3, 8, 13", rep.Records, rep.DisclosedFields, rep.RedactedFields)
	}
	if rep.CheckpointSize != 8 || len(rep.Checkpoints) != 1 || rep.Checkpoints[0].Records != 3 || rep.Checkpoints[0].Origin != "test.example/log" {
		t.Errorf("checkpoints: size %d, %+v", rep.CheckpointSize, rep.Checkpoints)
	}
	if rep.AccessID != "gateway:17" {
		t.Errorf("access id %q", rep.AccessID)
	}
}

func TestDisclosedValuesAreCanonicalText(t *testing.T) {
	f := newFixture(t)
	resp := f.response()
	want := map[string]string{"year": "2025", "area_sqm": "89.5", "encumbered": "false"}
	for _, r := range []*gqlRecord{resp.Data.Person.Departments[1].Records[0], resp.Data.Person.Departments[2].Records[0]} {
		for _, fd := range r.Fields {
			if w, ok := want[fd.Name]; ok && *fd.Value != w {
				t.Errorf("%s = %q, want %q", fd.Name, *fd.Value, w)
			}
		}
	}
	// A JSON number where the SDL has a String is malformed, not a match.
	data, _ := json.Marshal(resp)
	data = bytes.Replace(data, []byte(`"value":"2025"`), []byte(`"value":2025`), 1)
	rep, err := Response(data, f.verifier, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, rep, want1(creditPath+".fields[4].value", Malformed))
}

type wantFailure struct {
	path    string
	problem Problem
}

func want1(path string, p Problem) wantFailure { return wantFailure{path, p} }

// expect asserts that rep's failures are exactly want (in any order).
func expect(t *testing.T, rep *Report, want ...wantFailure) {
	t.Helper()
	var got []wantFailure
	for _, f := range rep.Failures {
		got = append(got, wantFailure{f.Path, f.Problem})
		if f.Reason == "" {
			t.Errorf("failure without a reason: %+v", f)
		}
	}
	key := func(w wantFailure) string { return w.path + " " + string(w.problem) }
	gs, ws := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		gs[i] = key(got[i])
	}
	for i := range want {
		ws[i] = key(want[i])
	}
	slices.Sort(gs)
	slices.Sort(ws)
	if !slices.Equal(gs, ws) {
		t.Errorf("failures:\n  got  %q\n  want %q\nreasons:\n%s", gs, ws, reasons(rep))
	}
}

func reasons(rep *Report) string {
	var b strings.Builder
	for _, f := range rep.Failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

func TestTampering(t *testing.T) {
	f := newFixture(t)
	fieldPath := func(rec string, r *gqlRecord, name string) string {
		i, _ := r.field(name)
		return fmt.Sprintf("%s.fields[%d]", rec, i)
	}
	marriage := func(resp *gqlResponse) *gqlRecord { return resp.Data.Person.Departments[0].Records[0] }
	// copied tampers with the marriage record's field dst by copying
	// what set copies from its field src.
	copied := func(dst, src string, set func(dst, src *gqlField)) func(*gqlResponse) {
		return func(r *gqlResponse) {
			_, d := marriage(r).field(dst)
			_, s := marriage(r).field(src)
			set(d, s)
		}
	}
	credit := func(resp *gqlResponse) *gqlRecord { return resp.Data.Person.Departments[2].Records[0] }
	str := func(s string) *string { return &s }
	m := f.record(f.marriage) // for field paths
	otherKey := func() note.Verifier {
		_, vkey, _ := merkle.GenerateKey("test.example/log")
		v, _ := note.NewVerifier(vkey)
		return v
	}()

	for _, tc := range []struct {
		name   string
		tamper func(*gqlResponse)
		want   []wantFailure
		reason string // a phrase the first failure's reason must contain
	}{{
		name:   "value",
		tamper: func(r *gqlResponse) { _, fd := marriage(r).field("status"); fd.Value = str("divorced") },
		want:   []wantFailure{want1(fieldPath(marriagePath, m, "status")+".value", ValueMismatch)},
		reason: `the value shown for field status ("divorced") is not the disclosed, signed value ("married")`,
	}, {
		name: "disclosure forged with a new salt",
		tamper: func(r *gqlResponse) {
			_, fd := marriage(r).field("status")
			d, _ := schema.NewDisclosure("AAAAAAAAAAAAAAAAAAAAAA", "status", "divorced")
			fd.Value, fd.Disclosure = str("divorced"), &d.Encoded
		},
		want:   []wantFailure{want1(fieldPath(marriagePath, m, "status")+".disclosure", DisclosureDigest)},
		reason: "disclosure digest does not match the envelope's digest for field status: the value was altered or the disclosure belongs to another record",
	}, {
		name: "disclosure not canonical",
		tamper: func(r *gqlResponse) {
			_, fd := marriage(r).field("status")
			fd.Disclosure = str(base64.RawURLEncoding.EncodeToString([]byte(`[ "AAAAAAAAAAAAAAAAAAAAAA","status","married"]`)))
		},
		want: []wantFailure{want1(fieldPath(marriagePath, m, "status")+".disclosure", DisclosureInvalid)},
	}, {
		name:   "disclosure of another field",
		tamper: copied("status", "marriage_id", func(dst, src *gqlField) { dst.Disclosure = src.Disclosure }),
		want:   []wantFailure{want1(fieldPath(marriagePath, m, "status")+".disclosure", DisclosureInvalid)},
		reason: "discloses field marriage_id",
	}, {
		name:   "digest",
		tamper: copied("status", "marriage_id", func(dst, src *gqlField) { dst.Digest = src.Digest }),
		want:   []wantFailure{want1(fieldPath(marriagePath, m, "status")+".digest", FieldDigest)},
	}, {
		name:   "redacted digest",
		tamper: copied("spouse_a_id", "spouse_b_id", func(dst, src *gqlField) { dst.Digest = src.Digest }),
		want:   []wantFailure{want1(fieldPath(marriagePath, m, "spouse_a_id")+".digest", FieldDigest)},
	}, {
		name: "envelope byte",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			rec.Envelope = strings.Replace(rec.Envelope, `"time":"2026-03-04T05:06:07Z"`, `"time":"2026-03-04T05:06:08Z"`, 1)
			rec.Time = "2026-03-04T05:06:08Z"
		},
		want: []wantFailure{want1(marriagePath+".envelope", BadSignature), want1(marriagePath+".proof", Inclusion)},
	}, {
		name: "envelope not canonical",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			rec.Envelope = strings.Replace(rec.Envelope, `{"change"`, `{ "change"`, 1)
		},
		want: []wantFailure{want1(marriagePath+".envelope", EnvelopeInvalid), want1(marriagePath+".proof", Inclusion)},
	}, {
		name: "signature re-made with another key under the same key id",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			env, _ := schema.DecodeEnvelope([]byte(rec.Envelope))
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			msg, _ := env.SigningBytes()
			env.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(other, msg))
			b, _ := env.Canonical()
			rec.Envelope, rec.Signature = string(b), env.Sig
		},
		want: []wantFailure{want1(marriagePath+".envelope", BadSignature), want1(marriagePath+".proof", Inclusion)},
	}, {
		name:   "record signature field",
		tamper: func(r *gqlResponse) { marriage(r).Signature = credit(r).Signature },
		want:   []wantFailure{want1(marriagePath+".signature", RecordMismatch)},
	}, {
		name:   "record department",
		tamper: func(r *gqlResponse) { marriage(r).Department = "tax" },
		want:   []wantFailure{want1(marriagePath+".department", RecordMismatch)},
	}, {
		name:   "record key id",
		tamper: func(r *gqlResponse) { marriage(r).KeyID = credit(r).KeyID },
		want:   []wantFailure{want1(marriagePath+".keyId", RecordMismatch)},
	}, {
		name: "proof hash",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			lines := strings.Split(rec.Proof, "\n")
			h, _ := base64.StdEncoding.DecodeString(lines[2])
			h[0] ^= 1
			lines[2] = base64.StdEncoding.EncodeToString(h)
			rec.Proof = strings.Join(lines, "\n")
		},
		want:   []wantFailure{want1(marriagePath+".proof", Inclusion)},
		reason: "does not prove this envelope at leaf 2 in the tree of size 8",
	}, {
		name: "proof garbled",
		tamper: func(r *gqlResponse) {
			marriage(r).Proof = strings.Replace(marriage(r).Proof, "index 2", "index 02", 1)
		},
		want: []wantFailure{want1(marriagePath+".proof", ProofInvalid)},
	}, {
		name: "checkpoint signature",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			i := strings.LastIndex(rec.Proof, " ") + 10
			b := []byte(rec.Proof)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			rec.Proof = string(b)
		},
		want:   []wantFailure{want1(marriagePath+".proof", CheckpointInvalid)},
		reason: "does not verify: the checkpoint was altered",
	}, {
		name: "checkpoint root",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			c, _, _ := merkle.ParseCheckpoint(f.checkpoint, f.verifier)
			root := base64.StdEncoding.EncodeToString(c.Hash)
			h := bytes.Clone(c.Hash)
			h[0] ^= 1
			rec.Proof = strings.Replace(rec.Proof, root, base64.StdEncoding.EncodeToString(h), 1)
		},
		want: []wantFailure{want1(marriagePath+".proof", CheckpointInvalid)},
	}, {
		name: "unknown key id",
		tamper: func(r *gqlResponse) {
			r.Data.Person.Departments[0].Records = append(r.Data.Person.Departments[0].Records, f.record(f.rogue, "status"))
		},
		want:   []wantFailure{want1("data.person.departments[0].records[1].envelope", UnknownKey)},
		reason: "the key ring has no key " + f.rogue.env.KeyID + " of department civil-affairs valid at leaf 6",
	}, {
		name:   "index is not leaf",
		tamper: func(r *gqlResponse) { marriage(r).Leaf = 3 },
		want:   []wantFailure{want1(marriagePath+".proof", ProofIndex)},
		reason: "the proof is for leaf 2 but the record says leaf 3",
	}, {
		name:   "proof of another record",
		tamper: func(r *gqlResponse) { marriage(r).Proof = credit(r).Proof },
		want:   []wantFailure{want1(marriagePath+".proof", ProofIndex), want1(marriagePath+".proof", Inclusion)},
	}, {
		name: "missing field",
		tamper: func(r *gqlResponse) {
			rec := marriage(r)
			i, _ := rec.field("spouse_b_name")
			rec.Fields = slices.Delete(rec.Fields, i, i+1)
		},
		want:   []wantFailure{want1(marriagePath+".fields", MissingField)},
		reason: "field spouse_b_name, which the signed envelope commits to, is missing",
	}, {
		name: "extra field",
		tamper: func(r *gqlResponse) {
			_, rating := credit(r).field("rating")
			marriage(r).Fields = append(marriage(r).Fields, rating)
		},
		want: []wantFailure{want1(fmt.Sprintf("%s.fields[%d]", marriagePath, len(m.Fields)), ExtraField)},
	}, {
		name: "duplicate field",
		tamper: func(r *gqlResponse) {
			_, st := marriage(r).field("status")
			marriage(r).Fields = append(marriage(r).Fields, st)
		},
		want: []wantFailure{want1(fmt.Sprintf("%s.fields[%d]", marriagePath, len(m.Fields)), DuplicateField)},
	}, {
		name: "value shown for a redacted field",
		tamper: func(r *gqlResponse) {
			_, fd := marriage(r).field("spouse_a_name")
			fd.Value, fd.Redacted = str("王芳"), false
		},
		want: []wantFailure{want1(fieldPath(marriagePath, m, "spouse_a_name")+".value", Undisclosed)},
	}, {
		name:   "redacted flag lies",
		tamper: func(r *gqlResponse) { _, fd := marriage(r).field("status"); fd.Redacted = true },
		want:   []wantFailure{want1(fieldPath(marriagePath, m, "status")+".redacted", Undisclosed)},
	}, {
		name: "two checkpoints of different sizes",
		tamper: func(r *gqlResponse) {
			marriage(r).Proof = f.marriageEarly
		},
	}, {
		name:   "fork",
		tamper: func(r *gqlResponse) { credit(r).Proof = f.forkedCredit },
		want:   []wantFailure{want1(creditPath+".proof", Fork)},
		reason: "the log signed two different trees of size 8",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.response()
			tc.tamper(resp)
			rep := f.verify(t, resp)
			t.Logf("failures:\n%s", reasons(rep))
			expect(t, rep, tc.want...)
			if tc.reason != "" && len(rep.Failures) > 0 && !strings.Contains(rep.Failures[0].Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", rep.Failures[0].Reason, tc.reason)
			}
		})
	}

	t.Run("wrong log key", func(t *testing.T) {
		data, _ := json.Marshal(f.response())
		rep, err := Response(data, otherKey, f.keys)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, rep, want1(marriagePath+".proof", CheckpointInvalid), want1(titlePath+".proof", CheckpointInvalid), want1(creditPath+".proof", CheckpointInvalid))
		if !strings.Contains(rep.Failures[0].Reason, "not signed by the log key") {
			t.Errorf("reason: %s", rep.Failures[0].Reason)
		}
		if rep.CheckpointSize != 0 || len(rep.Checkpoints) != 0 {
			t.Errorf("unverified checkpoints reported: %+v", rep.Checkpoints)
		}
	})

	t.Run("checkpoint sizes are reported", func(t *testing.T) {
		resp := f.response()
		marriage(resp).Proof = f.marriageEarly
		rep := f.verify(t, resp)
		if len(rep.Checkpoints) != 2 || rep.Checkpoints[0].Size != 3 || rep.Checkpoints[1].Size != 8 || rep.CheckpointSize != 8 {
			t.Errorf("checkpoints %+v", rep.Checkpoints)
		}
	})
}

func TestIncompleteRecordsAndFields(t *testing.T) {
	f := newFixture(t)
	asMap := func(t *testing.T) map[string]any {
		data, _ := json.Marshal(f.response())
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	rec := func(m map[string]any) map[string]any {
		return m["data"].(map[string]any)["person"].(map[string]any)["departments"].([]any)[0].(map[string]any)["records"].([]any)[0].(map[string]any)
	}
	t.Run("aliased proof", func(t *testing.T) {
		m := asMap(t)
		r := rec(m)
		r["p"] = r["proof"]
		delete(r, "proof")
		expect(t, f.verify(t, m), want1(marriagePath, Incomplete))
	})
	t.Run("field without disclosure", func(t *testing.T) {
		m := asMap(t)
		delete(rec(m)["fields"].([]any)[0].(map[string]any), "disclosure")
		expect(t, f.verify(t, m), want1(marriagePath+".fields[0]", Incomplete))
	})
	t.Run("field without name", func(t *testing.T) {
		m := asMap(t)
		delete(rec(m)["fields"].([]any)[0].(map[string]any), "name")
		expect(t, f.verify(t, m), want1(marriagePath+".fields[0]", Incomplete), want1(marriagePath+".fields", MissingField))
	})
	t.Run("leaf as a string", func(t *testing.T) {
		m := asMap(t)
		rec(m)["leaf"] = "2"
		expect(t, f.verify(t, m), want1(marriagePath+".leaf", Malformed))
	})
	t.Run("no records", func(t *testing.T) {
		rep := f.verify(t, map[string]any{"data": map[string]any{"person": nil}, "errors": []any{
			map[string]any{"message": "department tax: deadline exceeded", "path": []any{"person", "departments", 2, "records"}},
		}})
		expect(t, rep, want1("data", NoRecords))
		if len(rep.Errors) != 1 || rep.Errors[0] != "department tax: deadline exceeded (at data.person.departments[2].records)" {
			t.Errorf("errors %q", rep.Errors)
		}
	})
}

func TestCheckpointObject(t *testing.T) {
	f := newFixture(t)
	c, _, err := merkle.ParseCheckpoint(f.checkpoint, f.verifier)
	if err != nil {
		t.Fatal(err)
	}
	resp := f.response()
	resp.Data.Checkpoint = &gqlCheckpoint{Origin: c.Origin, Size: c.Size, RootHash: base64.StdEncoding.EncodeToString(c.Hash), Signed: string(f.checkpoint)}
	expect(t, f.verify(t, resp))
	resp.Data.Checkpoint.Size = 9
	expect(t, f.verify(t, resp), want1("data.checkpoint.size", RecordMismatch))
	resp.Data.Checkpoint.Size = 8
	resp.Data.Checkpoint.Signed = strings.Replace(resp.Data.Checkpoint.Signed, "\n8\n", "\n9\n", 1)
	expect(t, f.verify(t, resp), want1("data.checkpoint.signed", CheckpointInvalid))
}

func TestWithCatalog(t *testing.T) {
	f := newFixture(t)
	resp := f.response()
	resp.Data.Person.Departments[0].Records[0].Key = []string{"M-2019-0043"}
	expect(t, f.verify(t, resp, WithCatalog(f.catalog)), want1(marriagePath+".key[0]", RecordMismatch))
	// Without a catalog the key is not checked: it is not in the envelope.
	expect(t, f.verify(t, resp))
}

func TestUnreadableInputIsAnError(t *testing.T) {
	f := newFixture(t)
	for _, in := range []string{
		``, `nul`, `[]`, `"data"`, `{}`, `{"extensions":{}}`, `{"data":{}} {}`,
		`{"data":{"a":1,"a":2}}`, "{\"data\":\"\xff\"}", strings.Repeat("[", 300) + strings.Repeat("]", 300),
	} {
		if rep, err := Response([]byte(in), f.verifier, f.keys); err == nil {
			t.Errorf("%q: no error, report %+v", in, rep)
		}
	}
	if _, err := Response([]byte(`{"data":null}`), nil, f.keys); err == nil {
		t.Error("nil verifier accepted")
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ path, key, want string }{
		{"", "data", "data"},
		{"data", "person", "data.person"},
		{"data", "odd key", `data["odd key"]`},
		{"data", "_x9", "data._x9"},
		{"data", "9x", `data["9x"]`},
	} {
		if got := member(tc.path, tc.key); got != tc.want {
			t.Errorf("member(%q, %q) = %q, want %q", tc.path, tc.key, got, tc.want)
		}
	}
}

func FuzzResponse(f *testing.F) {
	fx := newFixture(f)
	clean, _ := json.Marshal(fx.response())
	f.Add(clean)
	resp := fx.response()
	resp.Data.Person.Departments[0].Records[0].Leaf = 7
	tampered, _ := json.Marshal(resp)
	f.Add(tampered)
	f.Add([]byte(`{"data":{"r":{"envelope":"{}","proof":"c2sp.org/tlog-proof@v1\nindex 0\n\n","fields":[{"name":"a","value":null,"disclosure":null,"digest":""}]}}}`))
	f.Add([]byte(`{"errors":[{"message":"x","path":["a",1]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Response(data, fx.verifier, fx.keys, WithCatalog(fx.catalog))
		if err != nil {
			return
		}
		if rep.OK() && rep.Records == 0 {
			t.Fatal("a response without records verified")
		}
		for _, fl := range rep.Failures {
			if fl.Path == "" || fl.Reason == "" || fl.Problem == "" {
				t.Fatalf("incomplete failure %+v", fl)
			}
		}
	})
}

func TestCountsIgnoreDuplicatesAndFailures(t *testing.T) {
	f := newFixture(t)
	resp := f.response()
	rec := resp.Data.Person.Departments[0].Records[0]
	_, st := rec.field("status")
	rec.Fields = append(rec.Fields, st)
	_, id := rec.field("marriage_id")
	id.Value = &st.Name
	rep := f.verify(t, resp)
	if rep.DisclosedFields != 7 || rep.RedactedFields != 13 || rep.Records != 3 {
		t.Errorf("disclosed %d, redacted %d, records %d; want 7, 13, 3", rep.DisclosedFields, rep.RedactedFields, rep.Records)
	}
	if len(rep.Failures) != 2 {
		t.Errorf("failures:\n%s", reasons(rep))
	}
}
