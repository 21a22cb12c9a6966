package schema

import (
	"crypto/ed25519"
	"testing"
)

// The decode benchmarks of ingest's check stage, each with the
// encoding/json implementation it replaced (reference_test.go) as a
// sub-benchmark, and BenchmarkVerify — one crypto/ed25519 verify of the
// same envelope — as the baseline to report them against:
//
//	go test -run='^$' -bench 'Decode|CheckEncoded|Verify$' -count 6 ./schema/

// benchMessage returns the wire form of a signed 8-field marriage change
// with all its disclosures, as a department publishes it.
func benchMessage(b *testing.B) (msg []byte, env *Envelope) {
	env, ds := wireEnvelope(b)
	m, err := NewMessage(env, ds)
	if err != nil {
		b.Fatal(err)
	}
	msg, err = m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	return msg, env
}

func BenchmarkVerify(b *testing.B) {
	_, env := benchMessage(b)
	msg, err := env.SigningBytes()
	if err != nil {
		b.Fatal(err)
	}
	sig, _ := b64.DecodeString(env.Sig)
	pub := DemoKey(env.Department).Public().(ed25519.PublicKey)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	msg, _ := benchMessage(b)
	benchDecode(b, msg, DecodeMessage, decodeMessageReference)
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	_, env := benchMessage(b)
	in, _ := env.Canonical()
	benchDecode(b, in, DecodeEnvelope, decodeEnvelopeReference)
}

// benchDecode runs a decoder and its reference on in, as sub-benchmarks
// "new" and "reference".
func benchDecode[T any](b *testing.B, in []byte, decode, reference func([]byte) (*T, error)) {
	for _, impl := range []struct {
		name string
		f    func([]byte) (*T, error)
	}{{"new", decode}, {"reference", reference}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.f(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckEncodedDisclosures(b *testing.B) {
	msg, env := benchMessage(b)
	m, err := DecodeMessage(msg)
	if err != nil {
		b.Fatal(err)
	}
	for _, impl := range []struct {
		name string
		f    func(*RecordChange, []string) ([]Disclosure, error)
	}{{"new", CheckEncodedDisclosures}, {"reference", checkEncodedDisclosuresReference}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.f(env.Change, m.Disclosures); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckStage is the whole decode path of one message, as ingest
// runs it before the signature check: message, envelope, disclosures.
func BenchmarkCheckStage(b *testing.B) {
	msg, _ := benchMessage(b)
	for _, impl := range []struct {
		name string
		dm   func([]byte) (*Message, error)
		de   func([]byte) (*Envelope, error)
		cd   func(*RecordChange, []string) ([]Disclosure, error)
	}{
		{"new", DecodeMessage, DecodeEnvelope, CheckEncodedDisclosures},
		{"reference", decodeMessageReference, decodeEnvelopeReference, checkEncodedDisclosuresReference},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := impl.dm(msg)
				if err != nil {
					b.Fatal(err)
				}
				env, err := impl.de(m.Envelope)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := impl.cd(env.Change, m.Disclosures); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
