package schema

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wireEnvelope returns a signed demo marriage change and its disclosures.
func wireEnvelope(t testing.TB) (*Envelope, []Disclosure) {
	t.Helper()
	rt, err := Demo().RecordType("civil-affairs", "marriage", 0)
	if err != nil {
		t.Fatal(err)
	}
	ch, ds, err := BuildChange(rt, OpUpsert, RecordRef(DemoSecret("civil-affairs"), "marriage", []string{"M-1"}), map[string]string{
		"marriage_id": "M-1", "spouse_a_id": testCitizenA, "spouse_a_name": "张三",
		"spouse_b_id": testCitizenB, "spouse_b_name": "李四", "status": "married",
		"registered_on": "2020-05-20", "registry_office": "Haidian",
	}, newDetRand("wire"))
	if err != nil {
		t.Fatal(err)
	}
	env := &Envelope{V: 1, Kind: KindRecordChange, Department: "civil-affairs", Seq: 1, Time: "2024-01-02T03:04:05Z", Change: ch}
	if err := Sign(env, DemoKey("civil-affairs")); err != nil {
		t.Fatal(err)
	}
	return env, ds
}

func TestMessageRoundTrip(t *testing.T) {
	env, ds := wireEnvelope(t)
	m, err := NewMessage(env, ds)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	canon, _ := env.Canonical()
	if !bytes.Equal(got.Envelope, canon) {
		t.Fatalf("envelope not kept verbatim:\n%s\n%s", got.Envelope, canon)
	}
	if _, err := DecodeEnvelope(got.Envelope); err != nil {
		t.Fatal(err)
	}
	if len(got.Disclosures) != len(ds) {
		t.Fatalf("%d disclosures, want %d", len(got.Disclosures), len(ds))
	}
	if _, err := CheckEncodedDisclosures(env.Change, got.Disclosures); err != nil {
		t.Fatal(err)
	}
	// Re-encoding is the identity.
	again, _ := got.Encode()
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", again, b)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	env, _ := wireEnvelope(t)
	canon, _ := env.Canonical()
	e := string(canon)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"not json", `hello`, ErrMalformed},
		{"array", `[]`, ErrMalformed},
		{"unknown field", `{"envelope":` + e + `,"extra":1}`, ErrMalformed},
		{"duplicate envelope", `{"envelope":` + e + `,"envelope":` + e + `}`, ErrMalformed},
		{"missing envelope", `{"disclosures":[]}`, ErrMalformed},
		{"envelope not object", `{"envelope":"x"}`, ErrMalformed},
		{"envelope null", `{"envelope":null}`, ErrMalformed},
		{"disclosures not strings", `{"envelope":` + e + `,"disclosures":[1]}`, ErrMalformed},
		{"trailing", `{"envelope":` + e + `} {}`, ErrMalformed},
		{"truncated", `{"envelope":` + e, ErrMalformed},
		{"bad utf8", "{\"envelope\":{\"a\":\"\xff\"}}", ErrMalformed},
		{"too large", `{"envelope":{"a":"` + strings.Repeat("x", MaxMessageSize) + `"}}`, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	for _, r := range []Receipt{
		{Department: "tax", Seq: 3, Status: StatusAccepted, Leaf: 0, EnvelopeDigest: "d", Proof: "c2sp.org/tlog-proof@v1\nindex 0\n\nx\n"},
		{Department: "tax", Seq: 3, Status: StatusDuplicate, Leaf: 9, EnvelopeDigest: "d", Proof: "p"},
		{Department: "tax", Seq: 4, Status: StatusRejected, Reason: ReasonBadSignature, Detail: "bad"},
	} {
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeReceipt(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if *got != r {
			t.Fatalf("got %+v, want %+v", got, r)
		}
	}
	for _, bad := range []string{
		`{"department":"tax","status":"maybe"}`,
		`{"department":"tax","status":"accepted","leaf":1}`,
		`{"department":"tax","status":"rejected"}`,
		`{"department":"tax","status":"rejected","reason":"x","bogus":1}`,
	} {
		if _, err := DecodeReceipt([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeReceipt(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{entryErr(ErrTooLarge, "", "x"), ReasonTooLarge},
		{&SignatureError{Err: ErrBadSignature}, ReasonBadSignature},
		{&SignatureError{Err: fmt.Errorf("wrapped: %w", ErrUnknownKey)}, ReasonUnknownKey},
		{&FieldError{Field: "x", Value: true}, ReasonSchema},
		{&SchemaError{Reason: "x"}, ReasonSchema},
		{&DisclosureError{Field: "x"}, ReasonDisclosureMismatch},
		{fmt.Errorf("seq 3: %w", ErrEquivocation), ReasonEquivocation},
		{fmt.Errorf("seq 3: %w", ErrReplay), ReasonReplay},
		{entryErr(ErrNotCanonical, "", "x"), ReasonNotCanonical},
		{entryErr(ErrMalformed, "", "x"), ReasonMalformed},
		{errors.New("disk on fire"), ReasonInternal},
	} {
		if got := ReasonOf(tc.err); got != tc.want {
			t.Errorf("ReasonOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// FuzzDecodeMessage: DecodeMessage never panics; what it accepts
// re-encodes to a message that decodes to the same envelope bytes and
// disclosures, and never exceeds the size bound.
func FuzzDecodeMessage(f *testing.F) {
	env, ds := wireEnvelope(f)
	m, _ := NewMessage(env, ds)
	b, _ := m.Encode()
	f.Add(b)
	f.Add([]byte(`{"envelope":{}}`))
	f.Add([]byte(`{"envelope":{"a":1},"disclosures":["x"]}`))
	f.Add([]byte(`{"envelope":{},"envelope":{}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMessage(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		if len(in) > MaxMessageSize {
			t.Fatal("accepted an oversize message")
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("couldn't re-encode an accepted message: %v", err)
		}
		m2, err := DecodeMessage(out)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%s", err, out)
		}
		if !bytes.Equal(m2.Envelope, m.Envelope) || len(m2.Disclosures) != len(m.Disclosures) {
			t.Fatalf("round trip changed the message")
		}
		for i := range m.Disclosures {
			if m.Disclosures[i] != m2.Disclosures[i] {
				t.Fatalf("disclosure %d changed", i)
			}
		}
	})
}
