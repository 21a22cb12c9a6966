package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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

// TestDecodeMessageNotCanonical: the message is canonical JSON, so
// another order or case of its keys, whitespace, other escapes, null or an
// envelope that is not canonical JSON itself are rejected as not
// canonical; duplicate and unknown keys, also inside the envelope, as
// malformed.
func TestDecodeMessageNotCanonical(t *testing.T) {
	env, ds := wireEnvelope(t)
	canon, _ := env.Canonical()
	e := string(canon)
	d0, d1 := ds[0].Encoded, ds[1].Encoded
	good := `{"disclosures":["` + d0 + `","` + d1 + `"],"envelope":` + e + `}`
	m := &Message{Envelope: canon, Disclosures: []string{d0, d1}}
	if b, err := m.Encode(); err != nil || string(b) != good {
		t.Fatalf("Encode = %s, %v; want %s", b, err, good)
	}
	if _, err := DecodeMessage([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"keys in another order", `{"envelope":` + e + `,"disclosures":["` + d0 + `","` + d1 + `"]}`, ErrNotCanonical},
		{"envelope key in another case", `{"disclosures":["` + d0 + `","` + d1 + `"],"Envelope":` + e + `}`, ErrNotCanonical},
		{"disclosures key in another case", `{"DISCLOSURES":["` + d0 + `","` + d1 + `"],"envelope":` + e + `}`, ErrNotCanonical},
		{"only envelope, in another case", `{"ENVELOPE":` + e + `}`, ErrNotCanonical},
		{"leading whitespace", " " + good, ErrNotCanonical},
		{"trailing newline", good + "\n", ErrNotCanonical},
		{"space after colon", strings.Replace(good, `"envelope":`, `"envelope": `, 1), ErrNotCanonical},
		{"space after comma", strings.Replace(good, `","`, `", "`, 1), ErrNotCanonical},
		{"whitespace in the envelope", strings.Replace(good, `,"department"`, `, "department"`, 1), ErrNotCanonical},
		{"envelope keys in another order", `{"envelope":{"v":1,"kind":"grant"}}`, ErrNotCanonical},
		{"envelope number not canonical", `{"envelope":{"v":1.0}}`, ErrNotCanonical},
		{"escaped key", strings.Replace(good, `"envelope"`, `"env\u0065lope"`, 1), ErrNotCanonical},
		{"escaped solidus", `{"envelope":{"a":"\/"}}`, ErrNotCanonical},
		{"escape in a disclosure", strings.Replace(good, `"`+d0[:1], `"\u00`+fmt.Sprintf("%x", d0[0]), 1), ErrNotCanonical},
		{"null disclosures", `{"disclosures":null,"envelope":` + e + `}`, ErrNotCanonical},
		{"null disclosure", `{"disclosures":[null],"envelope":` + e + `}`, ErrNotCanonical},
		{"empty disclosures", `{"disclosures":[],"envelope":` + e + `}`, ErrNotCanonical},
		{"unknown key", `{"disclosures":["` + d0 + `"],"envelope":` + e + `,"x":1}`, ErrMalformed},
		{"unknown key first", `{"a":1,"envelope":` + e + `}`, ErrMalformed},
		{"duplicate key", `{"envelope":` + e + `,"envelope":` + e + `}`, ErrMalformed},
		{"duplicate key in the envelope", `{"envelope":{"v":1,"v":1}}`, ErrMalformed},
		{"duplicate key out of order in the envelope", `{"envelope":{"b":1,"a":1,"b":1}}`, ErrMalformed},
		{"duplicate key and whitespace", `{"envelope": {},"envelope":{}}`, ErrMalformed},
		{"null envelope", `{"envelope":null}`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeMessage(%.120s) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestMessageEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Message
		want error
	}{
		{"no envelope", Message{}, ErrMalformed},
		{"envelope not an object", Message{Envelope: []byte(`"x"`)}, ErrMalformed},
		{"envelope not JSON", Message{Envelope: []byte(`{"a":`)}, ErrMalformed},
		{"envelope not canonical", Message{Envelope: []byte(`{"a": 1}`)}, ErrNotCanonical},
		{"disclosure not UTF-8", Message{Envelope: []byte(`{}`), Disclosures: []string{"\xff"}}, ErrMalformed},
	} {
		if _, err := tc.m.Encode(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Encode = %v, want %v", tc.name, err, tc.want)
		}
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
	// The canonical form: members sorted, "leaf" always, no HTML escapes.
	b, _ := (&Receipt{Department: "tax", Seq: 4, Status: StatusRejected, Reason: ReasonMalformed, Detail: "<&>"}).Encode()
	if want := `{"department":"tax","detail":"<&>","leaf":0,"reason":"malformed","seq":4,"status":"rejected"}`; string(b) != want {
		t.Fatalf("Encode = %s, want %s", b, want)
	}
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"duplicate key", `{"department":"tax","department":"tax","leaf":0,"reason":"x","status":"rejected"}`, ErrMalformed},
		{"duplicate key out of order", `{"department":"tax","leaf":0,"reason":"x","status":"rejected","leaf":0}`, ErrMalformed},
		{"duplicate status", `{"department":"tax","leaf":0,"reason":"x","status":"rejected","status":"accepted"}`, ErrMalformed},
		{"members out of order", `{"status":"rejected","department":"tax","leaf":0,"reason":"x"}`, ErrNotCanonical},
		{"whitespace", `{"department":"tax", "leaf":0,"reason":"x","status":"rejected"}`, ErrNotCanonical},
		{"key in another case", `{"Department":"tax","leaf":0,"reason":"x","status":"rejected"}`, ErrNotCanonical},
		{"explicit zero seq", `{"department":"tax","leaf":0,"reason":"x","seq":0,"status":"rejected"}`, ErrNotCanonical},
		{"null", `{"department":"tax","detail":null,"leaf":0,"reason":"x","status":"rejected"}`, ErrNotCanonical},
		{"trailing", `{"department":"tax","leaf":0,"reason":"x","status":"rejected"} x`, ErrMalformed},
	} {
		if _, err := DecodeReceipt([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: DecodeReceipt(%s) = %v, want %v", tc.name, tc.in, err, tc.want)
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

// FuzzDecodeMessage: DecodeMessage never panics; what it accepts is the
// canonical encoding of what it decoded, and never exceeds the size bound.
func FuzzDecodeMessage(f *testing.F) {
	env, ds := wireEnvelope(f)
	m, _ := NewMessage(env, ds)
	b, _ := m.Encode()
	f.Add(b)
	f.Add([]byte(`{"envelope":{}}`))
	f.Add([]byte(`{"disclosures":["x"],"envelope":{"a":1}}`))
	f.Add([]byte(`{"envelope":{"a":1},"disclosures":["x"]}`))
	f.Add([]byte(`{"envelope":{},"envelope":{}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMessage(in)
		if roundTrip(t, in, m, err, (*Message).Encode) && len(in) > MaxMessageSize {
			t.Fatal("accepted an oversize message")
		}
	})
}

// FuzzDecodeReceipt: DecodeReceipt never panics, and what it accepts is
// the canonical encoding of what it decoded.
func FuzzDecodeReceipt(f *testing.F) {
	for _, r := range []Receipt{
		{Department: "tax", Seq: 3, Status: StatusAccepted, Leaf: 0, EnvelopeDigest: "d", Proof: "c2sp.org/tlog-proof@v1\nindex 0\n\nx\n"},
		{Department: "tax", Seq: 4, Status: StatusRejected, Reason: ReasonBadSignature, Detail: "bad \"sig\""},
	} {
		b, _ := r.Encode()
		f.Add(b)
	}
	f.Add([]byte(`{"department":"tax","status":"rejected","reason":"x","leaf":0}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := DecodeReceipt(in)
		roundTrip(t, in, r, err, (*Receipt).Encode)
	})
}

// TestPlain8: the word-at-a-time test agrees with the byte table on
// every byte value in every position.
func TestPlain8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			var w [8]byte
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(c)
			if got := plain8(binary.LittleEndian.Uint64(w[:])); got != plain[c] {
				t.Errorf("byte %#x at %d: plain8 = %v, want %v", c, pos, got, plain[c])
			}
		}
	}
}

// TestEncodeMatchesOracle holds the message and receipt encoders to the
// general RFC 8785 implementation applied to encoding/json's output.
func TestEncodeMatchesOracle(t *testing.T) {
	env, ds := wireEnvelope(t)
	m, _ := NewMessage(env, ds)
	bare, _ := NewMessage(env, nil)
	values := []any{m, bare,
		&Receipt{Department: "tax", Seq: 3, Status: StatusAccepted, Leaf: 9, EnvelopeDigest: "d", Proof: "c2sp.org/tlog-proof@v1\nindex 9\n"},
		&Receipt{Department: "tax", Status: StatusRejected, Reason: ReasonMalformed, Detail: "<\"é\"> & \u2028\x01"},
	}
	for _, v := range values {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := CanonicalJSON(j)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		switch v := v.(type) {
		case *Message:
			got, err = v.Encode()
		case *Receipt:
			got, err = v.Encode()
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Encode = %s, %v\nwant      %s", got, err, want)
		}
	}
}
